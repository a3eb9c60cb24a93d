// audit s10b: a revocation (audit8 #1's fix) reaches a host that loaded the list before it, whichever door the host
// uses and whoever removed the entry: discovery's verifyArtifact, verifyPlugin, a second instance on the same list,
// a removal saved by another PluginSecurity (encryptAndSaveTrustList), and a re-add then remove cycle (the second
// removal must count again). Each case also checks the host still admits its other trusted build. Passes on main 0d92f53.
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

const dir = tempDir('audit-revocation-paths');
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
  const floors = tempDir(`audit-revocation-paths-floors-${tag}`);
  const policy = { trustListPath: join(dir, `${tag}.enc`), rollbackFloorDir: floors };
  const key = toHex(randomBytes(32));
  await updateTrustList(policy.trustListPath, key, (es) => [...es, evil.entry, good.entry], {
    floorDir: floors,
  });
  const loaded = async () => {
    const s = new PluginSecurity(policy, [pub]);
    await s.loadAndDecryptTrustList(key);
    return s;
  };
  const revoke = () =>
    updateTrustList(policy.trustListPath, key, (es) => es.filter((e) => e.hash !== evil.entry.hash), {
      create: false,
      floorDir: floors,
    });
  return { evil, good, floors, policy, key, loaded, revoke };
}

const refusal = (p: Promise<unknown>) =>
  p.then(
    () => 'admitted',
    (e: { code?: string; details?: { reason?: string } }) => `${e.code} ${e.details?.reason ?? ''}`.trim(),
  );

describe('a revocation reaches a running host through every door', () => {
  it('verifyArtifact (discovery), verifyPlugin and admit of two instances loaded before it', async () => {
    const { evil, good, loaded, revoke } = await scene('doors');
    const a = await loaded();
    const b = await loaded();
    await expect(a.admit(evil.path, 'trusted')).resolves.toMatchObject({ hash: evil.entry.hash });
    await revoke();
    // Discovery records a plugin from verifyArtifact: no trust entry may come back for the revoked build.
    expect(await refusal(b.verifyArtifact(evil.path))).toBe('UntrustedPlugin revoked');
    expect(await b.verifyPlugin(evil.path)).toBe(false);
    expect(await refusal(a.admit(evil.path, 'trusted'))).toBe('UntrustedPlugin revoked');
    // Dropped: asked again, still refused (now as not listed), and the reservation of its name stays.
    expect(await refusal(a.admit(evil.path, 'trusted'))).toMatch(/^UntrustedPlugin/);
    expect(a.isReservedName(evil.entry.name ?? '')).toBe(true);
    await expect(a.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
    await expect(b.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
  });

  it('a removal saved by another PluginSecurity (encryptAndSaveTrustList) reaches the first', async () => {
    const { evil, good, loaded, key } = await scene('save');
    const host = await loaded();
    const admin = await loaded();
    expect(admin.removeTrustedPlugin(evil.entry.hash)).toBe(true);
    await admin.encryptAndSaveTrustList(key);
    expect(await refusal(host.admit(evil.path, 'trusted'))).toBe('UntrustedPlugin revoked');
    await expect(host.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
  });

  it('removed, put back, removed again: the second removal counts for a host loaded before the first', async () => {
    const { evil, good, floors, policy, key, loaded, revoke } = await scene('cycle');
    const host = await loaded();
    await revoke();
    await updateTrustList(policy.trustListPath, key, (es) => [...es, evil.entry], { floorDir: floors });
    const between = await loaded();
    await expect(between.admit(evil.path, 'trusted')).resolves.toMatchObject({ hash: evil.entry.hash });
    await revoke();
    expect(await refusal(host.admit(evil.path, 'trusted'))).toBe('UntrustedPlugin revoked');
    expect(await refusal(between.admit(evil.path, 'trusted'))).toBe('UntrustedPlugin revoked');
    await expect(host.admit(good.path, 'trusted')).resolves.toMatchObject({ hash: good.entry.hash });
  });
});
