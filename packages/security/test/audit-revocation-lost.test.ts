// audit s10b (→ packages/security/test/): a revocation reaches a running host only when the write that removed the
// entry was `updateTrustList`/`encryptAndSaveTrustList`. Two other documented writes of the list under the same key
// drop what a running host needs to refuse a revoked build: `saveTrustList` (writes the data as given, records no
// removed hash) and `resetTrustListFloor` (`plugward trust floor --reset`, the documented recovery of a floor record
// that is gone: the new record has no revocations). Expected (security README, "A revocation reaches a running host"):
// a host that loaded the list before the entry was removed refuses it afterwards, whatever wrote the list.
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  loadTrustList,
  PluginSecurity,
  readManifest,
  resetTrustListFloor,
  rollbackFloorPath,
  saveTrustList,
  toHex,
  trustEntryFromManifest,
  updateTrustList,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('audit-revocation-lost');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

async function scene(tag: string) {
  const build = async (name: string) => {
    const { path } = await signedArtifact(dir, `${tag}-${name}.mjs`, `export default { name: '${name}' };`, {
      name: `${tag}-${name}`,
      version: '1.0.0',
      keys: publisher,
    });
    return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
  };
  const evil = await build('evil');
  const good = await build('good');
  const floors = tempDir(`audit-revocation-lost-floors-${tag}`);
  const policy = { trustListPath: join(dir, `${tag}.enc`), rollbackFloorDir: floors };
  const key = toHex(randomBytes(32));
  await updateTrustList(policy.trustListPath, key, (es) => [...es, evil.entry, good.entry], {
    floorDir: floors,
  });
  const host = new PluginSecurity(policy, [pub]);
  await host.loadAndDecryptTrustList(key);
  await expect(host.admit(evil.path, 'trusted')).resolves.toMatchObject({ hash: evil.entry.hash });
  return { evil, good, floors, policy, key, host };
}

const outcome = (p: Promise<{ trustEntry?: { name?: string } }>) =>
  p.then(
    (v) => `admitted as trusted (${v.trustEntry?.name})`,
    (e: { code?: string; details?: { reason?: string } }) =>
      `refused ${e.code} ${e.details?.reason ?? ''}`.trim(),
  );

describe('a revocation written by another documented write still reaches a running host', () => {
  it('saveTrustList (same key) without the entry: the running host refuses the revoked build', async () => {
    const { evil, good, floors, policy, key, host } = await scene('save');
    const now = await loadTrustList(policy.trustListPath, key, { floorDir: floors });
    await saveTrustList(
      policy.trustListPath,
      {
        ...now,
        listVersion: now.listVersion + 1,
        entries: now.entries.filter((e) => e.hash !== evil.entry.hash),
      },
      key,
      { floorDir: floors },
    );
    expect(await outcome(host.admit(evil.path, 'trusted'))).toMatch(/^refused /);
    expect(await host.verifyPlugin(evil.path)).toBe(false);
    // The host still serves its other trusted plugin.
    await expect(host.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
  });

  it('trust floor --reset after the floor record was lost: a revocation made before it is not forgotten', async () => {
    const { evil, floors, policy, key, host } = await scene('reset');
    await updateTrustList(policy.trustListPath, key, (es) => es.filter((e) => e.hash !== evil.entry.hash), {
      create: false,
      floorDir: floors,
    });
    // Revoked: another host on the same list sees it refused (the fix of audit8 #1); this host has not tried yet.
    const other = new PluginSecurity(policy, [pub]);
    await other.loadAndDecryptTrustList(key);
    expect(await outcome(other.admit(evil.path, 'trusted'))).toMatch(/^refused /);
    // The record is lost (a disk error, a cleanup, audit8 #5's rimraf race) and the operator runs the documented
    // recovery, `plugward trust floor --reset`, with the list that is on disk (the right one: the entry is not on it).
    rmSync(rollbackFloorPath(floors, policy.trustListPath), { force: true });
    await resetTrustListFloor(policy.trustListPath, key, { floorDir: floors });
    // A fresh host does not admit it (it is not on the list)…
    const fresh = new PluginSecurity(policy, [pub]);
    await fresh.loadAndDecryptTrustList(key);
    expect(await outcome(fresh.admit(evil.path, 'trusted'))).toMatch(/^refused /);
    // …and neither may the host that loaded the list before the revocation.
    expect(await outcome(host.admit(evil.path, 'trusted'))).toMatch(/^refused /);
  });
});
