import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCount, parseKeyValues, readCapped, readCappedSync, readOptionalSync } from './read-file.js';

const dir = mkdtempSync(path.join(tmpdir(), 'plugward-limits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readCappedSync / readCapped', () => {
  it('reads files larger than its buffer completely, and /proc files', async () => {
    const big = 'x'.repeat(200_000);
    const p = path.join(dir, 'big');
    writeFileSync(p, big);
    expect(readCappedSync(p, 1_000_000)).toBe(big);
    expect(await readCapped(p, 1_000_000)).toBe(big);
    expect(readCappedSync('/proc/self/status')).toMatch(/^Name:/);
    // stat changes between two reads (state, times): compare the pid field only.
    expect(readCappedSync('/proc/self/stat').split(' ')[0]).toBe(String(process.pid));
  });

  it('refuses a file above the cap instead of truncating it', async () => {
    const p = path.join(dir, 'cap');
    writeFileSync(p, 'y'.repeat(70_000));
    expect(() => readCappedSync(p, 65_000)).toThrow(expect.objectContaining({ code: 'IoError' }));
    await expect(readCapped(p, 65_000)).rejects.toMatchObject({ code: 'IoError' });
    expect(readCappedSync(p, 70_000)).toHaveLength(70_000);
  });

  it('returns undefined for a missing file only', () => {
    expect(readOptionalSync(path.join(dir, 'nope'))).toBeUndefined();
    expect(() => readOptionalSync(dir)).toThrow(); // EISDIR is not "missing"
  });
});

describe('parseCount / parseKeyValues', () => {
  it('accepts plain non-negative integers only', () => {
    expect(parseCount('42\n')).toBe(42);
    for (const bad of ['-1', '1.5', 'max', '', '99999999999999999999', '0x10'])
      expect(parseCount(bad)).toBeUndefined();
  });

  it('reads key value lines and skips malformed ones', () => {
    expect([...parseKeyValues('a 1\nb x\nc 3 4\nd 5\n')]).toEqual([
      ['a', 1],
      ['d', 5],
    ]);
  });
});
