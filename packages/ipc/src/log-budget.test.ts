import { PluginError } from '@plugward/types';
import { expect, it } from 'vitest';
import { LogLimiter } from './log-budget.js';

it('admits a burst, then drops with one report per episode, then tells how many were dropped', () => {
  let t = 0;
  const limiter = new LogLimiter(
    { burstLines: 10, linesPerSecond: 10, burstBytes: 1000, bytesPerSecond: 100 },
    () => t,
  );
  for (let i = 0; i < 10; i++) expect(limiter.admit(10)).toEqual({ admit: true, suppressed: 0 });
  const first = limiter.admit(10);
  expect(first.admit).toBe(false);
  expect(first.admit === false && first.error?.code).toBe('QuotaExceeded');
  // Refilled tokens one by one do not end the episode (no notice per token).
  for (let i = 0; i < 10; i++) {
    t += 40;
    const v = limiter.admit(10);
    expect(v.admit === false && v.error).toBeUndefined();
  }
  t += 5000;
  expect(limiter.admit(10)).toEqual({ admit: true, suppressed: 11 });
  // Bytes: one line bigger than the burst is never admitted.
  const big = limiter.admit(5000);
  expect(big.admit === false && big.error?.details).toMatchObject({ resource: 'log-bytes' });
  expect(() => new LogLimiter({ burstLines: -1 })).toThrow(PluginError);
});
