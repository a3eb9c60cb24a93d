// The registry's unloading seam: `unloadPlugin` (the one unmount path, `performUnmount`), `unloadAll`, `close`.
// Internal to @plugward/registry: src/index.ts exports none of it.
import { setTimeout as sleep } from 'node:timers/promises';
import { performUnmount, type UnmountOutcome } from '@plugward/limits';
import { displayText, PluginError } from '@plugward/types';
import type { RegistryEvents } from './events.js';
import { endedOnItsOwn, reportCrash } from './registry-ending.js';
import { emit, MAX_ERROR_CHARS, type RegistryState, unmountBehaviorOf } from './registry-state.js';
import type { TierExit, TierHandle } from './tiers/tier.js';

/**
 * Unloads a plugin by its unmount behaviour (`performUnmount`, the one unmount path): removes its hooks (later
 * executions no longer see it), waits for running calls into it (up to `maxCleanupTimeMs`), calls `shutdown` when
 * `callShutdownHook` holds, releases the library/process. An automatic unmount (`reason` `violations`) first waits
 * `gracePeriodMs`, cut short by `close()`. The plugin ends `Inactive`.
 */
export async function unloadPlugin(
  s: RegistryState,
  name: string,
  reason: RegistryEvents['unloaded']['reason'] = 'requested',
): Promise<void> {
  const entry = s.entries.get(name);
  if (!entry || (entry.info.status !== 'Active' && !entry.busy)) {
    throw new PluginError('NotFound', `plugin ${name} is not loaded`, { plugin: name });
  }
  if (entry.busy) await entry.busy.catch(() => {});
  const handle = entry.handle;
  if (!handle || entry.info.status !== 'Active') {
    throw new PluginError('NotFound', `plugin ${name} is not loaded`, { plugin: name });
  }
  const b = unmountBehaviorOf(s, name);
  // Whether this unload took the plugin from its handle (detach): then its end is this unload's to report. The exit
  // watcher reports an end it saw first (during the grace period, or while running calls ended) — then the handle is
  // gone and this unload only releases what is left.
  let took = false;
  const work = performUnmount(reason === 'violations' ? b : { ...b, gracePeriodMs: 0 }, {
    signal: s.closing.signal,
    detach: async (deadlineMs) => {
      if (entry.handle !== handle) return;
      entry.registrationsOpen = false;
      s.hooks.unregisterAll(name);
      if (entry.inFlight > 0) {
        await new Promise<void>((resolve) => {
          entry.idle = resolve;
          setTimeout(resolve, Math.max(deadlineMs, 100)).unref();
        });
        entry.idle = undefined;
      }
      if (entry.handle !== handle) return;
      took = true;
      entry.alive = false;
      entry.handle = undefined;
    },
    shutdown: () => handle.shutdown(Math.max(b.maxCleanupTimeMs, 100)),
    // The plugin had its chance: after an answered Shutdown its process has nothing left to do (its shutdown ran, its
    // code was unloaded), after a failed or late one it gets no more time, without one it was never to get any. It is
    // ended at once — Node's own exit would cost each process more CPU than the kill (issue 17: close() of hundreds).
    teardown: async (outcome) => {
      const err = await handle.release(0);
      if (!took) return;
      // One end, whoever learned of it first: a process the kernel killed for its memory before this unload ended it
      // (the monitor's OOM reading started this unmount, say) is a crash, exactly as the exit watcher reports it.
      const exit = await endOf(handle);
      if (endedOnItsOwn(exit)) {
        reportCrash(s, entry, exit);
        return;
      }
      s.context.releasePlugin(name);
      entry.info.status = 'Inactive';
      entry.info.pid = undefined;
      entry.info.error =
        reason === 'violations'
          ? 'unmounted after resource violations'
          : (shutdownProblem(outcome, b.maxCleanupTimeMs) ??
            (err && displayText(err.message, MAX_ERROR_CHARS)));
      emit(s, 'unloaded', { name, reason });
    },
  }).then(() => undefined);
  entry.busy = work;
  try {
    await work;
  } finally {
    entry.busy = undefined;
  }
}

/**
 * Ends a plugin that started (its init ran) but is not kept — the registry closed while it loaded: like any unload
 * (`performUnmount`), its `shutdown` gets its `maxCleanupTimeMs`, then it is ended at once and its private copy removed.
 * Its hooks must already be gone. Never throws.
 */
export async function discardStarted(s: RegistryState, name: string, handle: TierHandle): Promise<void> {
  const b = unmountBehaviorOf(s, name);
  await performUnmount(
    { ...b, gracePeriodMs: 0 },
    {
      shutdown: () => handle.shutdown(Math.max(b.maxCleanupTimeMs, 100)),
      teardown: async () => {
        await handle.release(0);
      },
    },
  ).catch(() => undefined);
}

/** Unloads every loaded plugin (waiting for loads in progress first). */
export async function unloadAll(
  s: RegistryState,
  reason: RegistryEvents['unloaded']['reason'] = 'requested',
): Promise<void> {
  await Promise.allSettled([...s.loading]);
  await Promise.all([...s.entries.values()].map((e) => e.busy?.catch(() => {})));
  const active = [...s.entries.values()].filter((e) => e.info.status === 'Active').map((e) => e.info.name);
  await Promise.all(active.map((n) => unloadPlugin(s, n, reason).catch(() => {})));
}

/** Stops monitors and unloads everything; leaves no plugin process behind. */
export async function close(s: RegistryState): Promise<void> {
  if (s.closed) return;
  s.closed = true;
  s.closing.abort();
  for (const m of s.monitors) m.abort();
  // Automatic unmounts in their grace period end now (the signal cut it short), before everything else goes.
  await Promise.all([...s.entries.values()].map((e) => e.unmounting));
  await unloadAll(s, 'close');
  // Idle warm sandboxes (and ones being started) end too: none outlives close().
  await s.warmPool?.close();
}

/** How a released plugin's process ended (bounded: a release that could not end it reports none). */
async function endOf(handle: TierHandle): Promise<TierExit | undefined> {
  const timeout = sleep(END_WAIT_MS, undefined, { ref: false });
  return Promise.race([handle.ended.catch(() => undefined), timeout]);
}

/** How long an unload waits, after its release, for how the plugin's process ended. */
const END_WAIT_MS = 5000;

/** What went wrong with a plugin's shutdown, for `PluginInfo.error`. */
function shutdownProblem(outcome: UnmountOutcome, maxCleanupTimeMs: number): string | undefined {
  if (outcome.shutdown === 'timeout') return `shutdown took longer than ${maxCleanupTimeMs} ms`;
  if (outcome.shutdown !== 'error') return undefined;
  const e = outcome.shutdownError;
  return displayText(e instanceof Error ? e.message : String(e), MAX_ERROR_CHARS);
}
