// The security surface as the Rust API reference documents it: `load_and_decrypt_trust_list` gives the entries,
// `PluginVersion::from_string`, and a `TrustedPluginEntry` of the documented shape `{ hash, version, signature, note? }`.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { PluginVersion, type TrustedPluginEntry } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, PluginSecurity, readManifest, toHex } from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('reference');
const publisher = generateKeyPair();

/** A signed artifact and its entry in the reference's shape: only hash, version and signature. */
async function referenceEntry(file: string, name: string, version = '1.0.0') {
  const { path } = await signedArtifact(dir, file, `export default ${JSON.stringify(name)};`, {
    name,
    version,
    keys: publisher,
  });
  const m = await readManifest(path);
  const entry: TrustedPluginEntry = { hash: m.artifact.sha3_512, version, signature: m.signature.value };
  return { path, entry };
}

describe('PluginVersion.fromString', () => {
  it('parses like PluginVersion.parse and refuses what it refuses', () => {
    expect(PluginVersion.fromString('1.2.3-rc.1+b7').toString()).toBe('1.2.3-rc.1+b7');
    expect(PluginVersion.fromString('2.0.0').compare(PluginVersion.parse('2.0.0'))).toBe(0);
    expect(() => PluginVersion.fromString('1.2')).toThrow(
      expect.objectContaining({ code: 'InvalidVersion' }),
    );
  });
});

describe('TrustedPluginEntry in the documented shape { hash, version, signature, note? }', () => {
  it('is accepted, and admits the artifact it names as trusted (signer pinned by the host)', async () => {
    const { path, entry } = await referenceEntry('ref-ok.mjs', 'ref-ok');
    const sec = new PluginSecurity({}, [publisher.publicKey]);
    sec.addTrustedPlugin({ ...entry, note: 'approved in TICKET-1' });
    expect(await sec.verifyPlugin(path)).toBe(true);
    const v = await sec.admit(path, 'trusted');
    // What was verified completes the entry that flows on (name and signer).
    expect(v.trustEntry).toMatchObject({
      ...entry,
      name: 'ref-ok',
      keyId: (await readManifest(path)).signature.keyId,
    });
  });

  it('still binds version and signature: another version or another signature of the same bytes is refused', async () => {
    const { path, entry } = await referenceEntry('ref-bind.mjs', 'ref-bind');
    const wrongVersion = new PluginSecurity({}, [publisher.publicKey], [{ ...entry, version: '1.0.1' }]);
    await expect(wrongVersion.admit(path, 'trusted')).rejects.toMatchObject({
      code: 'SecurityError',
      details: { field: 'version' },
    });
    const wrongSig = new PluginSecurity(
      {},
      [publisher.publicKey],
      [{ ...entry, signature: 'ab'.repeat(64) }],
    );
    await expect(wrongSig.admit(path, 'trusted')).rejects.toMatchObject({
      code: 'SecurityError',
      details: { field: 'signature' },
    });
  });

  it('without a public key in the entry, the signer must be pinned', async () => {
    const { path, entry } = await referenceEntry('ref-unpinned.mjs', 'ref-unpinned');
    await expect(new PluginSecurity({}, [], [entry]).admit(path, 'trusted')).rejects.toMatchObject({
      code: 'UnknownSigner',
    });
  });

  it('keyId and publicKey go together; malformed fields are still refused', () => {
    const sec = new PluginSecurity();
    const base = { hash: 'ab'.repeat(64), version: '1.0.0' };
    expect(() => sec.addTrustedPlugin({ ...base, keyId: '0123456789abcdef' })).toThrow(/go together/);
    expect(() => sec.addTrustedPlugin({ ...base, version: 'one' })).toThrow(/semver/);
    expect(() => sec.addTrustedPlugin({ ...base, name: 'Not A Name' })).toThrow(/plugin name/);
    expect(() => sec.addTrustedPlugin(base)).not.toThrow();
  });
});

describe('loadAndDecryptTrustList', () => {
  it('resolves to the entries of the list (the version is listVersion)', async () => {
    const trustListPath = join(dir, 'list.enc');
    const key = toHex(randomBytes(32));
    const { entry } = await referenceEntry('ref-list.mjs', 'ref-list');
    const writer = new PluginSecurity({ trustListPath }, [publisher.publicKey], [entry]);
    await writer.encryptAndSaveTrustList(key);
    const reader = new PluginSecurity({ trustListPath }, [publisher.publicKey]);
    const entries = await reader.loadAndDecryptTrustList(key);
    expect(entries).toEqual([entry]);
    expect(reader.listVersion).toBe(1);
    // A copy: changing it changes nothing in the gate.
    entries.length = 0;
    expect(reader.trustedPlugins).toEqual([entry]);
  });
});
