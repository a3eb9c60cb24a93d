/** CPU time of this process so far, ms (every thread: an over-estimate of the main thread's share, never less). */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Cuts a long run of short synchronous steps (a /proc read per process) into slices: `pause()` yields to the event
 * loop (`setImmediate`) once `sliceMs` of work has run since the last yield, so a monitor sweep over hundreds of
 * processes never holds the loop for more than about one slice plus one step. Between yields it costs a clock read;
 * a caller that checks {@link due} first (`if (slicer.due()) await slicer.pause()`) also saves the promise per step.
 *
 * It also times its runs (from the start or a yield to the next yield or `end()`): in wall time, which a loaded
 * machine stretches by preempting the process, and in the process's CPU time, which it doesn't.
 */
export class EventLoopSlicer {
  readonly sliceMs: number;
  #since = performance.now();
  #sinceCpu = processCpuMs();
  /** Times `pause()` actually yielded. */
  yields = 0;
  /** The longest run between two yields, wall time, ms (an awaited asynchronous read inside a run counts too). */
  longestMs = 0;
  /** The longest run between two yields, CPU time of the process, ms. */
  longestCpuMs = 0;

  constructor(sliceMs = 0.25) {
    this.sliceMs = sliceMs;
  }

  /** True when the current slice is used up: the next {@link pause} yields. */
  due(): boolean {
    return performance.now() - this.#since >= this.sliceMs;
  }

  /** Yields when the current slice is used up; otherwise resolves at once (one microtask). */
  async pause(): Promise<void> {
    if (!this.due()) return;
    this.end();
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.yields++;
    this.#since = performance.now();
    this.#sinceCpu = processCpuMs();
  }

  /** Closes the current run: its length counts towards {@link longestMs} and {@link longestCpuMs}. */
  end(): void {
    const ran = performance.now() - this.#since;
    if (ran > this.longestMs) this.longestMs = ran;
    const cpu = processCpuMs() - this.#sinceCpu;
    if (cpu > this.longestCpuMs) this.longestCpuMs = cpu;
  }
}
