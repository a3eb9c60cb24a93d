import type { CliIo } from './command.js';

const MIN_BYTES = 16 * 1024 * 1024;
const MIB = 1024 * 1024;

function eta(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.ceil(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/**
 * A progress callback that draws a percentage, the rate and the time left on stderr, only on a TTY and only for large
 * files. `now` (milliseconds) is injectable for tests.
 */
export function hashProgress(
  io: CliIo,
  label: string,
  now: () => number = () => performance.now(),
): ((done: number, total: number) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  let last = -1;
  let start: number | undefined;
  return (done, total) => {
    if (total < MIN_BYTES) return;
    const t = now();
    start ??= t;
    const pct = Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    const seconds = (t - start) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const timing =
      done >= total
        ? rate > 0
          ? ` (${(rate / MIB).toFixed(1)} MiB/s)`
          : ''
        : rate > 0
          ? ` ${(rate / MIB).toFixed(1)} MiB/s, ${eta((total - done) / rate)} left`
          : '';
    // Pad so a shorter line overwrites a longer one.
    io.stderr.write(`\rhashing ${label}: ${pct}%${timing}`.padEnd(60) + (done >= total ? '\n' : ''));
  };
}
