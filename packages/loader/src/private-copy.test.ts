import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writePrivateCopy } from './private-copy.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-private-copy-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('writePrivateCopy', () => {
  it('holds the bytes in a 0700 folder, read-only, and remove() leaves nothing of it', async () => {
    const copy = await writePrivateCopy(new Uint8Array([1, 2, 3]), 'plugin.mjs', root);
    const dir = path.dirname(copy.file);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(copy.file).mode & 0o777).toBe(0o500);
    expect([...fs.readFileSync(copy.file)]).toEqual([1, 2, 3]);
    await copy.remove();
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('remove() also takes a folder that holds more than its file, and a file already gone', async () => {
    const more = await writePrivateCopy(new Uint8Array([1]), 'plugin.so', root);
    fs.writeFileSync(path.join(path.dirname(more.file), 'extra'), 'x');
    await more.remove();
    expect(fs.existsSync(path.dirname(more.file))).toBe(false);
    const gone = await writePrivateCopy(new Uint8Array([1]), 'plugin.so', root);
    fs.unlinkSync(gone.file);
    await gone.remove();
    expect(fs.existsSync(path.dirname(gone.file))).toBe(false);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
