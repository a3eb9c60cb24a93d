import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrustedPluginEntry } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  decryptTrustList,
  encryptTrustList,
  generateKeyPair,
  keyId,
  loadTrustList,
  saveTrustList,
  TRUST_LIST_HEADER_BYTES,
  type TrustListData,
  toHex,
  updateTrustList,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const dir = tempDir('trust');
const keyHex = randomBytes(32).toString('hex');
const fastKdf = { t: 1, m: 64, p: 1 };

function entry(name: string, version = '1.0.0'): TrustedPluginEntry {
  const { publicKey } = generateKeyPair();
  return {
    name,
    version,
    hash: randomBytes(64).toString('hex'),
    keyId: keyId(publicKey),
    publicKey: toHex(publicKey),
    addedAt: new Date(0).toISOString(),
  };
}

const data: TrustListData = { listVersion: 7, entries: [entry('alpha'), entry('beta', '2.0.0')] };

async function expectReason(p: Promise<unknown>, reason: string, code = 'TrustListError'): Promise<void> {
  await expect(p).rejects.toMatchObject({
    code,
    details: expect.objectContaining({ reason }),
  });
}

describe('trust list file', () => {
  it('round-trips with a raw key (bytes or hex) and writes mode 0600', async () => {
    const path = join(dir, 'rt.enc');
    await saveTrustList(path, data, keyHex);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await loadTrustList(path, Buffer.from(keyHex, 'hex'))).toEqual({
      ...data,
      listId: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
    const bytes = readFileSync(path);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('PWTRUST\0');
    expect(bytes.includes(Buffer.from('alpha'))).toBe(false);
  });

  it('round-trips with an Argon2id passphrase; parameters come from the header', async () => {
    const file = await encryptTrustList(data, { passphrase: 'correct horse', kdf: fastKdf });
    expect(file[10]).toBe(1);
    expect(await decryptTrustList(file, { passphrase: 'correct horse' })).toEqual(data);
    await expectReason(decryptTrustList(file, { passphrase: 'wrong horse' }), 'auth-failed');
    await expectReason(decryptTrustList(file, keyHex), 'wrong-key-type');
  });

  it('uses a fresh nonce each time', async () => {
    const a = await encryptTrustList(data, keyHex);
    const b = await encryptTrustList(data, keyHex);
    expect(Buffer.from(a.subarray(40, 64)).equals(Buffer.from(b.subarray(40, 64)))).toBe(false);
  });

  describe('tamper suite: every region fails closed, never garbage entries', async () => {
    const good = await encryptTrustList(data, keyHex);
    const regions: [string, number, string][] = [
      ['magic', 3, 'bad-magic'],
      ['format version', 8, 'unsupported-format'],
      ['kdf id', 10, 'bad-header'],
      ['reserved', 11, 'bad-header'],
      ['kdf params', 14, 'bad-header'],
      ['salt', 30, 'bad-header'],
      ['nonce', 45, 'auth-failed'],
      ['ciphertext', TRUST_LIST_HEADER_BYTES + 5, 'auth-failed'],
      ['tag', good.length - 3, 'auth-failed'],
    ];
    for (const [region, offset, reason] of regions) {
      it(`one bit flipped in the ${region}`, async () => {
        for (const bit of [0, 7]) {
          const bad = new Uint8Array(good);
          bad[offset] = (bad[offset] ?? 0) ^ (1 << bit);
          await expectReason(decryptTrustList(bad, keyHex), reason);
        }
      });
    }
    it('one bit flipped in the header of a passphrase file (salt, params) fails authentication', async () => {
      const pw = await encryptTrustList(data, { passphrase: 'p', kdf: fastKdf });
      for (const offset of [12, 24, 39]) {
        const bad = new Uint8Array(pw);
        bad[offset] = (bad[offset] ?? 0) ^ 1;
        await expect(decryptTrustList(bad, { passphrase: 'p' })).rejects.toMatchObject({
          code: 'TrustListError',
        });
      }
    });
    it('every truncation fails', async () => {
      for (const n of [1, 7, 8, 40, 63, 64, 79, good.length - 1]) {
        await expect(decryptTrustList(good.subarray(0, n), keyHex)).rejects.toMatchObject({
          code: 'TrustListError',
        });
      }
      await expectReason(decryptTrustList(new Uint8Array([...good, 0]), keyHex), 'auth-failed');
    });
    it('empty file, wrong key, not a trust list', async () => {
      await expectReason(decryptTrustList(new Uint8Array(0), keyHex), 'empty');
      await expectReason(decryptTrustList(good, randomBytes(32)), 'auth-failed');
      await expectReason(decryptTrustList(new TextEncoder().encode('{"entries":[]}'), keyHex), 'bad-magic');
      const p = join(dir, 'empty.enc');
      writeFileSync(p, '');
      await expectReason(loadTrustList(p, keyHex), 'empty');
      await expectReason(loadTrustList(join(dir, 'missing.enc'), keyHex), 'not-found');
    });
  });

  it('refuses a replayed older list', async () => {
    const path = join(dir, 'replay.enc');
    await saveTrustList(path, { listVersion: 3, entries: [] }, keyHex);
    const old = readFileSync(path);
    await saveTrustList(path, { listVersion: 4, entries: [] }, keyHex);
    expect((await loadTrustList(path, keyHex, { minListVersion: 4 })).listVersion).toBe(4);
    writeFileSync(path, old);
    await expectReason(loadTrustList(path, keyHex, { minListVersion: 4 }), 'replayed', 'TrustListRollback');
  });

  it('refuses to encrypt invalid entries (small-order key, bad key id)', async () => {
    const e = entry('gamma');
    await expect(
      encryptTrustList({ listVersion: 1, entries: [{ ...e, publicKey: `01${'00'.repeat(31)}` }] }, keyHex),
    ).rejects.toThrow(/small order|keyId/);
    await expect(
      encryptTrustList({ listVersion: 1, entries: [{ ...e, keyId: '0'.repeat(16) }] }, keyHex),
    ).rejects.toThrow(/keyId/);
  });

  it('updateTrustList bumps the version and keeps the file readable', async () => {
    const path = join(dir, 'upd.enc');
    const first = await updateTrustList(path, keyHex, (es) => {
      es.push(entry('one'));
    });
    expect(first.listVersion).toBe(1);
    const second = await updateTrustList(path, keyHex, (es) => es.filter((x) => x.name !== 'one'));
    expect(second).toEqual({ listVersion: 2, entries: [], listId: expect.any(String) });
    await expect(
      updateTrustList(join(dir, 'nope.enc'), keyHex, () => undefined, { create: false }),
    ).rejects.toMatchObject({
      code: 'TrustListError',
    });
  });
});
