/**
 * Cuts a long run of short synchronous steps (a /proc read per process) into slices: `pause()` yields to the event
 * loop (`setImmediate`) once `sliceMs` of work has run since the last yield, so a monitor sweep over hundreds of
 * processes never holds the loop for more than about one slice plus one step. Between yields it costs a clock read.
 */
export class EventLoopSlicer {
  readonly sliceMs: number;
  #since = performance.now();
  /** Times `pause()` actually yielded. */
  yields = 0;

  constructor(sliceMs = 0.5) {
    this.sliceMs = sliceMs;
  }

  /** Yields when the current slice is used up; otherwise resolves at once (one microtask). */
  async pause(): Promise<void> {
    if (performance.now() - this.#since < this.sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.yields++;
    this.#since = performance.now();
  }
}
