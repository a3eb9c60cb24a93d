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
  it('draws percentages on a TTY for large files only', async () => {
    const t = io(true);
    const p = hashProgress(t.io, 'big.bin');
    expect(p).toBeTypeOf('function');
    const total = 64 * 1024 * 1024;
    p?.(total / 4, total);
    p?.(total / 4, total); // same percentage: not redrawn
    p?.(total, total);
    p?.(1, 1024); // small file: silent
    await new Promise((r) => setImmediate(r));
    expect(t.text()).toBe('\rhashing big.bin: 25%\rhashing big.bin: 100%\n');
  });
  it('is silent when stderr is not a TTY', () => {
    expect(hashProgress(io(false).io, 'x')).toBeUndefined();
  });
});
