import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { type Deadline, DeadlineQueue } from './deadline-queue.js';

// Fake timers and a clock that follows them: every step of the queue is deterministic.
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

function deadline(at: number, onExpire: () => void): Deadline {
  return { at, seq: 0, slot: -1, expire: onExpire };
}

it('expires 1000 deadlines with mixed times in order of time (then of arrival), each exactly once', () => {
  const q = new DeadlineQueue(() => Date.now());
  const t0 = Date.now();
  const fired: number[] = [];
  const at: number[] = [];
  for (let i = 0; i < 1000; i++) {
    // Many equal times, added out of order: ties must keep arrival order.
    at.push(t0 + 1 + ((i * 7919) % 97));
    q.add(deadline(at[i]!, () => fired.push(i)));
  }
  expect(q.size).toBe(1000);
  vi.advanceTimersByTime(50);
  expect(fired.every((i) => at[i]! <= t0 + 50)).toBe(true);
  vi.advanceTimersByTime(1000);
  expect(fired).toHaveLength(1000);
  expect(new Set(fired).size).toBe(1000);
  const expected = [...at.keys()].sort((a, b) => at[a]! - at[b]! || a - b);
  expect(fired).toEqual(expected);
  expect(q.size).toBe(0);
  vi.advanceTimersByTime(10_000);
  expect(fired).toHaveLength(1000);
});

it('never expires a cancelled deadline, wherever it sits in the heap', () => {
  const q = new DeadlineQueue(() => Date.now());
  const t0 = Date.now();
  const fired = new Set<number>();
  const all: Deadline[] = [];
  for (let i = 0; i < 500; i++) {
    const d = deadline(t0 + 1 + ((i * 31) % 200), () => fired.add(i));
    all.push(d);
    q.add(d);
  }
  const cancelled = new Set<number>();
  for (let i = 0; i < 500; i += 3) {
    expect(q.cancel(all[i]!)).toBe(true);
    cancelled.add(i);
  }
  expect(q.cancel(all[0]!)).toBe(false);
  vi.advanceTimersByTime(1000);
  for (let i = 0; i < 500; i++) expect(fired.has(i)).toBe(!cancelled.has(i));
  expect(q.cancel(all[1]!)).toBe(false); // expired already
});

it('uses one timer: re-armed only for an earlier deadline, and served late deadlines from one firing', () => {
  const q = new DeadlineQueue(() => Date.now());
  const t0 = Date.now();
  const set = vi.spyOn(globalThis, 'setTimeout');
  const fired: string[] = [];
  q.add(deadline(t0 + 100, () => fired.push('100')));
  for (let i = 0; i < 100; i++) q.add(deadline(t0 + 200 + i, () => fired.push('late')));
  expect(set).toHaveBeenCalledTimes(1);
  q.add(deadline(t0 + 10, () => fired.push('10')));
  expect(set).toHaveBeenCalledTimes(2);
  vi.advanceTimersByTime(10);
  expect(fired).toEqual(['10']);
  vi.advanceTimersByTime(400);
  expect(fired).toHaveLength(102);
  // 10, then 100, then the 100 later ones each at its own millisecond: at most one timer per distinct moment.
  expect(set.mock.calls.length).toBeLessThanOrEqual(2 + 1 + 100);
  set.mockRestore();
});

it('serves a deadline an expiring one adds, and keeps the earliest armed', () => {
  const q = new DeadlineQueue(() => Date.now());
  const t0 = Date.now();
  const fired: string[] = [];
  q.add(deadline(t0 + 30, () => fired.push('30')));
  q.add(
    deadline(t0 + 10, () => {
      fired.push('10');
      q.add(deadline(t0 + 500, () => fired.push('500')));
    }),
  );
  vi.advanceTimersByTime(30);
  expect(fired).toEqual(['10', '30']);
  vi.advanceTimersByTime(500);
  expect(fired).toEqual(['10', '30', '500']);
});

it('a throwing expire does not keep the others from expiring', () => {
  const q = new DeadlineQueue(() => Date.now());
  const t0 = Date.now();
  const fired: number[] = [];
  q.add(
    deadline(t0 + 5, () => {
      throw new Error('boom');
    }),
  );
  q.add(deadline(t0 + 5, () => fired.push(1)));
  vi.advanceTimersByTime(5);
  expect(fired).toEqual([1]);
});
