// audit s10 #1 (→ packages/security/test/): a revocation (`plugward trust rm`, i.e. `updateTrustList` removing the
// entry) does not reach a running host: its PluginSecurity keeps the entries it loaded and goes on admitting the
// revoked build as trusted — on a re-load, a reload after a crash, a `loadPluginByName` — for as long as it runs.
// Admission already reads the list's floor record *as it is now* on every trusted admit (per-name version floors,
// another host's newer build), and that record carries the list version the revocation wrote: the host can tell that
// the list changed since it loaded it, but never looks. Expected (documented-behaviour view of "a revoked entry never
// comes back"): after the revocation the stale host refuses the revoked build (or refuses every trusted admission until
// it reloads the list). Fails on main 7891584: the revoked build is admitted as trusted.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  PluginSecurity,
  readManifest,
  toHex,
  trustEntryFromManifest,
  updateTrustList,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('audit-revoked');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

describe('a revocation reaches a host that loaded the list before it', () => {
  it('trust rm while the host runs: the next trusted admission of the revoked build is refused', async () => {
    const { path } = await signedArtifact(dir, 'evil.mjs', 'export default {};', {
      name: 'evil',
      version: '1.0.0',
      keys: publisher,
    });
    const entry = trustEntryFromManifest(await readManifest(path), pub);
    const policy = {
      trustListPath: join(dir, 'list.enc'),
      rollbackFloorDir: tempDir('audit-revoked-floors'),
    };
    const key = toHex(randomBytes(32));
    // The operator trusts it (plugward trust add).
    await updateTrustList(policy.trustListPath, key, (es) => [...es, entry], {
      floorDir: policy.rollbackFloorDir,
    });
    // A long-running host loads the list and admits it (as PluginRegistry.loadPlugin does).
    const host = new PluginSecurity(policy, [pub]);
    await host.loadAndDecryptTrustList(key);
    await expect(host.admit(path, 'trusted')).resolves.toMatchObject({ hash: entry.hash });
    // The operator revokes it (plugward trust rm evil@1.0.0) while the host runs.
    await updateTrustList(policy.trustListPath, key, (es) => es.filter((e) => e.hash !== entry.hash), {
      create: false,
      floorDir: policy.rollbackFloorDir,
    });
    // The host unloads it (or it crashed) and loads it again: it must not be admitted as trusted any more.
    const again = await host.admit(path, 'trusted').then(
      (v) => `admitted as trusted (trust entry ${v.trustEntry?.name}@${v.trustEntry?.version})`,
      (e: { code?: string }) => `refused ${e.code}`,
    );
    expect(again).toMatch(/^refused /);
    expect(await host.verifyPlugin(path)).toBe(false);
  });

  it('only the revoked hash is refused: another change of the list leaves the host admitting, and a hash put back is admitted again', async () => {
    const floors = tempDir('audit-revoked-floors-2');
    const listPath = join(dir, 'list2.enc');
    const policy = { trustListPath: listPath, rollbackFloorDir: floors };
    const key = toHex(randomBytes(32));
    const built = async (name: string) => {
      const { path } = await signedArtifact(dir, `${name}.mjs`, `export default { name: '${name}' };`, {
        name,
        version: '1.0.0',
        keys: publisher,
      });
      return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
    };
    const good = await built('good');
    const other = await built('other');
    const late = await built('late');
    const opts = { floorDir: floors };
    await updateTrustList(listPath, key, (es) => [...es, good.entry, other.entry], opts);
    const host = new PluginSecurity(policy, [pub]);
    await host.loadAndDecryptTrustList(key);
    // Elsewhere: one entry removed, one added.
    await updateTrustList(
      listPath,
      key,
      (es) => [...es.filter((e) => e.hash !== other.entry.hash), late.entry],
      opts,
    );
    await expect(host.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
    await expect(host.admit(other.path, 'trusted')).rejects.toMatchObject({
      code: 'UntrustedPlugin',
      details: { reason: 'revoked' },
    });
    // Put back: a host that reloads the list admits it again.
    await updateTrustList(listPath, key, (es) => [...es, other.entry], opts);
    const fresh = new PluginSecurity(policy, [pub]);
    await fresh.loadAndDecryptTrustList(key);
    await expect(fresh.admit(other.path, 'trusted')).resolves.toMatchObject({ hash: other.entry.hash });
    await expect(host.loadAndDecryptTrustList(key)).resolves.toHaveLength(3);
    await expect(host.admit(other.path, 'trusted')).resolves.toMatchObject({ hash: other.entry.hash });
  });
});
