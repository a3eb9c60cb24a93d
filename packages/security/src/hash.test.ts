import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { calculateHash, hashBytes } from './hash.js';

const dir = mkdtempSync(join(tmpdir(), 'pw-hash-'));
function file(name: string, data: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

// NIST FIPS 202 example values (SHA3-512): empty message, "abc", and 1600 bits of 0xa3.
const KATS = [
  {
    name: 'empty',
    data: new Uint8Array(0),
    digest:
      'a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a615b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26',
  },
  {
    name: 'abc',
    data: new TextEncoder().encode('abc'),
    digest:
      'b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0',
  },
  {
    name: '1600-bit 0xa3',
    data: new Uint8Array(200).fill(0xa3),
    digest:
      'e76dfad22084a8b1467fcf2ffa58361bec7628edf5f3fdc0e4805dc48caeeca81b7c13c30adf52a3659584739a2df46be589c51ca1a4a8416df6545a1ce8ba00',
  },
];

describe('SHA3-512', () => {
  for (const k of KATS) {
    it(`NIST ${k.name} through calculateHash (node and noble)`, async () => {
      const p = file(`kat-${k.name.replace(/\W/g, '')}`, k.data);
      expect(await calculateHash(p)).toBe(k.digest);
      expect(await calculateHash(p, { backend: 'noble' })).toBe(k.digest);
      expect(await calculateHash(p, { backend: 'node' })).toBe(k.digest);
    });
  }

  it('node:crypto and noble agree on random data across chunk boundaries', async () => {
    for (const size of [1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 3 * 1024 * 1024 + 77]) {
      const data = randomBytes(size);
      const p = file(`rand-${size}`, data);
      const a = await calculateHash(p, { backend: 'node' });
      expect(await calculateHash(p, { backend: 'noble' })).toBe(a);
      expect(hashBytes(data, 'noble')).toBe(a);
      expect(hashBytes(data, 'node')).toBe(a);
    }
  });

  it('refuses files over maxBytes with FileTooLarge, before hashing', async () => {
    const p = file('big', new Uint8Array(4096));
    await expect(calculateHash(p, { maxBytes: 4095 })).rejects.toMatchObject({
      code: 'FileTooLarge',
      details: { size: 4096, max: 4095 },
    });
    expect(await calculateHash(p, { maxBytes: 4096 })).toBe(hashBytes(new Uint8Array(4096)));
  });

  it('reports progress and missing files clearly', async () => {
    const p = file('prog', new Uint8Array(2.5 * 1024 * 1024));
    const seen: number[] = [];
    await calculateHash(p, { onProgress: (n) => seen.push(n) });
    expect(seen).toEqual([1024 * 1024, 2 * 1024 * 1024, 2.5 * 1024 * 1024]);
    await expect(calculateHash(join(dir, 'nope'))).rejects.toMatchObject({ code: 'NotFound' });
    await expect(calculateHash(dir)).rejects.toMatchObject({ name: 'PluginError' });
  });

  it('stops on abort', async () => {
    const p = file('abort', new Uint8Array(10));
    const ac = new AbortController();
    ac.abort();
    await expect(calculateHash(p, { signal: ac.signal })).rejects.toMatchObject({ code: 'Aborted' });
  });
});
