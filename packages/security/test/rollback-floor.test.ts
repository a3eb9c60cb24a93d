import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TrustedPluginEntry } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  keyId,
  loadTrustList,
  PluginSecurity,
  resetTrustListFloor,
  rollbackFloorPath,
  saveTrustList,
  toHex,
  updateTrustList,
} from '../src/index.js';
import { tempDir } from './helpers.js';

// The attacker of issue 13 point 1 can replace, copy and delete files beside the list, but has no trust-list key.
const root = tempDir('floor');
let n = 0;
function fresh() {
  n++;
  mkdirSync(join(root, `list-${n}`));
  return {
    list: join(root, `list-${n}`, 'trust.enc'),
    floorDir: join(root, `state-${n}`),
    key: toHex(randomBytes(32)),
  };
}

function entry(name: string): TrustedPluginEntry {
  const { publicKey } = generateKeyPair();
  return {
    name,
    version: '1.0.0',
    hash: randomBytes(64).toString('hex'),
    keyId: keyId(publicKey),
    publicKey: toHex(publicKey),
    addedAt: new Date(0).toISOString(),
  };
}

/** A host process: a fresh PluginSecurity (nothing in memory), as after a restart. */
function host(list: string, floorDir: string, extra: Record<string, unknown> = {}) {
  return new PluginSecurity({ trustListPath: list, rollbackFloorDir: floorDir, ...extra });
}

describe('persistent rollback floor (issue 13 point 1)', () => {
  it('trust add foo, copy the file, trust rm foo, put the copy back: a restarted host refuses it', async () => {
    const { list, floorDir, key } = fresh();
    const foo = entry('foo');
    const opts = { floorDir };
    await updateTrustList(list, key, (es) => [...es, foo], opts); // v1
    const copy = readFileSync(list);
    await updateTrustList(list, key, (es) => es.filter((e) => e.hash !== foo.hash), opts); // v2
    const latest = readFileSync(list);
    writeFileSync(list, copy); // the attacker's replay
    const restarted = host(list, floorDir);
    await expect(restarted.loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'replayed', listVersion: 1, minListVersion: 2 },
    });
    expect(restarted.isTrustedHash(foo.hash)).toBe(false);
    // The host still serves the real list once it is back.
    writeFileSync(list, latest);
    await restarted.loadAndDecryptTrustList(key);
    expect(restarted.listVersion).toBe(2);
  });

  it('a floor directory others can write is refused: they could put back an older authentic record', async () => {
    const { list, floorDir, key } = fresh();
    const foo = entry('foo');
    const opts = { floorDir };
    await updateTrustList(list, key, (es) => [...es, foo], opts); // v1, floor 1
    const oldList = readFileSync(list);
    const oldFloor = readFileSync(rollbackFloorPath(floorDir, list));
    await updateTrustList(list, key, (es) => es.filter((e) => e.hash !== foo.hash), opts); // v2, floor 2
    // Someone with write access to the floor folder (but no key) replays the old list *and* its old floor record.
    chmodSync(floorDir, 0o777);
    writeFileSync(rollbackFloorPath(floorDir, list), oldFloor);
    writeFileSync(list, oldList);
    await expect(host(list, floorDir).loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListError',
    });
    chmodSync(floorDir, 0o700);
  });

  it('a deleted list is not silently restarted at version 1', async () => {
    const { list, floorDir, key } = fresh();
    const opts = { floorDir };
    await updateTrustList(list, key, (es) => [...es, entry('a')], opts);
    await updateTrustList(list, key, (es) => [...es, entry('b')], opts);
    const old = readFileSync(list); // v2
    await updateTrustList(list, key, () => [], opts); // v3: both revoked
    unlinkSync(list);
    await expect(updateTrustList(list, key, (es) => [...es, entry('c')], opts)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'list-missing' },
    });
    // and a v1/v2 list can never be put back after the operator starts anew: the new list has another identity.
    expect(await resetTrustListFloor(list, key, opts)).toBeUndefined();
    const started = await updateTrustList(list, key, (es) => [...es, entry('c')], opts);
    expect(started.listVersion).toBe(1);
    writeFileSync(list, old);
    await expect(loadTrustList(list, key, opts)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'other-list' },
    });
  });

  it('another list encrypted under the same key can not stand in for this one', async () => {
    const { list, floorDir, key } = fresh();
    await updateTrustList(list, key, (es) => [...es, entry('mine')], { floorDir });
    const other = join(root, 'other-list.enc');
    await saveTrustList(other, { listVersion: 50, entries: [entry('theirs')] }, key, { floorDir: false });
    copyFileSync(other, list);
    await expect(host(list, floorDir).loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'other-list' },
    });
  });

  it('a missing floor record fails closed; the documented reset (needs the key) re-establishes it', async () => {
    const { list, floorDir, key } = fresh();
    await updateTrustList(list, key, (es) => [...es, entry('a')], { floorDir });
    await updateTrustList(list, key, (es) => [...es, entry('b')], { floorDir });
    rmSync(floorDir, { recursive: true, force: true });
    const h = host(list, floorDir);
    await expect(h.loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'RollbackFloorMissing',
      details: { reason: 'floor-missing' },
    });
    await expect(h.loadAndDecryptTrustList(key)).rejects.toThrow(/plugward trust floor --reset/);
    // Reset needs the key.
    await expect(resetTrustListFloor(list, toHex(randomBytes(32)), { floorDir })).rejects.toMatchObject({
      code: 'TrustListError',
    });
    expect(await resetTrustListFloor(list, key, { floorDir })).toBe(2);
    await h.loadAndDecryptTrustList(key);
    expect(h.listVersion).toBe(2);
  });

  it('a forged floor record (lowered by someone without the key) fails closed', async () => {
    const { list, floorDir, key } = fresh();
    await updateTrustList(list, key, (es) => [...es, entry('a')], { floorDir });
    const copy = readFileSync(list);
    await updateTrustList(list, key, (es) => [...es, entry('b')], { floorDir });
    const recordPath = rollbackFloorPath(floorDir, list);
    const record = JSON.parse(readFileSync(recordPath, 'utf8')) as { floor: number };
    expect(record.floor).toBe(2);
    writeFileSync(recordPath, JSON.stringify({ ...record, floor: 1 }));
    writeFileSync(list, copy);
    await expect(host(list, floorDir).loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'RollbackFloorMissing',
      details: { reason: 'floor-unauthenticated' },
    });
  });

  it('a host that loads a newer list raises the floor; policy.minTrustListVersion pins it by hand', async () => {
    const { list, floorDir, key } = fresh();
    await updateTrustList(list, key, (es) => [...es, entry('a')], { floorDir });
    const v1 = readFileSync(list);
    // Written elsewhere (no floor update here), then seen by this host once.
    await updateTrustList(list, key, (es) => [...es, entry('b')], { floorDir: false });
    const seen = host(list, floorDir);
    const entries = await seen.loadAndDecryptTrustList(key);
    expect(seen.listVersion).toBe(2);
    expect(entries.map((e) => e.name)).toEqual(['a', 'b']);
    writeFileSync(list, v1);
    await expect(host(list, floorDir).loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListRollback',
    });
    await expect(
      host(list, floorDir, { minTrustListVersion: 5 }).loadAndDecryptTrustList(key),
    ).rejects.toMatchObject({ code: 'TrustListRollback', details: { minListVersion: 5 } });
  });
});
