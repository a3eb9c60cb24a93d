import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CliIo } from './command.js';
import { hashProgress } from './progress.js';

function io(isTTY: boolean): { io: CliIo; text: () => string } {
  const stderr = Object.assign(new PassThrough(), { isTTY });
  const chunks: Buffer[] = [];
  stderr.on('data', (c: Buffer) => chunks.push(c));
  return {
    io: { stdout: new PassThrough(), stderr, env: {}, cwd: '/' },
    text: () => Buffer.concat(chunks).toString(),
  };
}

describe('hash progress', () => {
  it('draws percentage, rate and time left on a TTY for large files only', async () => {
    const t = io(true);
    let clock = 0;
    const p = hashProgress(t.io, 'big.bin', () => clock);
    expect(p).toBeTypeOf('function');
    const total = 64 * 1024 * 1024;
    p?.(0, total);
    clock = 1000;
    p?.(total / 4, total); // 16 MiB in 1 s: 48 MiB left at 16 MiB/s
    p?.(total / 4, total); // same percentage: not redrawn
    clock = 4000;
    p?.(total, total);
    p?.(1, 1024); // small file: silent
    await new Promise((r) => setImmediate(r));
    const lines = t
      .text()
      .split('\r')
      .filter(Boolean)
      .map((l) => l.trimEnd());
    expect(lines).toEqual([
      'hashing big.bin: 0%',
      'hashing big.bin: 25% 16.0 MiB/s, 3 s left',
      'hashing big.bin: 100% (16.0 MiB/s)',
    ]);
    expect(t.text().endsWith('\n')).toBe(true);
  });
  it('is silent when stderr is not a TTY', () => {
    expect(hashProgress(io(false).io, 'x')).toBeUndefined();
  });
});
