import { PluginError } from '@plugward/types';

/** How much a plugin may log through the host: two token buckets, one of bytes and one of lines. */
export interface LogBudget {
  /** Sustained bytes (UTF-16 code units of the messages) per second. */
  bytesPerSecond: number;
  /** Bytes that may be logged at once after a quiet period. */
  burstBytes: number;
  /** Sustained lines per second. */
  linesPerSecond: number;
  /** Lines that may be logged at once after a quiet period. */
  burstLines: number;
}

/** Default {@link LogBudget}: 64 KiB/s with 1 MiB of burst, 200 lines/s with 2000 of burst. */
export const DEFAULT_LOG_BUDGET: Readonly<LogBudget> = Object.freeze({
  bytesPerSecond: 64 * 1024,
  burstBytes: 1024 * 1024,
  linesPerSecond: 200,
  burstLines: 2000,
});

/** What {@link LogLimiter.admit} decided for one line. */
export type LogVerdict =
  /** Log it; `suppressed` lines were dropped since the last admitted one (say so first). */
  | { admit: true; suppressed: number }
  /**
   * Drop it. `error` (the `QuotaExceeded` to report once: a notice and a violation) is set only for the first line of
   * a run of drops; the others cost nothing more.
   */
  | { admit: false; error: PluginError | undefined };

/**
 * A per-plugin log budget (token buckets of bytes and lines, refilled continuously). Lines over it are dropped: the
 * first of a run is reported once (one notice, one violation), the rest silently, and the count is told when lines
 * flow again — so a plugin flooding its log costs the host a bounded amount of output and no more.
 */
export class LogLimiter {
  readonly #budget: LogBudget;
  readonly #now: () => number;
  #bytes: number;
  #lines: number;
  #last: number;
  #dropped = 0;

  constructor(budget: Partial<LogBudget> = {}, now: () => number = () => performance.now()) {
    const b = { ...DEFAULT_LOG_BUDGET, ...budget };
    for (const [k, v] of Object.entries(b)) {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new PluginError('InvalidArgument', `log budget ${k} must be a non-negative number`);
      }
    }
    this.#budget = b;
    this.#now = now;
    this.#bytes = b.burstBytes;
    this.#lines = b.burstLines;
    this.#last = now();
  }

  /** Decides for one line of `size` code units. */
  admit(size: number): LogVerdict {
    const t = this.#now();
    const dt = Math.max(0, t - this.#last) / 1000;
    this.#last = t;
    const b = this.#budget;
    this.#bytes = Math.min(b.burstBytes, this.#bytes + dt * b.bytesPerSecond);
    this.#lines = Math.min(b.burstLines, this.#lines + dt * b.linesPerSecond);
    // Once suppressing, lines flow again only when half the burst has refilled: one notice per episode, not one per
    // refilled token.
    const lineNeed = this.#dropped > 0 ? Math.max(1, b.burstLines / 2) : 1;
    const byteNeed = this.#dropped > 0 ? Math.max(size, b.burstBytes / 2) : size;
    if (this.#lines >= lineNeed && this.#bytes >= byteNeed) {
      this.#lines -= 1;
      this.#bytes -= size;
      const suppressed = this.#dropped;
      this.#dropped = 0;
      return { admit: true, suppressed };
    }
    this.#dropped++;
    if (this.#dropped > 1) return { admit: false, error: undefined };
    const overLines = this.#lines < lineNeed;
    return {
      admit: false,
      error: new PluginError(
        'QuotaExceeded',
        overLines
          ? `log budget exceeded (${b.linesPerSecond} lines/s, burst ${b.burstLines}): line dropped`
          : `log budget exceeded (${b.bytesPerSecond} bytes/s, burst ${b.burstBytes}): line of ${size} dropped`,
        {
          details: overLines
            ? { resource: 'log-lines', used: b.burstLines + 1, limit: b.burstLines }
            : { resource: 'log-bytes', used: size, limit: Math.floor(this.#bytes) },
        },
      ),
    };
  }
}
