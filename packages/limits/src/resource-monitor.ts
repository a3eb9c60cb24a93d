import {
  DEFAULT_MONITOR_INTERVAL_MS,
  PluginError,
  type PluginMetrics,
  type ResourceLimits,
  toPluginError,
  type UnmountBehavior,
  type ViolationRecord,
} from '@plugward/types';
import { collectMetrics, type MetricsTarget } from './collect.js';
import { detectViolations } from './detect-violations.js';
import { loadSocketTable } from './proc-net.js';
import { processStartTime } from './procfs.js';
import { DEFAULT_SLICE_MS, type SweepContext, sweep } from './sweep.js';
import { autoUnmountReason, resolveUnmountBehavior } from './unmount-behavior.js';
import { validateLimits } from './validate-limits.js';
import { type UnmountReason, ViolationTracker, type ViolationTrackerOptions } from './violation-tracker.js';

/** What `onUnmount` receives. */
export interface UnmountRequest {
  id: string;
  reason: UnmountReason;
  /** The violations within the tracker's window. */
  violations: readonly ViolationRecord[];
  /** The behaviour to apply (grace period, cleanup); see `performUnmount`. */
  behavior: UnmountBehavior;
}

/** Options of {@link ResourceMonitor}. */
export interface ResourceMonitorOptions {
  /** Time between the end of one tick and the start of the next. Default 10 s. */
  intervalMs?: number;
  /** Stops the monitor when aborted. */
  signal?: AbortSignal;
  /** A reading slower than this is abandoned for the tick (reported to `onError`). Default min(intervalMs, 5 s). */
  collectTimeoutMs?: number;
  /** Default behaviour for watched targets (validated; missing fields from `DEFAULT_UNMOUNT_BEHAVIOR`). */
  unmountBehavior?: Partial<UnmountBehavior>;
  /** Options of the tracker each watched target gets. */
  tracker?: ViolationTrackerOptions;
  /**
   * Longest run of synchronous reads (`process` and `sequential` custom targets) between two yields to the event loop,
   * ms. Default {@link DEFAULT_SLICE_MS}.
   */
  sliceMs?: number;
  /** Keep the Node process alive while the monitor runs. Default false (the timer is unref'd). */
  keepAlive?: boolean;
  /** Every reading. */
  onMetrics?: (id: string, metrics: PluginMetrics) => void;
  /**
   * Every violation, after the tracker recorded it. `willUnmount`: this violation reached the target's unmount
   * decision (its tracker says so and `autoUnmount` holds); `onUnmount` follows once the reading's violations are
   * reported.
   */
  onViolation?: (
    id: string,
    record: ViolationRecord,
    tracker: ViolationTracker,
    willUnmount: boolean,
  ) => void;
  /**
   * The target reached its threshold and `autoUnmount` is on. Called once, not awaited (a slow unmount doesn't stall
   * the loop); the target is unwatched first.
   */
  onUnmount?: (request: UnmountRequest) => void | Promise<void>;
  /** The target is gone (process exited, cgroup removed, worker ended); it is unwatched. */
  onExit?: (id: string, metrics: PluginMetrics) => void;
  /** A failed or timed-out reading, or a throwing callback. The loop goes on. */
  onError?: (id: string, error: PluginError) => void;
  /**
   * Called at the start of every tick, before anything is read: bring the watch list up to date (`watch`/`unwatch`).
   * The registry's monitor watches its Active plugins this way. A throw is reported to `onError` with the id `''`
   * (no watch has that id).
   */
  refresh?: (monitor: ResourceMonitor) => void;
}

/** Options of {@link ResourceMonitor.watch}. */
export interface WatchOptions {
  /** This target's behaviour (validated; missing fields from `DEFAULT_UNMOUNT_BEHAVIOR`). */
  unmountBehavior?: Partial<UnmountBehavior>;
  /** Use this tracker (e.g. one the registry also feeds with hook timeouts). */
  tracker?: ViolationTracker;
  /**
   * Asked when a reading lands (a tick spans several turns of the event loop): `false` drops the reading unjudged
   * (e.g. the plugin was unloaded or replaced meanwhile).
   */
  isCurrent?: () => boolean;
}

/** The outcome of one tick. */
export interface TickReport {
  /** Wall time of the tick, ms. */
  durationMs: number;
  targets: number;
  readings: number;
  errors: number;
  violations: number;
  exited: number;
  unmounted: number;
  /** Times the tick yielded to the event loop between slices of synchronous reads. */
  yields: number;
  /** The longest run of synchronous reads between two yields, wall time, ms (see `SweepRun.longestSliceMs`). */
  longestSliceMs: number;
  /** That run's CPU time, ms (see `SweepRun.longestSliceCpuMs`). */
  longestSliceCpuMs: number;
}

interface Entry {
  id: string;
  target: MetricsTarget;
  limits: ResourceLimits;
  behavior: UnmountBehavior;
  tracker: ViolationTracker;
  isCurrent: (() => boolean) | undefined;
  previous?: PluginMetrics;
  inFlight: boolean;
  startTimeChecked: boolean;
}

/**
 * How a tick reads a target: /proc and cgroup files are read synchronously (see `readCappedSync`), so those targets
 * run one after the other in slices; worker heaps (a message round trip) and custom readers that don't say otherwise
 * run concurrently meanwhile.
 */
function sweepMode(target: MetricsTarget): 'sequential' | 'concurrent' {
  switch (target.kind) {
    case 'process':
    case 'cgroup':
    case 'process-cgroup':
      return 'sequential';
    case 'worker':
      return 'concurrent';
    case 'custom':
      return target.sequential ? 'sequential' : 'concurrent';
  }
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

function positiveMs(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 1)
    throw new PluginError('InvalidArgument', `${name} must be ≥ 1 ms, got ${v}`);
  return v;
}

/**
 * Watches targets (processes, cgroups, workers, custom readers), compares each reading with the target's limits,
 * feeds a {@link ViolationTracker} per target and calls `onUnmount` when a tracker says so and `autoUnmount` holds.
 *
 * Ticks never overlap (the next is scheduled after the previous ended, and `tick()` during a tick returns the running
 * one); asynchronous readers (workers, custom ones) run concurrently, /proc and cgroup readers one after the other in slices
 * of about 0.25 ms (`sliceMs`) between which the event loop runs, with each network namespace's socket table read once per tick
 * and off the loop; a failing, slow or throwing reading is reported to `onError` and never
 * stops the loop.
 *
 * @example
 * ```ts
 * const monitor = new ResourceMonitor({ intervalMs: 1000, onUnmount: ({ id }) => kill(id) });
 * monitor.watch('child', { kind: 'process', pid: child.pid }, DEFAULT_RESOURCE_LIMITS);
 * monitor.start();
 * ```
 */
export class ResourceMonitor {
  readonly intervalMs: number;
  readonly collectTimeoutMs: number;
  readonly sliceMs: number;
  readonly #opts: ResourceMonitorOptions;
  readonly #behavior: UnmountBehavior;
  readonly #entries = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  /** Bumped by start/stop so a loop from before a stop() never reschedules itself after a new start(). */
  #generation = 0;
  #current: Promise<TickReport> | undefined;
  readonly #onAbort = (): void => this.stop();

  constructor(options: ResourceMonitorOptions = {}) {
    this.#opts = options;
    this.#behavior = resolveUnmountBehavior(options.unmountBehavior ?? {});
    this.intervalMs = positiveMs('intervalMs', options.intervalMs ?? DEFAULT_MONITOR_INTERVAL_MS);
    this.collectTimeoutMs = positiveMs(
      'collectTimeoutMs',
      options.collectTimeoutMs ?? Math.min(this.intervalMs, 5000),
    );
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
    if (!(this.sliceMs > 0 && this.sliceMs <= 1000))
      throw new PluginError('InvalidArgument', `sliceMs must be > 0 and ≤ 1000 ms, got ${this.sliceMs}`);
    options.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * Starts watching `target` under `id` (replacing an earlier watch of that id; watching the same target object
   * again, e.g. with new limits or behaviour, keeps its last reading, so the next CPU verdict still has one). The
   * limits are validated (`InvalidResourceLimits` naming the field).
   */
  watch(id: string, target: MetricsTarget, limits: ResourceLimits, options: WatchOptions = {}): void {
    if (typeof id !== 'string' || id === '')
      throw new PluginError('InvalidArgument', 'watch id must be a non-empty string');
    const before = this.#entries.get(id);
    const same = before !== undefined && before.target === target;
    const entry: Entry = {
      id,
      target,
      limits: validateLimits(limits),
      behavior:
        options.unmountBehavior === undefined
          ? this.#behavior
          : resolveUnmountBehavior(options.unmountBehavior),
      tracker: options.tracker ?? (same ? before.tracker : new ViolationTracker(this.#opts.tracker)),
      isCurrent: options.isCurrent,
      inFlight: false,
      startTimeChecked: same ? before.startTimeChecked : false,
    };
    if (same && before.previous !== undefined) entry.previous = before.previous;
    this.#entries.set(id, entry);
  }

  /** Stops watching `id`; true when it was watched. */
  unwatch(id: string): boolean {
    return this.#entries.delete(id);
  }

  /** The ids watched. */
  watched(): string[] {
    return [...this.#entries.keys()];
  }

  /** The tracker of `id`. */
  tracker(id: string): ViolationTracker | undefined {
    return this.#entries.get(id)?.tracker;
  }

  /** The latest reading of `id`. */
  lastMetrics(id: string): PluginMetrics | undefined {
    return this.#entries.get(id)?.previous;
  }

  /** True between `start()` and `stop()`. */
  get running(): boolean {
    return this.#running;
  }

  /** Starts the loop (the first tick runs at once). No-op when running or when the signal is aborted. */
  start(): void {
    if (this.#running || this.#opts.signal?.aborted) return;
    this.#running = true;
    this.#schedule(0, ++this.#generation);
  }

  /** Stops the loop; a tick in progress finishes, no other starts. */
  stop(): void {
    this.#running = false;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  [Symbol.dispose](): void {
    this.stop();
    this.#opts.signal?.removeEventListener('abort', this.#onAbort);
  }

  /** Runs one tick now (or returns the tick already running). */
  tick(): Promise<TickReport> {
    this.#current ??= this.#runTick().finally(() => {
      this.#current = undefined;
    });
    return this.#current;
  }

  #schedule(delay: number, generation: number): void {
    if (!this.#running || generation !== this.#generation) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const next = (): void => this.#schedule(this.intervalMs, generation);
      this.tick().then(next, next); // #runTick doesn't reject; belt and braces
    }, delay);
    if (!this.#opts.keepAlive) this.#timer.unref();
  }

  #error(id: string, e: unknown, message: string): void {
    const err = toPluginError(e, 'IoError', message, { plugin: id });
    try {
      this.#opts.onError?.(id, err);
    } catch {
      // A throwing error callback must not take the loop down.
    }
  }

  async #runTick(): Promise<TickReport> {
    const started = performance.now();
    const report: TickReport = {
      durationMs: 0,
      targets: 0,
      readings: 0,
      errors: 0,
      violations: 0,
      exited: 0,
      unmounted: 0,
      yields: 0,
      longestSliceMs: 0,
      longestSliceCpuMs: 0,
    };
    if (this.#opts.refresh) {
      try {
        this.#opts.refresh(this);
      } catch (e) {
        report.errors++;
        this.#error('', e, 'refresh failed');
      }
    }
    const entries = [...this.#entries.values()];
    report.targets = entries.length;
    // One deadline for the whole tick (not a timer per target): readings still running then are abandoned.
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const e = new PluginError('Timeout', `reading took longer than ${this.collectTimeoutMs} ms`);
        ac.abort(e);
        reject(e);
      }, this.collectTimeoutMs);
    });
    deadline.catch(() => undefined); // only observed through the races below
    try {
      // /proc readers are synchronous (cheaper than thread-pool reads, see `readCappedSync`): `sweep` runs them one
      // after the other in slices so the event loop is never held for the whole tick; the other readers are
      // asynchronous and run concurrently meanwhile.
      const run = await sweep(entries, {
        sliceMs: this.sliceMs,
        mode: (e) => sweepMode(e.target),
        read: (e, context) => this.#readOne(e, context, report, ac.signal, deadline),
      });
      report.yields = run.yields;
      report.longestSliceMs = run.longestSliceMs;
      report.longestSliceCpuMs = run.longestSliceCpuMs;
    } finally {
      clearTimeout(timer);
    }
    report.durationMs = performance.now() - started;
    return report;
  }

  /**
   * Reads one target and judges the reading. A custom target whose `collect` returns the reading itself is read and
   * judged synchronously (no promise: most of a sweep's cost per target was its promise chain, not its reads);
   * anything else is awaited against the tick's deadline.
   */
  #readOne(
    entry: Entry,
    context: SweepContext,
    report: TickReport,
    signal: AbortSignal,
    deadline: Promise<never>,
  ): Promise<void> | undefined {
    if (entry.inFlight) {
      report.errors++;
      this.#error(entry.id, new PluginError('Timeout', 'previous reading still running'), 'reading skipped');
      return undefined;
    }
    const target = entry.target;
    if (target.kind === 'custom') {
      let value: PluginMetrics | Promise<PluginMetrics>;
      try {
        value = target.collect(signal, context);
      } catch (e) {
        report.errors++;
        this.#error(entry.id, e, 'reading failed');
        return undefined;
      }
      if (!isPromiseLike(value)) {
        this.#judge(entry, value, report);
        return undefined;
      }
      return this.#settle(entry, Promise.resolve(value), report, deadline);
    }
    const { netCache } = context;
    // Only a process target is pinned to its start time (once); the others go straight to their collector.
    const pin = !entry.startTimeChecked && target.kind === 'process';
    const net =
      target.kind === 'process' && (target.connections ?? true)
        ? loadSocketTable(target.pid, netCache).catch(() => undefined)
        : undefined;
    const reading = async (): Promise<PluginMetrics> => {
      await net;
      if (pin) await this.#pinStartTime(entry);
      return collectMetrics(entry.target, { signal, netCache });
    };
    return this.#settle(entry, reading(), report, deadline);
  }

  /** Awaits an asynchronous reading (abandoned at the tick's deadline), then judges it. */
  async #settle(
    entry: Entry,
    pending: Promise<PluginMetrics>,
    report: TickReport,
    deadline: Promise<never>,
  ): Promise<void> {
    let metrics: PluginMetrics;
    entry.inFlight = true;
    const reading = pending.finally(() => {
      entry.inFlight = false;
    });
    try {
      metrics = await Promise.race([reading, deadline]);
    } catch (e) {
      reading.catch(() => undefined); // an abandoned reading may still reject
      report.errors++;
      this.#error(entry.id, e, 'reading failed');
      return;
    }
    this.#judge(entry, metrics, report);
  }

  /** Records one reading of `entry`: callbacks, exit, violations, the unmount decision. */
  #judge(entry: Entry, metrics: PluginMetrics, report: TickReport): void {
    if (this.#entries.get(entry.id) !== entry) return; // unwatched or re-watched meanwhile
    if (entry.isCurrent && !this.#isCurrent(entry)) return;
    report.readings++;
    this.#callback(entry.id, () => this.#opts.onMetrics?.(entry.id, metrics));
    if (metrics.exited) {
      report.exited++;
      this.#entries.delete(entry.id);
      this.#callback(entry.id, () => this.#opts.onExit?.(entry.id, metrics));
      return;
    }
    const found = detectViolations(metrics, entry.limits, entry.previous);
    entry.previous = metrics;
    let reason: UnmountReason | undefined;
    for (const v of found) {
      const record = entry.tracker.recordViolation(v, metrics.timestamp);
      report.violations++;
      const decided = reason === undefined ? autoUnmountReason(entry.tracker, entry.behavior) : undefined;
      if (decided) reason = decided;
      this.#callback(entry.id, () =>
        this.#opts.onViolation?.(entry.id, record, entry.tracker, decided !== undefined),
      );
    }
    // A tracker that other code feeds too (the registry's calls) may say so without a violation in this reading.
    reason ??= autoUnmountReason(entry.tracker, entry.behavior);
    if (reason && this.#entries.get(entry.id) === entry) {
      report.unmounted++;
      this.#entries.delete(entry.id);
      const request: UnmountRequest = {
        id: entry.id,
        reason,
        violations: entry.tracker.violations(),
        behavior: entry.behavior,
      };
      // Not awaited: an unmount with a grace period and cleanup must not stall the other targets' readings.
      try {
        const pending = this.#opts.onUnmount?.(request);
        if (pending) pending.catch((e: unknown) => this.#error(entry.id, e, 'onUnmount failed'));
      } catch (e) {
        this.#error(entry.id, e, 'onUnmount failed');
      }
    }
  }

  /** Pins a process target to its start time on first sight, so a reused pid reads as exited. */
  async #pinStartTime(entry: Entry): Promise<void> {
    if (entry.startTimeChecked) return;
    entry.startTimeChecked = true;
    const t = entry.target;
    if (t.kind === 'process' && t.startTime === undefined) {
      const st = await processStartTime(t.pid);
      if (st !== undefined) entry.target = { ...t, startTime: st };
    }
  }

  #isCurrent(entry: Entry): boolean {
    try {
      return entry.isCurrent?.() ?? true;
    } catch (e) {
      this.#error(entry.id, e, 'isCurrent threw');
      return false;
    }
  }

  #callback(id: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.#error(id, e, 'monitor callback threw');
    }
  }
}
