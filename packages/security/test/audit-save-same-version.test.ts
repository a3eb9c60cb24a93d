// audit s10b (→ packages/security/test/): saveTrustList writes "data as given" — also a list version that is not above
// the one on disk (the testkit's scene saves `listVersion: 1` every time; a key rotation that forgets to carry the
// version on). The removals it now records (c88059d) are recorded *at that version*, which a running host that loaded
// the list at the same version takes for "already seen": the revoked build is still admitted. Expected: a running host
// refuses a build removed by any later write (or saveTrustList refuses a version not above the file's).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  PluginSecurity,
  readManifest,
  saveTrustList,
  toHex,
  trustEntryFromManifest,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('audit-save-same-version');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

describe('saveTrustList with the same list version', () => {
  it('a removal saved at the version the host loaded still reaches the host', async () => {
    const { path } = await signedArtifact(dir, 'evil.mjs', 'export default {};', {
      name: 'evil',
      version: '1.0.0',
      keys: publisher,
    });
    const entry = trustEntryFromManifest(await readManifest(path), pub);
    const floors = tempDir('audit-save-same-version-floors');
    const policy = { trustListPath: join(dir, 'list.enc'), rollbackFloorDir: floors };
    const key = toHex(randomBytes(32));
    await saveTrustList(policy.trustListPath, { listVersion: 1, entries: [entry] }, key, {
      floorDir: floors,
    });
    const host = new PluginSecurity(policy, [pub]);
    await host.loadAndDecryptTrustList(key);
    await expect(host.admit(path, 'trusted')).resolves.toMatchObject({ hash: entry.hash });
    const saved = saveTrustList(policy.trustListPath, { listVersion: 1, entries: [] }, key, {
      floorDir: floors,
    });
    const wrote = await saved.then(
      () => 'saved',
      (e: { code?: string }) => `refused ${e.code}`,
    );
    const outcome = await host.admit(path, 'trusted').then(
      () => 'admitted as trusted',
      (e: { code?: string }) => `refused ${e.code}`,
    );
    // Either the save is refused (the revocation did not happen: nothing to reach the host), or the host refuses.
    expect({ wrote, outcome }).not.toEqual({ wrote: 'saved', outcome: 'admitted as trusted' });
  });
});
