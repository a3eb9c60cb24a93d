import { DEFAULT_UNMOUNT_BEHAVIOR, PluginError, type UnmountBehavior } from '@plugward/types';
import type { UnmountReason, ViolationTracker } from './violation-tracker.js';

const BOOL_FIELDS = ['autoUnmount', 'allowCleanup', 'logViolations', 'callShutdownHook'] as const;
const MS_FIELDS = ['gracePeriodMs', 'maxCleanupTimeMs'] as const;
/** Longest grace period or cleanup time accepted: 10 minutes. */
export const MAX_UNMOUNT_DELAY_MS = 10 * 60 * 1000;

/**
 * Fills a partial {@link UnmountBehavior} from {@link DEFAULT_UNMOUNT_BEHAVIOR} and validates it: booleans must be
 * booleans, delays integers in 0 … {@link MAX_UNMOUNT_DELAY_MS}. `allowCleanup` is the deprecated name of
 * `callShutdownHook`: given alone it sets both; given with a different `callShutdownHook` it is refused. Throws
 * `InvalidArgument` naming the field. Every place an unmount behaviour enters (registry options,
 * `setUnmountBehavior`, the monitor) goes through here.
 */
export function resolveUnmountBehavior(partial: unknown = {}): UnmountBehavior {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) {
    throw new PluginError('InvalidArgument', 'unmount behaviour must be an object', {
      details: { field: '(root)' },
    });
  }
  const p = partial as Record<string, unknown>;
  const known = new Set<string>([...BOOL_FIELDS, ...MS_FIELDS]);
  for (const k of Object.keys(p)) {
    if (!known.has(k))
      throw new PluginError('InvalidArgument', `${k}: unknown unmount behaviour field`, {
        details: { field: k },
      });
  }
  const out: UnmountBehavior = { ...DEFAULT_UNMOUNT_BEHAVIOR };
  for (const f of BOOL_FIELDS) {
    const v = p[f];
    if (v === undefined) continue;
    if (typeof v !== 'boolean')
      throw new PluginError('InvalidArgument', `${f}: must be a boolean`, { details: { field: f } });
    out[f] = v;
  }
  for (const f of MS_FIELDS) {
    const v = p[f];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_UNMOUNT_DELAY_MS) {
      throw new PluginError('InvalidArgument', `${f}: must be an integer in 0…${MAX_UNMOUNT_DELAY_MS} ms`, {
        details: { field: f },
      });
    }
    out[f] = v;
  }
  // One decision under two names: callShutdownHook wins when given, allowCleanup alone sets it.
  if (
    p.allowCleanup !== undefined &&
    p.callShutdownHook !== undefined &&
    p.allowCleanup !== p.callShutdownHook
  ) {
    throw new PluginError(
      'InvalidArgument',
      'allowCleanup: differs from callShutdownHook (two names of one decision; use callShutdownHook)',
      { details: { field: 'allowCleanup' } },
    );
  }
  const shutdown = (p.callShutdownHook ?? p.allowCleanup ?? out.callShutdownHook) as boolean;
  out.callShutdownHook = shutdown;
  out.allowCleanup = shutdown;
  return out;
}

/**
 * The one automatic-unmount decision of Plugward, asked after each recorded violation by `ResourceMonitor` and by the
 * registry (for its monitor's readings and the violations its calls record): the tracker's reason to unmount when the
 * behaviour's `autoUnmount` is on, otherwise `undefined`.
 */
export function autoUnmountReason(
  tracker: Pick<ViolationTracker, 'unmountReason'>,
  behavior: Pick<UnmountBehavior, 'autoUnmount'>,
): UnmountReason | undefined {
  return behavior.autoUnmount ? tracker.unmountReason() : undefined;
}

/** The steps {@link performUnmount} runs, in this order after the grace period; the registry supplies them. */
export interface UnmountSteps {
  /**
   * Stop taking new work and let running work end; gets the deadline (`maxCleanupTimeMs`) it should not wait past.
   * Runs after the grace period, before `shutdown`.
   */
  detach?: (deadlineMs: number) => Promise<void> | void;
  /** The plugin's own `shutdown` (called only when the behaviour's `callShutdownHook` holds). */
  shutdown?: (signal: AbortSignal) => Promise<void> | void;
  /**
   * Tear the plugin down (release the library, end the process…); always runs, even after a failed or slow shutdown,
   * and gets the outcome so far (e.g. to kill at once after a shutdown that timed out).
   */
  teardown: (outcome: UnmountOutcome) => Promise<void> | void;
  /** Aborts the grace period (e.g. the host is closing); teardown still runs. */
  signal?: AbortSignal;
}

/** What {@link performUnmount} did. */
export interface UnmountOutcome {
  shutdownCalled: boolean;
  /** `ok`, `timeout` (past maxCleanupTimeMs), `error`, or `skipped`. */
  shutdown: 'ok' | 'timeout' | 'error' | 'skipped';
  shutdownError?: unknown;
  /** The grace period was cut short by the signal. */
  graceAborted: boolean;
}

function delay(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    if (ms <= 0) return resolve(false);
    if (signal?.aborted) return resolve(true);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve(true);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs an unmount by the behaviour's rules — the one unmount path of Plugward: wait `gracePeriodMs` (cut short by
 * `steps.signal`), `detach`, call `shutdown` when `callShutdownHook` holds (bounded by `maxCleanupTimeMs`; its
 * signal aborts at the deadline), then always `teardown`. A failing or hanging shutdown never prevents the teardown.
 * The behaviour is validated first (`resolveUnmountBehavior`; a partial one is filled from the defaults).
 */
export async function performUnmount(
  input: Partial<UnmountBehavior>,
  steps: UnmountSteps,
): Promise<UnmountOutcome> {
  const behavior = resolveUnmountBehavior(input);
  const graceAborted = await delay(behavior.gracePeriodMs, steps.signal);
  const outcome: UnmountOutcome = { shutdownCalled: false, shutdown: 'skipped', graceAborted };
  await steps.detach?.(behavior.maxCleanupTimeMs);
  if (behavior.callShutdownHook && steps.shutdown) {
    outcome.shutdownCalled = true;
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => {
        ac.abort(new PluginError('Timeout', `shutdown took longer than ${behavior.maxCleanupTimeMs} ms`));
        resolve('timeout');
      }, behavior.maxCleanupTimeMs);
    });
    const run = (async () => {
      await steps.shutdown?.(ac.signal);
      return 'ok' as const;
    })();
    try {
      outcome.shutdown = await Promise.race([run, deadline]);
    } catch (e) {
      outcome.shutdown = 'error';
      outcome.shutdownError = e;
    } finally {
      clearTimeout(timer);
    }
    // A shutdown still running after the deadline may reject later; observe it so it is never unhandled.
    run.catch(() => undefined);
  }
  await steps.teardown(outcome);
  return outcome;
}
