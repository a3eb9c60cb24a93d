import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PluginManifest } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  hashBytes,
  manifestPathFor,
  PluginSecurity,
  readManifest,
  toHex,
  trustEntryFromManifest,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('security');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

async function trusted(file: string, content: string, name = 'hello', version = '1.0.0') {
  const { path } = await signedArtifact(dir, file, content, { name, version, keys: publisher });
  return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
}

describe('PluginSecurity.verifyArtifact', () => {
  it('accepts a pinned, listed artifact and returns the exact verified bytes', async () => {
    const { path, entry } = await trusted('ok.mjs', 'export default 42;');
    const sec = new PluginSecurity({ onlyTrusted: true }, [pub], [entry]);
    const v = await sec.verifyArtifact(path);
    expect(new TextDecoder().decode(v.bytes)).toBe('export default 42;');
    expect(v.hash).toBe(hashBytes(v.bytes));
    expect(v.trustEntry?.hash).toBe(v.hash);
    expect(v.manifestPath).toBe(manifestPathFor(path));
    expect(await sec.verifyPlugin(path)).toBe(true);
    expect(sec.isTrustedHash(v.hash)).toBe(true);
    expect(sec.getPluginInfo(v.hash)?.name).toBe('hello');
    // Swapping the file after verification does not change the bytes handed out.
    writeFileSync(path, 'process.exit(1)');
    expect(new TextDecoder().decode(v.bytes)).toBe('export default 42;');
  });

  it('a manifest whose hash does not match the artifact', async () => {
    const { path, entry } = await trusted('tampered.mjs', 'export default 1;');
    writeFileSync(path, 'export default 2;');
    const sec = new PluginSecurity({}, [pub], [entry]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'HashMismatch' });
    expect(await sec.verifyPlugin(path)).toBe(false);
  });

  it('a key that is not pinned is accepted only through the trust entry of that exact artifact', async () => {
    const other = generateKeyPair();
    const { path } = await signedArtifact(dir, 'listed-key.mjs', 'listed', { name: 'listed', keys: other });
    const entry = trustEntryFromManifest(await readManifest(path), other.publicKey);
    expect((await new PluginSecurity({}, [], [entry]).verifyArtifact(path)).trustEntry?.keyId).toBe(
      entry.keyId,
    );
    // The same key does not vouch for another artifact it signed.
    const { path: second } = await signedArtifact(dir, 'listed-key2.mjs', 'other', {
      name: 'listed2',
      keys: other,
    });
    await expect(
      new PluginSecurity({ onlyTrusted: false }, [], [entry]).verifyArtifact(second),
    ).rejects.toMatchObject({
      code: 'UnknownSigner',
    });
  });

  it('a signature by an unpinned key', async () => {
    const { path } = await signedArtifact(dir, 'stranger.mjs', 'x', { name: 'stranger' });
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'UnknownSigner' });
  });

  it('a forged signature value with a pinned key id', async () => {
    const { path, entry } = await trusted('forged.mjs', 'y', 'forged');
    const m = JSON.parse(readFileSync(manifestPathFor(path), 'utf8')) as PluginManifest;
    m.signature.value = toHex(randomBytes(64));
    writeFileSync(manifestPathFor(path), JSON.stringify(m));
    const sec = new PluginSecurity({}, [pub], [{ ...entry, signature: undefined } as never]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'InvalidSignature' });
  });

  it("plugin A's signed manifest presented with plugin B", async () => {
    const a = await trusted('a.mjs', 'plugin A', 'plugin-a');
    const b = await trusted('b.mjs', 'plugin B', 'plugin-b');
    const sec = new PluginSecurity({}, [pub], [a.entry, b.entry]);
    // A's manifest beside B's artifact under B's name: file name and hash both differ.
    copyFileSync(manifestPathFor(a.path), manifestPathFor(b.path));
    await expect(sec.verifyArtifact(b.path)).rejects.toMatchObject({ code: 'InvalidManifest' });
    // B's bytes under A's file name with A's manifest: the hash differs.
    copyFileSync(b.path, a.path);
    await expect(sec.verifyArtifact(a.path)).rejects.toMatchObject({ code: 'HashMismatch' });
  });

  it('an untrusted but validly signed plugin: refused under onlyTrusted, let through (no trustEntry) otherwise', async () => {
    const { path } = await signedArtifact(dir, 'unlisted.mjs', 'z', { name: 'unlisted', keys: publisher });
    await expect(new PluginSecurity({ onlyTrusted: true }, [pub]).verifyArtifact(path)).rejects.toMatchObject(
      {
        code: 'UntrustedPlugin',
      },
    );
    const v = await new PluginSecurity({ onlyTrusted: false }, [pub]).verifyArtifact(path);
    expect(v.trustEntry).toBeUndefined();
  });

  it('same name and version with different bytes', async () => {
    const { path, entry } = await trusted('same.mjs', 'original', 'same', '3.0.0');
    // Re-sign different bytes at the same version with the same (pinned) key.
    await signedArtifact(dir, 'same.mjs', 'different bytes', {
      name: 'same',
      version: '3.0.0',
      keys: publisher,
    });
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], [entry]);
    await expect(sec.verifyArtifact(path)).rejects.toThrow(/trusted with different bytes/);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'HashMismatch' });
  });

  it('a trust entry whose pinned signature differs from the manifest', async () => {
    const { path, entry } = await trusted('pin.mjs', 'pinned', 'pin');
    const sec = new PluginSecurity({}, [pub], [{ ...entry, signature: 'ab'.repeat(64) }]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({
      code: 'SecurityError',
      details: { field: 'signature' },
    });
  });

  it('downgrade protection: refused by default, allowed by policy', async () => {
    const v2 = await trusted('dg2.mjs', 'v2', 'dg', '2.0.0');
    const v1 = await trusted('dg1.mjs', 'v1', 'dg', '1.9.9');
    const strict = new PluginSecurity({}, [pub], [v1.entry, v2.entry]);
    await expect(strict.verifyArtifact(v1.path)).rejects.toMatchObject({ code: 'VersionDowngrade' });
    expect((await strict.verifyArtifact(v2.path)).manifest.version).toBe('2.0.0');
    const lax = new PluginSecurity({ allowDowngrade: true }, [pub], [v1.entry, v2.entry]);
    expect((await lax.verifyArtifact(v1.path)).manifest.version).toBe('1.9.9');
    // Within one host run: after 2.0.0 was verified, an unlisted older one is refused too.
    const run = new PluginSecurity({ onlyTrusted: false }, [pub], [v2.entry]);
    await run.verifyArtifact(v2.path);
    await expect(run.verifyArtifact(v1.path)).rejects.toMatchObject({ code: 'VersionDowngrade' });
  });

  it('refuses artifacts over maxArtifactBytes and missing files with codes', async () => {
    const { path, entry } = await trusted('big.mjs', 'x'.repeat(1000), 'big');
    const sec = new PluginSecurity({ maxArtifactBytes: 999 }, [pub], [entry]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'FileTooLarge' });
    await expect(sec.verifyArtifact(join(dir, 'nothing.mjs'))).rejects.toMatchObject({ code: 'NotFound' });
    expect(await sec.verifyPlugin(join(dir, 'nothing.mjs'))).toBe(false);
  });

  it('refuses to pin small-order keys or list entries with them', () => {
    expect(() => new PluginSecurity({}, [`01${'00'.repeat(31)}`])).toThrow(/small order/);
    const { publicKey } = generateKeyPair();
    expect(() =>
      new PluginSecurity({}, [publicKey]).addTrustedPlugin({
        name: 'x',
        version: '1.0.0',
        hash: 'ab'.repeat(64),
        keyId: '0'.repeat(16),
        publicKey: `ecff${'ff'.repeat(29)}7f`,
        addedAt: 'now',
      }),
    ).toThrow(/TrustList|rejected|keyId/);
  });
});

describe('PluginSecurity trust list persistence', () => {
  it('save, load, replay refusal, wrong key', async () => {
    const path = join(dir, 'data', 'list.enc');
    const key = toHex(randomBytes(32));
    const { entry } = await trusted('persist.mjs', 'p', 'persist');
    const a = new PluginSecurity({ trustListPath: path }, [pub], [entry]);
    expect(await a.encryptAndSaveTrustList(key)).toBe(1);
    const old = readFileSync(path);
    expect(a.removeTrustedPlugin(entry.hash)).toBe(true);
    expect(await a.encryptAndSaveTrustList(key)).toBe(2);

    const b = new PluginSecurity({ trustListPath: path }, [pub]);
    await b.loadAndDecryptTrustList(key);
    expect(b.listVersion).toBe(2);
    expect(b.trustedPlugins).toEqual([]);
    const latest = readFileSync(path);
    writeFileSync(path, old);
    await expect(b.loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'replayed' },
    });
    const c = new PluginSecurity({ trustListPath: path, minTrustListVersion: 2 }, [pub]);
    await expect(c.loadAndDecryptTrustList(key)).rejects.toMatchObject({
      code: 'TrustListRollback',
      details: { reason: 'replayed' },
    });
    await expect(
      new PluginSecurity({ trustListPath: path }).loadAndDecryptTrustList(toHex(randomBytes(32))),
    ).rejects.toMatchObject({ code: 'TrustListError' });
    // A fresh instance refuses to save over the replayed file (its floor is 2), and continues from the real one.
    const d = new PluginSecurity({ trustListPath: path }, [pub], [entry]);
    await expect(d.encryptAndSaveTrustList(key)).rejects.toMatchObject({ code: 'TrustListRollback' });
    writeFileSync(path, latest);
    expect(await d.encryptAndSaveTrustList(key)).toBe(3);
  });
});

describe('PluginSecurity.verifyIntegrity', () => {
  it('checks bytes against the manifest without any trust, and never returns a trust entry', async () => {
    const stranger = generateKeyPair();
    const { path } = await signedArtifact(dir, 'stranger.mjs', 'export default 7;', {
      name: 'stranger',
      keys: stranger,
    });
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], []);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'UnknownSigner' });
    const v = await sec.verifyIntegrity(path);
    expect(new TextDecoder().decode(v.bytes)).toBe('export default 7;');
    expect(v.trustEntry).toBeUndefined();
    writeFileSync(path, 'export default 8;');
    await expect(sec.verifyIntegrity(path)).rejects.toMatchObject({ code: 'HashMismatch' });
  });

  it('a mismatch never reports the hash it found (the artifact may be a symlink to a secret only the host reads)', async () => {
    const { path } = await signedArtifact(dir, 'oracle.mjs', 'export default 7;', { name: 'oracle' });
    const pin = '482913';
    writeFileSync(path, pin);
    const found = createHash('sha3-512').update(pin).digest('hex');
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], []);
    for (const check of [() => sec.verifyIntegrity(path), () => sec.verifyArtifact(path)]) {
      const err = (await check().catch((e: unknown) => e)) as Error & { code: string; details?: unknown };
      expect(err.code).toBe('HashMismatch');
      expect(`${err.message} ${JSON.stringify(err.details ?? {})}`).not.toContain(found.slice(0, 16));
    }
  });
});

describe('PluginSecurity.admit: the one admission decision', () => {
  it('trusted = verified and listed: a listed artifact is admitted with its trust entry and exact bytes', async () => {
    const { path, entry } = await trusted('admit-ok.mjs', 'export default "ok";', 'admit-ok');
    const v = await new PluginSecurity({}, [pub], [entry]).admit(path, 'trusted');
    expect(v.trustEntry?.hash).toBe(entry.hash);
    expect(new TextDecoder().decode(v.bytes)).toBe('export default "ok";');
  });

  it('a signed artifact that is not on the list is refused as trusted even when the policy lets untrusted ones in', async () => {
    const { path } = await trusted('admit-unlisted.mjs', 'export default 1;', 'admit-unlisted');
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], []);
    expect((await sec.verifyArtifact(path)).trustEntry).toBeUndefined();
    await expect(sec.admit(path, 'trusted')).rejects.toMatchObject({
      code: 'UntrustedPlugin',
      plugin: 'admit-unlisted',
      message: expect.stringMatching(/not on the trust list \(load it as untrusted to sandbox it\)/),
    });
    // The reference's verifyPlugin answers "would it load as trusted", not "does its signature verify".
    expect(await sec.verifyPlugin(path)).toBe(false);
  });

  it('untrusted under onlyTrusted is refused before the artifact is opened', async () => {
    const { path } = await trusted('admit-fifo.mjs', 'export default 2;', 'admit-fifo');
    unlinkSync(path);
    execFileSync('mkfifo', [path]); // opening it would fail with NotRegularFile
    for (const sec of [new PluginSecurity({}, [pub]), new PluginSecurity({ onlyTrusted: false }, [pub])]) {
      await expect(sec.admit(path, 'untrusted', { onlyTrusted: true })).rejects.toMatchObject({
        code: 'UntrustedPlugin',
        plugin: 'admit-fifo',
        message: expect.stringMatching(/allows only trusted plugins/),
      });
    }
    await expect(
      new PluginSecurity({ onlyTrusted: false }, [pub]).admit(path, 'untrusted'),
    ).rejects.toMatchObject({
      code: 'NotRegularFile',
    });
  });

  it('untrusted = policy allows and hash matches: no trust entry, ever, even for a listed artifact', async () => {
    const { path, entry } = await trusted('admit-untrusted.mjs', 'export default 3;', 'admit-untrusted');
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], [entry]);
    const v = await sec.admit(path, 'untrusted');
    expect(v.trustEntry).toBeUndefined();
    expect(v.hash).toBe(entry.hash);
    writeFileSync(path, 'export default 4;');
    await expect(sec.admit(path, 'untrusted')).rejects.toMatchObject({ code: 'HashMismatch' });
    await expect(sec.admit(path, 'maybe' as 'trusted')).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
