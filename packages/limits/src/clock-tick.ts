import { execFile } from 'node:child_process';

/**
 * The fallback when `getconf CLK_TCK` can't run: 100 Hz is USER_HZ on every mainstream Linux architecture (x86,
 * arm64, riscv); the kernel reports utime/stime in USER_HZ, not in the configured CONFIG_HZ.
 */
export const FALLBACK_CLOCK_TICKS = 100;

let cached: Promise<number> | undefined;

/**
 * Clock ticks per second for `/proc/<pid>/stat` times, asked once from `getconf CLK_TCK` and cached;
 * {@link FALLBACK_CLOCK_TICKS} when getconf is missing or prints nonsense.
 */
export function clockTicksPerSecond(): Promise<number> {
  cached ??= new Promise<number>((resolve) => {
    execFile('getconf', ['CLK_TCK'], { timeout: 2000 }, (err, stdout) => {
      const n = err ? Number.NaN : Number(String(stdout).trim());
      resolve(Number.isSafeInteger(n) && n > 0 && n <= 100_000 ? n : FALLBACK_CLOCK_TICKS);
    });
  });
  return cached;
}
