// `verifyPlugin` and `verifyArtifact` attacked with a stale host: a host that loaded the trust list before another
// host admitted foo@2.0.0 must not call foo@1.0.0 good (admission refuses it as a downgrade: the floor record says
// 2.0.0). Every trust decision that refuses downgrades reads the list's floor record as it is now, not only memory.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  PluginSecurity,
  readManifest,
  toHex,
  trustEntryFromManifest,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('verify-floor');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

async function build(file: string, content: string, version: string) {
  const { path } = await signedArtifact(dir, file, content, { name: 'foo', version, keys: publisher });
  const e = trustEntryFromManifest(await readManifest(path), pub);
  // The Rust API reference's entry shape (no name): only the floor record knows 2.0.0 was admitted.
  return {
    path,
    entry: { hash: e.hash, version: e.version, ...(e.signature ? { signature: e.signature } : {}) },
  };
}

async function hosts(tag: string) {
  const v2 = await build(`${tag}2.mjs`, `export default '${tag}2';`, '2.0.0');
  const v1 = await build(`${tag}1.mjs`, `export default '${tag}1';`, '1.0.0');
  const policy = { trustListPath: join(dir, `${tag}-list.enc`), rollbackFloorDir: tempDir(`${tag}-floors`) };
  const key = toHex(randomBytes(32));
  await new PluginSecurity(policy, [pub], [v1.entry, v2.entry]).encryptAndSaveTrustList(key);
  const open = async () => {
    const h = new PluginSecurity(policy, [pub]);
    await h.loadAndDecryptTrustList(key);
    return h;
  };
  return { v1, v2, open };
}

describe('verifyPlugin consults the floor record as admission does', () => {
  it('before another host admits 2.0.0, 1.0.0 (listed by bare hash) verifies; after, a stale host says false', async () => {
    const { v1, v2, open } = await hosts('bare');
    const stale = await open();
    const upgraded = await open();
    expect(await stale.verifyPlugin(v1.path)).toBe(true);
    await upgraded.admit(v2.path, 'trusted');
    expect(await stale.verifyPlugin(v1.path)).toBe(false);
  });

  it('a stale host: verifyArtifact refuses with VersionDowngrade, as admit does; the newer build still verifies', async () => {
    const { v1, v2, open } = await hosts('stale');
    const stale = await open();
    const upgraded = await open();
    await upgraded.admit(v2.path, 'trusted');
    await expect(stale.verifyArtifact(v1.path)).rejects.toMatchObject({ code: 'VersionDowngrade' });
    await expect(stale.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
    expect(await stale.verifyPlugin(v2.path)).toBe(true);
  });

  it('a floor record removed after load: verifyPlugin says false (fails closed as admit does)', async () => {
    const { v1, open } = await hosts('gone');
    const h = await open();
    expect(await h.verifyPlugin(v1.path)).toBe(true);
    const floors = h.policy.rollbackFloorDir as string;
    for (const f of readdirSync(floors)) rmSync(join(floors, f));
    await expect(h.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'RollbackFloorMissing' });
    expect(await h.verifyPlugin(v1.path)).toBe(false);
  });
});
