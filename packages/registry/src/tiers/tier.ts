import type { IsolationTier, PluginMetrics, ProcessContainment } from '@plugward/types';
import type { TierMetricsOptions } from '../monitor.js';

/** How a plugin's process or worker ended on its own. */
export interface TierExit {
  exitCode: number | null;
  signal: string | null;
  oomKilled: boolean;
  /**
   * Set when the host ended the plugin because it broke the IPC protocol (an oversize, malformed or stalled frame…):
   * the failure reason and the channel's message.
   */
  protocolViolation?: { reason: string; message: string };
}

/** A running plugin at some tier: what the registry needs to watch and stop it. */
export interface TierHandle {
  readonly tier: IsolationTier;
  readonly pid: number | undefined;
  /** At the process tier: how the plugin's processes are ended with it. */
  readonly containment?: ProcessContainment;
  /** Settles when the plugin's process/worker ends without being asked to; never settles in process. */
  readonly exited: Promise<TierExit>;
  /**
   * How the plugin's process/worker ended, asked to or not (its OOM kill included): settles once it is gone — on its
   * own, or after {@link TierHandle.release}. In process, `undefined` at once: nothing of the plugin's own can end.
   */
  readonly ended: Promise<TierExit | undefined>;
  /**
   * One reading; `options` carries a monitor sweep's shared state (see `TierMetricsOptions`). A reader that had no
   * need to wait returns the reading itself (the process tier's, in a sweep).
   */
  metrics(options?: TierMetricsOptions): PluginMetrics | Promise<PluginMetrics>;
  /**
   * The plugin's own `shutdown`; rejects with its error. The caller bounds it (`performUnmount`, `maxCleanupTimeMs`)
   * and always calls {@link TierHandle.release} after it.
   */
  shutdown(timeoutMs: number): Promise<void>;
  /**
   * Releases the plugin (unloads the library; ends the process — at once when `exitWaitMs` is 0, else after letting it
   * exit on its own for up to `exitWaitMs` — and waits until it is gone) and removes its private copy. Never throws;
   * returns an error for the record.
   */
  release(exitWaitMs: number): Promise<Error | undefined>;
}

/** Runs `work` with a time limit; resolves to the error (or a timeout error) instead of throwing. */
export async function settleWithin(
  work: () => Promise<unknown>,
  timeoutMs: number,
  what: string,
): Promise<Error | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  } finally {
    if (timer) clearTimeout(timer);
  }
}
