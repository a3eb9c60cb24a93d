import {
  DEFAULT_MAX_VIOLATIONS,
  DEFAULT_VIOLATION_WINDOW_MS,
  positiveInteger,
  type ViolationRecord,
  type ViolationType,
  violationSeverity,
} from '@plugward/types';

/** High-severity violations within the window that unmount a plugin. */
export const DEFAULT_HIGH_SEVERITY_THRESHOLD = 3;
/** Records kept for inspection; older ones are dropped (the counters stay exact). */
export const DEFAULT_MAX_RECORDS = 1000;

/** Options of {@link ViolationTracker}. */
export interface ViolationTrackerOptions {
  /** Violations (any severity) within the window that unmount. Default {@link DEFAULT_MAX_VIOLATIONS} (10). */
  maxViolations?: number;
  /**
   * Sliding window in ms over which violations count. Default {@link DEFAULT_VIOLATION_WINDOW_MS} (60 s); `null`
   * counts every violation since the last `reset()`.
   */
  windowMs?: number | null;
  /** High-severity violations within the window that unmount. Default 3. */
  highSeverityThreshold?: number;
  /** Records kept in memory. Default 1000. */
  maxRecords?: number;
  /** Clock (ms since the epoch); tests inject one. */
  now?: () => number;
}

/** Why a tracker says a plugin must be unmounted. */
export type UnmountReason =
  | { kind: 'critical'; record: ViolationRecord }
  | { kind: 'high-severity'; count: number; threshold: number }
  | { kind: 'threshold'; count: number; threshold: number };

/**
 * Counts a plugin's resource violations and decides when it must go:
 * - one `Critical` violation (heap memory, OOM kill, crash) unmounts at once; it stays decisive until `reset()`;
 * - {@link DEFAULT_HIGH_SEVERITY_THRESHOLD} `High` ones (CPU time, hook timeout) within the window unmount;
 * - `maxViolations` of any severity within the window unmount.
 */
export class ViolationTracker {
  readonly maxViolations: number;
  readonly windowMs: number | null;
  readonly highSeverityThreshold: number;
  readonly #maxRecords: number;
  readonly #now: () => number;
  #records: ViolationRecord[] = [];
  #critical: ViolationRecord | undefined;
  #total = 0;

  constructor(options: ViolationTrackerOptions = {}) {
    this.maxViolations = positiveInteger(options.maxViolations ?? DEFAULT_MAX_VIOLATIONS, 'maxViolations');
    const w = options.windowMs === undefined ? DEFAULT_VIOLATION_WINDOW_MS : options.windowMs;
    this.windowMs = w === null ? null : positiveInteger(w, 'windowMs');
    this.highSeverityThreshold = positiveInteger(
      options.highSeverityThreshold ?? DEFAULT_HIGH_SEVERITY_THRESHOLD,
      'highSeverityThreshold',
    );
    this.#maxRecords = positiveInteger(options.maxRecords ?? DEFAULT_MAX_RECORDS, 'maxRecords');
    this.#now = options.now ?? Date.now;
  }

  /** Records a violation (at `timestamp`, default now) and returns its record with its severity ({@link violationSeverity}). */
  recordViolation(violation: ViolationType, timestamp: number = this.#now()): ViolationRecord {
    const record: ViolationRecord = { violation, severity: violationSeverity(violation), timestamp };
    this.#records.push(record);
    this.#total++;
    if (record.severity === 'Critical' && this.#critical === undefined) this.#critical = record;
    this.#prune();
    return record;
  }

  /** Violations within the window (all since `reset()` when there is no window). */
  violationCount(): number {
    this.#prune();
    return this.#records.length;
  }

  /** Violations recorded since construction or `reset()`, window ignored. */
  totalViolations(): number {
    return this.#total;
  }

  /** The records within the window, oldest first. */
  violations(): readonly ViolationRecord[] {
    this.#prune();
    return [...this.#records];
  }

  /** Timestamps of the violations within the window, oldest first. */
  timestamps(): number[] {
    return this.violations().map((r) => r.timestamp);
  }

  /** Timestamp of the first violation within the window. */
  firstViolation(): number | undefined {
    return this.violations()[0]?.timestamp;
  }

  /** Timestamp of the latest violation. */
  lastViolation(): number | undefined {
    this.#prune();
    return this.#records.at(-1)?.timestamp;
  }

  /** Why the plugin must be unmounted now, or `undefined`. */
  unmountReason(): UnmountReason | undefined {
    if (this.#critical) return { kind: 'critical', record: this.#critical };
    this.#prune();
    const high = this.#records.filter((r) => r.severity === 'High' || r.severity === 'Critical').length;
    if (high >= this.highSeverityThreshold) {
      return { kind: 'high-severity', count: high, threshold: this.highSeverityThreshold };
    }
    if (this.#records.length >= this.maxViolations) {
      return { kind: 'threshold', count: this.#records.length, threshold: this.maxViolations };
    }
    return undefined;
  }

  /** True when the plugin must be unmounted (see the class rules). */
  shouldUnmount(): boolean {
    return this.unmountReason() !== undefined;
  }

  /** Forgets every violation. */
  reset(): void {
    this.#records = [];
    this.#critical = undefined;
    this.#total = 0;
  }

  #prune(): void {
    if (this.windowMs !== null) {
      const cutoff = this.#now() - this.windowMs;
      let drop = 0;
      while (drop < this.#records.length && (this.#records[drop] as ViolationRecord).timestamp <= cutoff)
        drop++;
      if (drop > 0) this.#records.splice(0, drop);
    }
    if (this.#records.length > this.#maxRecords)
      this.#records.splice(0, this.#records.length - this.#maxRecords);
  }
}
