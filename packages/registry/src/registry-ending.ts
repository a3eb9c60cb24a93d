// How a running plugin's end is reported when its process or worker ended on its own (a crash, the kernel's OOM kill,
// a protocol violation): the one outcome, whoever learns of it first — the exit watcher, or an unload (an automatic
// unmount started by the monitor's OOM reading, say) that found the process already gone.
// Internal to @plugward/registry: src/index.ts exports none of it.
import { type Entry, emit, type RegistryState } from './registry-state.js';
import { noteViolation } from './registry-violations.js';
import type { TierExit, TierHandle } from './tiers/tier.js';

/**
 * Whether an exit the host asked for (an unload's `release`) is still the plugin's own end: the kernel killed it for
 * its memory (the OOM kill of its cgroup, or a worker's heap limit) — so it ends `Failed` and `crashed` however the
 * registry first learned of the kill. A plain kill by the unload is not.
 */
export function endedOnItsOwn(exit: TierExit | undefined): exit is TierExit {
  return exit?.oomKilled === true;
}

/**
 * Reports `entry`'s end on its own: hooks and context released, `Failed` with the reason, `crashed` and `unloaded`
 * (`reason: 'crashed'`) emitted. A crash or an OOM kill is a failure, not a counted violation; breaking the IPC
 * protocol is the plugin's own doing and is recorded.
 */
export function reportCrash(s: RegistryState, entry: Entry, exit: TierExit): void {
  const name = entry.info.name;
  entry.alive = false;
  entry.registrationsOpen = false;
  entry.handle = undefined;
  s.hooks.unregisterAll(name);
  s.context.releasePlugin(name);
  entry.info.status = 'Failed';
  entry.info.pid = undefined;
  // The kernel's OOM kill explains a torn channel better than the channel does.
  const pv = exit.oomKilled ? undefined : exit.protocolViolation;
  entry.info.error = pv
    ? `ProtocolViolation: the plugin broke the IPC protocol (${pv.reason}) and was ended`
    : exit.oomKilled
      ? 'plugin process was killed for exceeding its memory limit'
      : `plugin process exited unexpectedly (code ${exit.exitCode}, signal ${exit.signal})`;
  emit(s, 'crashed', {
    name,
    exitCode: exit.exitCode,
    signal: exit.signal,
    oomKilled: exit.oomKilled,
    ...(pv ? { protocolViolation: pv.reason } : {}),
  });
  if (pv) noteViolation(s, entry, { type: 'ProtocolViolation', reason: pv.reason }, false);
  emit(s, 'unloaded', { name, reason: 'crashed' });
}

/**
 * Reports the plugin `Failed` when its process exits without an unload asking for it. An unload that took the handle
 * first reports the end itself (see `unloadPlugin`'s teardown), from the same exit.
 */
export function watchExit(s: RegistryState, entry: Entry, handle: TierHandle): void {
  handle.exited.then(
    (exit) => {
      if (entry.handle !== handle || !entry.alive) return; // an unload took it: the unload reports
      reportCrash(s, entry, exit);
    },
    () => {},
  );
}
