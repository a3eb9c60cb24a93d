import { execFile } from 'node:child_process';
import { CLOCK_TICKS_PER_SECOND } from '@plugward/types';

let cached: Promise<number> | undefined;
let known: number | undefined;

/**
 * Clock ticks per second for `/proc/<pid>/stat` times, asked once from `getconf CLK_TCK` and cached;
 * `CLOCK_TICKS_PER_SECOND` (types) when getconf is missing or prints nonsense.
 */
export function clockTicksPerSecond(): Promise<number> {
  cached ??= new Promise<number>((resolve) => {
    execFile('getconf', ['CLK_TCK'], { timeout: 2000 }, (err, stdout) => {
      const n = err ? Number.NaN : Number(String(stdout).trim());
      known = Number.isSafeInteger(n) && n > 0 && n <= 100_000 ? n : CLOCK_TICKS_PER_SECOND;
      resolve(known);
    });
  });
  return cached;
}

/** What {@link clockTicksPerSecond} resolved to, for synchronous readers; `undefined` until it has resolved once. */
export function knownClockTicksPerSecond(): number | undefined {
  return known;
}
