import { DEFAULT_VIOLATION_THRESHOLD, type ViolationType } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { ViolationTracker } from './violation-tracker.js';

const low: ViolationType = { type: 'FileDescriptors', used: 120, limit: 100 };
const medium: ViolationType = { type: 'DatabaseQuery', durationMs: 20_000, limitMs: 10_000 };
const high: ViolationType = { type: 'CpuTime', usedMs: 9000, limitMs: 5000 };
const critical: ViolationType = { type: 'HeapMemory', used: 600, limit: 512 };

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('ViolationTracker', () => {
  it('defaults to the documented rule: 10 violations since reset, no window, no severity escalation', () => {
    const t = new ViolationTracker();
    expect(t.maxViolations).toBe(DEFAULT_VIOLATION_THRESHOLD);
    expect(DEFAULT_VIOLATION_THRESHOLD).toBe(10);
    expect(t.windowMs).toBeNull();
    expect(t.severityEscalation).toBe(false);
    expect(new ViolationTracker(3).maxViolations).toBe(3); // the reference's `ViolationTracker::new(max)`
  });

  it('by default a heap reading over the limit is one counted violation like any other', () => {
    const c = clock();
    const t = new ViolationTracker({ now: c.now });
    for (let i = 0; i < 9; i++) {
      t.recordViolation(i % 2 ? critical : high);
      c.advance(3_600_000); // an hour apart: no window by default
    }
    expect(t.violationCount()).toBe(9);
    expect(t.shouldUnmount()).toBe(false);
    t.recordViolation(critical);
    expect(t.shouldUnmount()).toBe(true);
    expect(t.unmountReason()).toEqual({ kind: 'threshold', count: 10, threshold: 10 });
  });

  it('unmounts at the 10th low/medium violation, not the 9th', () => {
    const c = clock();
    const t = new ViolationTracker({ now: c.now });
    for (let i = 0; i < 9; i++) {
      t.recordViolation(i % 2 ? low : medium);
      c.advance(1);
    }
    expect(t.violationCount()).toBe(9);
    expect(t.shouldUnmount()).toBe(false);
    t.recordViolation(low);
    expect(t.shouldUnmount()).toBe(true);
    expect(t.unmountReason()).toEqual({ kind: 'threshold', count: 10, threshold: 10 });
  });

  it('with severity escalation: one Critical violation unmounts at once and does not age out until reset', () => {
    const c = clock();
    const t = new ViolationTracker({ now: c.now, windowMs: 1000, severityEscalation: true });
    const r = t.recordViolation(critical);
    expect(r.severity).toBe('Critical');
    expect(t.unmountReason()).toEqual({ kind: 'critical', record: r });
    c.advance(10_000);
    expect(t.violationCount()).toBe(0);
    expect(t.shouldUnmount()).toBe(true);
    t.reset();
    expect(t.shouldUnmount()).toBe(false);
  });

  it('with severity escalation: 3 High within the window unmount, not when they are spread wider', () => {
    const c = clock();
    const t = new ViolationTracker({ now: c.now, windowMs: 1000, severityEscalation: true });
    t.recordViolation(high);
    c.advance(600);
    t.recordViolation(high);
    c.advance(600); // the first has left the window
    t.recordViolation(high);
    expect(t.violationCount()).toBe(2);
    expect(t.shouldUnmount()).toBe(false);
    c.advance(100);
    t.recordViolation(high);
    expect(t.unmountReason()).toEqual({ kind: 'high-severity', count: 3, threshold: 3 });
  });

  it('slides the window for the count, keeps timestamps and a total', () => {
    const c = clock(5000);
    const t = new ViolationTracker({ now: c.now, windowMs: 100 });
    t.recordViolation(low);
    c.advance(50);
    t.recordViolation(low);
    expect(t.timestamps()).toEqual([5000, 5050]);
    expect(t.firstViolation()).toBe(5000);
    expect(t.lastViolation()).toBe(5050);
    c.advance(60);
    expect(t.violationCount()).toBe(1);
    expect(t.timestamps()).toEqual([5050]);
    expect(t.totalViolations()).toBe(2);
    t.reset();
    expect(t.violationCount()).toBe(0);
    expect(t.totalViolations()).toBe(0);
    expect(t.lastViolation()).toBeUndefined();
  });

  it('counts forever without a window, bounded in memory', () => {
    const c = clock();
    const t = new ViolationTracker({ now: c.now, windowMs: null, maxViolations: 1_000_000, maxRecords: 5 });
    for (let i = 0; i < 50; i++) {
      t.recordViolation(low);
      c.advance(1_000_000);
    }
    expect(t.totalViolations()).toBe(50);
    expect(t.violations()).toHaveLength(5);
  });

  it('rejects bad options', () => {
    expect(() => new ViolationTracker({ maxViolations: 0 })).toThrow(/maxViolations/);
    expect(() => new ViolationTracker({ windowMs: -1 })).toThrow(/windowMs/);
    expect(() => new ViolationTracker({ highSeverityThreshold: 1.5 })).toThrow(/highSeverityThreshold/);
    expect(() => new ViolationTracker(0)).toThrow(/maxViolations/);
    expect(() => new ViolationTracker({ severityEscalation: 'yes' as unknown as boolean })).toThrow(
      /severityEscalation/,
    );
  });
});
