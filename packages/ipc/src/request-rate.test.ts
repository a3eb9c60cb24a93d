import { describe, expect, it } from 'vitest';
import { DEFAULT_REQUEST_RATE, RequestPacer } from './request-rate.js';

describe('RequestPacer (a plugin asking the host in a loop)', () => {
  it('serves the burst at once, then schedules each request at its token’s refill time', () => {
    let now = 0;
    const pacer = new RequestPacer({ perSecond: 100, burst: 3 }, () => now);
    expect([pacer.take(), pacer.take(), pacer.take()]).toEqual([0, 0, 0]);
    // The 4th and 5th wait one and two token intervals (10 ms each at 100/s).
    expect(pacer.take()).toBeCloseTo(10);
    expect(pacer.take()).toBeCloseTo(20);
    // Time passes: the debt is paid back before new tokens accrue.
    now = 20;
    expect(pacer.take()).toBeCloseTo(10);
    now = 1000;
    expect(pacer.take()).toBe(0); // refilled (never past the burst)
    expect(pacer.take()).toBe(0);
    expect(pacer.take()).toBe(0);
    expect(pacer.take()).toBeGreaterThan(0);
  });

  it('a long flood is held to perSecond: n requests past the burst end n / perSecond seconds later', () => {
    const now = 0;
    const pacer = new RequestPacer({ perSecond: 2000, burst: 10 }, () => now);
    let last = 0;
    for (let i = 0; i < 10_010; i++) last = pacer.take();
    expect(last).toBeCloseTo((10_000 / 2000) * 1000);
  });

  it('refuses a rate that would not pace (InvalidArgument)', () => {
    for (const bad of [{ perSecond: 0 }, { perSecond: Number.NaN }, { burst: 0 }, { perSecond: -1 }]) {
      expect(() => new RequestPacer(bad)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    }
    expect(DEFAULT_REQUEST_RATE).toEqual({ perSecond: 2000, burst: 10_000 });
  });
});

it('a debit after the fact makes the next requests wait longer (a refused request costs more)', () => {
  const pacer = new RequestPacer({ perSecond: 100, burst: 2 }, () => 0);
  expect(pacer.take()).toBe(0);
  pacer.debit(19);
  // 1 token left before the debit; now 18 owed: the next request waits 19 token intervals of 10 ms.
  expect(pacer.take()).toBeCloseTo(190);
});
