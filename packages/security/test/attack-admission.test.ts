// The attacker's side of admission (PluginSecurity.admit): a supply-chain attacker who can write to the plugin
// directory, holds old signed builds and a key of their own, but not a pinned private key nor the trust list key.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, linkSync, mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  hashBytes,
  manifestPathFor,
  PluginSecurity,
  readManifest,
  resetTrustListFloor,
  toHex,
  trustEntryFromManifest,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('attack-admission');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

async function build(file: string, content: string, name: string, version: string) {
  const { path } = await signedArtifact(dir, file, content, { name, version, keys: publisher });
  return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
}

/** The Rust API reference's entry shape: `{ hash, version, signature }`, no name, key id or date. */
function referenceShape(e: { hash: string; version: string; signature?: string }) {
  return {
    hash: e.hash,
    version: e.version,
    ...(e.signature === undefined ? {} : { signature: e.signature }),
  };
}

describe('admission under attack', () => {
  it('downgrade: an older build still on the list is refused, also with entries of the reference shape (no name)', async () => {
    const v2 = await build('dgref2.mjs', 'export default 2;', 'dgref', '2.0.0');
    const v1 = await build('dgref1.mjs', 'export default 1;', 'dgref', '1.0.0');
    const named = new PluginSecurity({}, [pub], [v1.entry, v2.entry]);
    await expect(named.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
    expect((await named.admit(v2.path, 'trusted')).manifest.version).toBe('2.0.0');
    // Within one host run, after 2.0.0 was admitted, the older build is refused even with entries of the reference
    // shape (no name): the run remembers the name the signed manifest gave.
    const nameless = new PluginSecurity({}, [pub], [referenceShape(v1.entry), referenceShape(v2.entry)]);
    await nameless.admit(v2.path, 'trusted');
    await expect(nameless.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
  });

  it('a validly signed plugin that is not on the list cannot claim trusted', async () => {
    const listed = await build('listed.mjs', 'export default "ok";', 'listed', '1.0.0');
    const unlisted = await build('unlisted.mjs', 'export default "evil";', 'unlisted', '1.0.0');
    for (const onlyTrusted of [true, false]) {
      const sec = new PluginSecurity({ onlyTrusted }, [pub], [listed.entry]);
      await expect(sec.admit(unlisted.path, 'trusted')).rejects.toMatchObject({ code: 'UntrustedPlugin' });
      expect(await sec.verifyPlugin(unlisted.path)).toBe(false);
      expect((await sec.admit(listed.path, 'trusted')).trustEntry?.name).toBe('listed');
    }
  });

  it("a trust entry for another name does not vouch for the attacker's manifest, even with the same bytes", async () => {
    const good = await build('name-good.mjs', 'export default "same";', 'good', '1.0.0');
    // The attacker's own key signs a manifest of other name over the same bytes.
    const attacker = generateKeyPair();
    const { path } = await signedArtifact(dir, 'name-evil.mjs', 'export default "same";', {
      name: 'evil',
      version: '1.0.0',
      keys: attacker,
    });
    const sec = new PluginSecurity({}, [pub], [good.entry]);
    await expect(sec.admit(path, 'trusted')).rejects.toMatchObject({ code: 'UnknownSigner' });
    // Even when the attacker's key is pinned too (another publisher of the host), the entry's name binds.
    const both = new PluginSecurity({}, [pub, attacker.publicKey], [good.entry]);
    await expect(both.admit(path, 'trusted')).rejects.toMatchObject({ code: 'SecurityError' });
    expect((await both.admit(good.path, 'trusted')).manifest.name).toBe('good');
  });

  it('a manifest copied beside another artifact (naming that other file) is refused', async () => {
    const good = await build('named-a.mjs', 'export default "a";', 'na', '1.0.0');
    writeFileSync(join(dir, 'named-b.mjs'), 'export default "b";');
    execFileSync('cp', [manifestPathFor(good.path), manifestPathFor(join(dir, 'named-b.mjs'))]);
    const sec = new PluginSecurity({}, [pub], [good.entry]);
    await expect(sec.admit(join(dir, 'named-b.mjs'), 'trusted')).rejects.toMatchObject({
      code: 'InvalidManifest',
    });
  });

  it('FIFOs, devices and directories as artifact or manifest are refused without hanging', async () => {
    const good = await build('fifo-src.mjs', 'export default "f";', 'fifo', '1.0.0');
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub], [good.entry]);
    const fifoDir = join(dir, 'fifo');
    mkdirSync(fifoDir);
    // Artifact is a FIFO nobody writes to: an open without O_NONBLOCK would hang forever.
    const art = join(fifoDir, 'fifo-src.mjs');
    execFileSync('mkfifo', [art]);
    execFileSync('cp', [manifestPathFor(good.path), manifestPathFor(art)]);
    for (const level of ['trusted', 'untrusted'] as const) {
      await expect(sec.admit(art, level)).rejects.toMatchObject({ code: 'NotRegularFile' });
    }
    // Manifest is a FIFO.
    const art2 = join(fifoDir, 'm.mjs');
    writeFileSync(art2, 'export default 1;');
    execFileSync('mkfifo', [manifestPathFor(art2)]);
    await expect(sec.admit(art2, 'trusted')).rejects.toMatchObject({ code: 'NotRegularFile' });
    // A symlink to a device, with a manifest naming it.
    const art4 = join(fifoDir, 'dev', 'fifo-src.mjs');
    mkdirSync(join(fifoDir, 'dev'));
    symlinkSync('/dev/zero', art4);
    execFileSync('cp', [manifestPathFor(good.path), manifestPathFor(art4)]);
    await expect(sec.admit(art4, 'trusted')).rejects.toMatchObject({ code: 'NotRegularFile' });
  });

  it('a symlink or hardlink to a host secret never yields its hash (no offline brute force from the error)', async () => {
    const secretDir = join(dir, 'secret');
    mkdirSync(secretDir);
    const secret = join(secretDir, 'pin.txt');
    writeFileSync(secret, '1234', { mode: 0o600 });
    const secretHash = hashBytes(new TextEncoder().encode('1234'));
    const good = await build('leak.mjs', 'export default "x";', 'leak', '1.0.0');
    for (const [sub, link] of [
      ['sym', symlinkSync],
      ['hard', linkSync],
    ] as const) {
      const d = join(dir, `leak-${sub}`);
      mkdirSync(d);
      link(secret, join(d, 'leak.mjs'));
      execFileSync('cp', [manifestPathFor(good.path), manifestPathFor(join(d, 'leak.mjs'))]);
      const sec = new PluginSecurity({ onlyTrusted: false }, [pub], [good.entry]);
      for (const level of ['trusted', 'untrusted'] as const) {
        const err = await sec.admit(join(d, 'leak.mjs'), level).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toMatchObject({ code: 'HashMismatch' });
        expect(JSON.stringify(err, Object.getOwnPropertyNames(err as object))).not.toContain(secretHash);
        expect(String((err as Error).message)).not.toContain(secretHash);
      }
    }
  });

  it('the verified bytes are the loaded bytes: swapping the file (rename over it) after admit changes nothing', async () => {
    const good = await build('swap.mjs', 'export default "good";', 'swap', '1.0.0');
    const sec = new PluginSecurity({}, [pub], [good.entry]);
    const verified = await sec.admit(good.path, 'trusted');
    writeFileSync(join(dir, 'swap.evil'), 'export default "evil";');
    renameSync(join(dir, 'swap.evil'), good.path);
    expect(new TextDecoder().decode(verified.bytes)).toBe('export default "good";');
    expect(verified.hash).toBe(hashBytes(verified.bytes));
    // And a second admission reads the new bytes, which no longer match.
    await expect(sec.admit(good.path, 'trusted')).rejects.toMatchObject({ code: 'HashMismatch' });
    rmSync(good.path);
  });

  it('a file that grows while it is read is refused, not hashed over bytes the size check never saw', async () => {
    const good = await build('grow.mjs', 'export default "g";', 'grow', '1.0.0');
    const sec = new PluginSecurity({ maxArtifactBytes: 1 << 20 }, [pub], [good.entry]);
    // A writer appends continuously; each admission either reads the signed bytes (and passes) or sees a change
    // (SecurityError / HashMismatch). It never admits bytes other than the signed ones.
    const writer = (async () => {
      for (let i = 0; i < 200; i++) {
        writeFileSync(good.path, `export default "g";${'/'.repeat(i * 1000)}`);
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 50; i++) {
      const r = await sec.admit(good.path, 'trusted').then(
        (v) => v,
        (e: { code?: string }) => e,
      );
      if ('bytes' in r) expect(new TextDecoder().decode(r.bytes)).toBe('export default "g";');
      else expect(['SecurityError', 'HashMismatch']).toContain(r.code);
    }
    await writer;
  });
});

// The same attacker across a host restart, with entries of the reference's shape (`{ hash, version, signature }`, no
// name): the list can't say which plugin an entry is, so what protects the name is what the host admitted before,
// kept in the host's state directory (not in the list, which the attacker may replace with an older copy).
describe('admission under attack across restarts, entries without a name', () => {
  async function bareHost(tag: string) {
    const v2 = await build(`${tag}2.mjs`, `export default "${tag}2";`, tag, '2.0.0');
    const v1 = await build(`${tag}1.mjs`, `export default "${tag}1";`, tag, '1.0.0');
    const policy = {
      trustListPath: join(dir, `${tag}-list.enc`),
      rollbackFloorDir: tempDir(`${tag}-floors`),
    };
    const key = toHex(randomBytes(32));
    const first = new PluginSecurity(policy, [pub], [referenceShape(v1.entry), referenceShape(v2.entry)]);
    await first.encryptAndSaveTrustList(key);
    const restart = async () => {
      const host = new PluginSecurity(policy, [pub]);
      await host.loadAndDecryptTrustList(key);
      return host;
    };
    return { v1, v2, policy, key, first, restart };
  }

  it('rollback: once 2.0.0 was admitted, a restarted host refuses 1.0.0 still listed by bare hash', async () => {
    const { v1, v2, first, restart } = await bareHost('rbare');
    expect((await first.admit(v2.path, 'trusted')).manifest.version).toBe('2.0.0');
    const host = await restart();
    await expect(host.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
    expect(await host.verifyPlugin(v1.path)).toBe(false);
    expect((await host.admit(v2.path, 'trusted')).manifest.version).toBe('2.0.0');
  });

  it('rollback: putting back the list file as it was before the upgrade lowers nothing', async () => {
    const { v1, v2, policy, key, first, restart } = await bareHost('rcopy');
    // The attacker kept a copy of the list from before 2.0.0 was admitted (it lists 1.0.0 too).
    const copy = `${policy.trustListPath}.attacker-copy`;
    copyFileSync(policy.trustListPath, copy);
    await first.admit(v2.path, 'trusted');
    // The operator re-saves the list (an unrelated entry), the attacker puts the old copy back: refused as a replay;
    // the host's floor for the name stands either way.
    const other = await build('rcopy-other.mjs', 'export default 0;', 'rcopy-other', '1.0.0');
    first.addTrustedPlugin(referenceShape(other.entry));
    await first.encryptAndSaveTrustList(key);
    copyFileSync(copy, policy.trustListPath);
    await expect(restart()).rejects.toMatchObject({ code: 'TrustListRollback' });
    // Re-establishing the list's floor from the copy (the recovery an operator might be talked into) still keeps the
    // name's version floor.
    await resetTrustListFloor(policy.trustListPath, key, { floorDir: policy.rollbackFloorDir });
    const host = await restart();
    await expect(host.admit(v1.path, 'trusted')).rejects.toMatchObject({ code: 'VersionDowngrade' });
  });

  it('a deliberate downgrade needs the list key: resetTrustListFloor with forgetVersions', async () => {
    const { v1, v2, policy, key, first, restart } = await bareHost('rforget');
    await first.admit(v2.path, 'trusted');
    await resetTrustListFloor(policy.trustListPath, key, {
      floorDir: policy.rollbackFloorDir,
      forgetVersions: true,
    });
    const host = await restart();
    expect((await host.admit(v1.path, 'trusted')).manifest.version).toBe('1.0.0');
  });

  it('name reservation: a name a bare-listed trusted plugin was admitted under stays reserved after a restart', async () => {
    const { v2, first, restart } = await bareHost('rname');
    await first.admit(v2.path, 'trusted');
    const host = await restart();
    expect(host.isReservedName('rname')).toBe(true);
    expect(host.isReservedName('someone-else')).toBe(false);
  });
});
