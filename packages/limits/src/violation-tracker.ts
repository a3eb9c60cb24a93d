import {
  DEFAULT_VIOLATION_THRESHOLD,
  PluginError,
  positiveInteger,
  type ViolationRecord,
  type ViolationType,
  violationSeverity,
} from '@plugward/types';

/** High-severity violations that unmount a plugin when a host turns severity escalation on. */
export const DEFAULT_HIGH_SEVERITY_THRESHOLD = 3;
/** Records kept for inspection; older ones are dropped (the counters stay exact). */
export const DEFAULT_MAX_RECORDS = 1000;

/**
 * Options of {@link ViolationTracker}. The defaults are the documented rule: `shouldUnmount` once the count of
 * violations since the last `reset()` reaches {@link DEFAULT_VIOLATION_THRESHOLD} (10). A window and severity
 * escalation are extensions a host turns on.
 */
export interface ViolationTrackerOptions {
  /** Violations (any severity) that unmount. Default {@link DEFAULT_VIOLATION_THRESHOLD} (10). */
  maxViolations?: number;
  /**
   * Count only violations within a sliding window of this many ms (`DEFAULT_VIOLATION_WINDOW_MS` is 60 s). Default
   * `null`: every violation since the last `reset()` counts.
   */
  windowMs?: number | null;
  /**
   * Severity escalation: one `Critical` violation (heap memory) unmounts at once, and
   * {@link ViolationTrackerOptions.highSeverityThreshold} `High` ones (CPU time, hook timeout) do. Default false.
   */
  severityEscalation?: boolean;
  /** `High` (or worse) violations that unmount under `severityEscalation`. Default 3. */
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
 * Counts a plugin's resource violations and decides when it must go (the Rust API reference's `ViolationTracker`):
 * `shouldUnmount()` holds once `maxViolations` (default 10) violations were recorded since the last `reset()`.
 * `new ViolationTracker(10)` takes the threshold as the reference does. Options a host may turn on:
 * - `windowMs`: only violations within a sliding window count;
 * - `severityEscalation`: one `Critical` violation unmounts at once (it stays decisive until `reset()`), and
 *   `highSeverityThreshold` `High` ones do.
 */
export class ViolationTracker {
  readonly maxViolations: number;
  readonly windowMs: number | null;
  readonly severityEscalation: boolean;
  readonly highSeverityThreshold: number;
  readonly #maxRecords: number;
  readonly #now: () => number;
  #records: ViolationRecord[] = [];
  #critical: ViolationRecord | undefined;
  #total = 0;

  constructor(options: ViolationTrackerOptions | number = {}) {
    if (typeof options === 'number') options = { maxViolations: options };
    if (typeof options !== 'object' || options === null) {
      throw new PluginError('InvalidArgument', 'ViolationTracker takes a threshold or an options object');
    }
    this.maxViolations = positiveInteger(
      options.maxViolations ?? DEFAULT_VIOLATION_THRESHOLD,
      'maxViolations',
    );
    const w = options.windowMs ?? null;
    this.windowMs = w === null ? null : positiveInteger(w, 'windowMs');
    if (options.severityEscalation !== undefined && typeof options.severityEscalation !== 'boolean') {
      throw new PluginError('InvalidArgument', 'severityEscalation must be a boolean', {
        details: { field: 'severityEscalation' },
      });
    }
    this.severityEscalation = options.severityEscalation ?? false;
    this.highSeverityThreshold = positiveInteger(
      options.highSeverityThreshold ?? DEFAULT_HIGH_SEVERITY_THRESHOLD,
      'highSeverityThreshold',
    );
    this.#maxRecords = positiveInteger(options.maxRecords ?? DEFAULT_MAX_RECORDS, 'maxRecords');
    this.#now = options.now ?? Date.now;
  }

  /** Records a violation (at `timestamp`, default now) and returns its record, with its `violationSeverity`. */
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
    if (this.windowMs === null) return this.#total;
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
    if (this.severityEscalation) {
      if (this.#critical) return { kind: 'critical', record: this.#critical };
      this.#prune();
      const high = this.#records.filter((r) => r.severity === 'High' || r.severity === 'Critical').length;
      if (high >= this.highSeverityThreshold) {
        return { kind: 'high-severity', count: high, threshold: this.highSeverityThreshold };
      }
    }
    const count = this.violationCount();
    if (count >= this.maxViolations) return { kind: 'threshold', count, threshold: this.maxViolations };
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
