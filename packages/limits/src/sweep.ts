import { EventLoopSlicer } from './event-loop-slicer.js';
import type { SocketTable } from './proc-net.js';

/**
 * Longest run of synchronous reads between two yields to the event loop, ms, unless a sweep is told otherwise. A run
 * ends after the read that went past it, and a young-generation GC may land inside one: at 0.25 ms the longest hold
 * of the loop measured at 500 process-tier plugins stayed under 1 ms of the main thread's CPU (at 0.5 ms it did not).
 */
export const DEFAULT_SLICE_MS = 0.25;

/** How one item of a sweep is read: one after the other in slices, concurrently meanwhile, or not at all. */
export type SweepMode = 'sequential' | 'concurrent' | 'skip';

/** What the reads of one sweep share: each network namespace's socket table, read once. */
export interface SweepContext {
  readonly netCache: Map<string, SocketTable>;
}

/** Options of {@link sweep}. */
export interface SweepRunOptions<T> {
  /** Stops the sweep between two items. */
  signal?: AbortSignal;
  /** Longest run of synchronous reads between two yields to the event loop, ms. Default {@link DEFAULT_SLICE_MS}. */
  sliceMs?: number;
  /** How `item` is read. */
  mode: (item: T) => SweepMode;
  /**
   * Reads one item; reports its own outcome (a rejection is the caller's bug and fails the sweep). A `sequential`
   * item read synchronously returns nothing: the sweep then goes on to the next within the same slice, with no
   * promise in between.
   */
  read: (item: T, context: SweepContext) => Promise<void> | undefined;
}

/** What one sweep did. */
export interface SweepRun {
  /** Wall time from start to the last reading, ms. */
  durationMs: number;
  /** Times the sweep yielded to the event loop. */
  yields: number;
  /**
   * The longest run of sequential reads between two yields, wall time, ms (timed by the sweep itself; preemption and
   * a read that awaited real I/O inside a run make it look longer, never shorter).
   */
  longestSliceMs: number;
  /** The same run's CPU time (of the whole process, so never less than the main thread's), ms. */
  longestSliceCpuMs: number;
  /** Network namespaces whose socket table was read. */
  socketTables: number;
}

/**
 * The sweep engine of `ResourceMonitor`'s ticks (the registry's `startResourceMonitor` is a `ResourceMonitor` too):
 * `sequential` items (synchronous /proc and cgroup reads of a few µs each, cheaper than thread-pool reads) run one
 * after the other in slices of `sliceMs`, yielding to the event loop between slices, so a sweep over hundreds of
 * targets never holds the loop for more than about one slice; `concurrent` items (IPC round trips, asynchronous reads)
 * run meanwhile; the reads share one socket table per network namespace.
 */
export async function sweep<T>(items: Iterable<T>, options: SweepRunOptions<T>): Promise<SweepRun> {
  const started = performance.now();
  const slicer = new EventLoopSlicer(options.sliceMs ?? DEFAULT_SLICE_MS);
  const context: SweepContext = { netCache: new Map<string, SocketTable>() };
  const concurrent: Promise<void>[] = [];
  for (const item of items) {
    if (options.signal?.aborted) break;
    const mode = options.mode(item);
    if (mode === 'skip') continue;
    if (mode === 'concurrent') {
      const pending = options.read(item, context);
      if (pending) concurrent.push(pending);
      continue;
    }
    if (slicer.due()) await slicer.pause();
    const pending = options.read(item, context);
    if (pending) await pending;
  }
  slicer.end();
  await Promise.all(concurrent);
  return {
    durationMs: performance.now() - started,
    yields: slicer.yields,
    longestSliceMs: slicer.longestMs,
    longestSliceCpuMs: slicer.longestCpuMs,
    socketTables: context.netCache.size,
  };
}
