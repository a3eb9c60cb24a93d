// Per-name version floors for trust entries without a name (the Rust API reference's entry shape), attacked.
// A host that loaded the list before another host (or another PluginSecurity of the same host) admitted 2.0.0 must
// refuse 1.0.0 listed by bare hash: every trusted admission checks the name's floor in the record as it is now.
// A plugin named `constructor` (a valid name) must be admitted once the record holds another name's floor: plugin
// names index the record's versions, which must not read Object.prototype.
import { randomBytes } from 'node:crypto';
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

const dir = tempDir('audit-bare-floors');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

async function build(file: string, content: string, name: string, version: string) {
  const { path } = await signedArtifact(dir, file, content, { name, version, keys: publisher });
  const e = trustEntryFromManifest(await readManifest(path), pub);
  // The Rust API reference's entry shape: no name.
  return {
    path,
    entry: { hash: e.hash, version: e.version, ...(e.signature ? { signature: e.signature } : {}) },
  };
}

async function host(tag: string, entries: { hash: string; version: string }[]) {
  const policy = { trustListPath: join(dir, `${tag}-list.enc`), rollbackFloorDir: tempDir(`${tag}-floors`) };
  const key = toHex(randomBytes(32));
  await new PluginSecurity(policy, [pub], entries).encryptAndSaveTrustList(key);
  const open = async () => {
    const h = new PluginSecurity(policy, [pub]);
    await h.loadAndDecryptTrustList(key);
    return h;
  };
  return open;
}

describe('audit: bare-entry version floors', () => {
  it('a host that loaded the list before another admitted 2.0.0 refuses 1.0.0 too', async () => {
    const v2 = await build('stale2.mjs', 'export default 2;', 'stale', '2.0.0');
    const v1 = await build('stale1.mjs', 'export default 1;', 'stale', '1.0.0');
    const open = await host('stale', [v1.entry, v2.entry]);
    const longRunning = await open();
    const upgraded = await open();
    await upgraded.admit(v2.path, 'trusted');
    // The attacker swaps the old signed build in where the long-running host loads from.
    await expect(longRunning.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
  });

  it('a host that admitted 1.0.0 itself refuses it again once another host admitted 2.0.0', async () => {
    const v2 = await build('again2.mjs', 'export default 2;', 'again', '2.0.0');
    const v1 = await build('again1.mjs', 'export default 1;', 'again', '1.0.0');
    const open = await host('again', [v1.entry, v2.entry]);
    const longRunning = await open();
    await longRunning.admit(v1.path, 'trusted');
    const upgraded = await open();
    await upgraded.admit(v2.path, 'trusted');
    await expect(longRunning.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
    // The refusal raised the long-running host's own floor: 2.0.0 is the highest it accepts from now on.
    await expect(longRunning.admit(v2.path, 'trusted')).resolves.toBeDefined();
  });

  it('an untrusted plugin may not take a name another host admitted as trusted after this one loaded the list', async () => {
    const trusted = await build('claimed.mjs', 'export default 1;', 'claimed', '1.0.0');
    const policy = {
      trustListPath: join(dir, 'claim-list.enc'),
      rollbackFloorDir: tempDir('claim-floors'),
      onlyTrusted: false,
    };
    const key = toHex(randomBytes(32));
    await new PluginSecurity(policy, [pub], [trusted.entry]).encryptAndSaveTrustList(key);
    const longRunning = new PluginSecurity(policy, [pub]);
    await longRunning.loadAndDecryptTrustList(key);
    const other = new PluginSecurity(policy, [pub]);
    await other.loadAndDecryptTrustList(key);
    await other.admit(trusted.path, 'trusted');
    // Another build under the same name, admitted as untrusted: the registry asks isReservedName next.
    const impostor = await build('impostor.mjs', 'export default 666;', 'claimed', '9.0.0');
    await longRunning.admit(impostor.path, 'untrusted');
    expect(longRunning.isReservedName('claimed')).toBe(true);
  });

  it('a plugin named constructor is admitted like any other name', async () => {
    const other = await build('ctor-other.mjs', 'export default 0;', 'other', '1.0.0');
    const ctor = await build('ctor.mjs', 'export default 1;', 'constructor', '1.0.0');
    const open = await host('ctor', [other.entry, ctor.entry]);
    const h = await open();
    await h.admit(other.path, 'trusted');
    expect((await h.admit(ctor.path, 'trusted')).manifest.name).toBe('constructor');
  });
});
