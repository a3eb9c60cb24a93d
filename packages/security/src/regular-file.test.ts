import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readFileCapped } from './regular-file.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-read-'));

describe('readFileCapped: the one size-capped file read', () => {
  it('reads a file up to the cap and refuses one byte more with FileTooLarge', async () => {
    const p = join(dir, 'cap');
    writeFileSync(p, new Uint8Array(4096).fill(7));
    expect(await readFileCapped(p, 4096)).toEqual(new Uint8Array(4096).fill(7));
    await expect(readFileCapped(p, 4095)).rejects.toMatchObject({
      code: 'FileTooLarge',
      details: { size: 4096, max: 4095 },
    });
  });

  it('refuses a file that yields more bytes than its fstat size said (it grew while read)', async () => {
    // A /proc file reports size 0 and then yields text: the same as a file that grows after the fstat.
    await expect(readFileCapped('/proc/self/status', 1 << 20)).rejects.toMatchObject({
      code: 'SecurityError',
      message: expect.stringMatching(/changed size while it was being read/),
    });
  });

  it("maps open failures: NotFound by default, or the caller's error", async () => {
    await expect(readFileCapped(join(dir, 'missing'), 10)).rejects.toMatchObject({ code: 'NotFound' });
    await expect(readFileCapped(dir, 10)).rejects.toMatchObject({ code: 'NotRegularFile' });
  });
});
