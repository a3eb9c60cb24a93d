import type { CliIo } from './command.js';

const MIN_BYTES = 16 * 1024 * 1024;

/** A progress callback that draws a percentage on stderr, only on a TTY and only for large files. */
export function hashProgress(io: CliIo, label: string): ((done: number, total: number) => void) | undefined {
  if (!io.stderr.isTTY) return undefined;
  let last = -1;
  return (done, total) => {
    if (total < MIN_BYTES) return;
    const pct = Math.floor((done / total) * 100);
    if (pct === last) return;
    last = pct;
    io.stderr.write(`\rhashing ${label}: ${pct}%${done >= total ? '\n' : ''}`);
  };
}
