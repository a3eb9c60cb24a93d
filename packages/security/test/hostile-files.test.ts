import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  calculateHash,
  decryptTrustList,
  encryptTrustList,
  generateKeyPair,
  loadTrustList,
  PluginSecurity,
  readManifest,
  toHex,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

// Issue 13 point 5: a FIFO (or socket, device, directory) where a plugin file should be used to hang verifyArtifact,
// scanDirectory and `plugward run` forever (a blocking open() holding a libuv thread). Each must now fail fast with
// NotRegularFile. The short timeouts are the assertion that nothing blocks.
const dir = tempDir('hostile');
const servers: net.Server[] = [];
afterAll(() => {
  for (const s of servers) s.close();
});

function fifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

async function socketAt(path: string): Promise<void> {
  const server = net.createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
}

describe('non-regular files where plugin files belong', () => {
  const publisher = generateKeyPair();
  const pub = toHex(publisher.publicKey);

  it('a FIFO as the artifact: verifyArtifact, verifyIntegrity and calculateHash refuse it at once', async () => {
    const { path } = await signedArtifact(dir, 'fifo.mjs', 'export default 1;', { keys: publisher });
    renameSync(path, `${path}.orig`);
    fifo(path);
    const sec = new PluginSecurity({ onlyTrusted: false }, [pub]);
    await expect(sec.verifyArtifact(path)).rejects.toMatchObject({ code: 'NotRegularFile' });
    await expect(sec.verifyIntegrity(path)).rejects.toMatchObject({ code: 'NotRegularFile' });
    await expect(calculateHash(path)).rejects.toMatchObject({ code: 'NotRegularFile' });
    // The host still serves: a good artifact next to it verifies.
    const good = await signedArtifact(dir, 'good.mjs', 'export default 2;', {
      name: 'good',
      keys: publisher,
    });
    expect((await sec.verifyArtifact(good.path)).manifest.name).toBe('good');
  }, 5_000);

  it('a FIFO as the manifest is refused, not read', async () => {
    const art = join(dir, 'fifo-manifest.mjs');
    writeFileSync(art, 'x');
    fifo(`${art}.plugward.json`);
    await expect(readManifest(art)).rejects.toMatchObject({ code: 'NotRegularFile' });
  }, 5_000);

  it('a socket, a character device (through a symlink) and a directory are refused', async () => {
    const sock = join(dir, 'sock.mjs');
    await socketAt(sock);
    await expect(calculateHash(sock)).rejects.toMatchObject({ code: 'NotRegularFile' });
    const dev = join(dir, 'zero.mjs');
    symlinkSync('/dev/zero', dev);
    await expect(calculateHash(dev)).rejects.toMatchObject({ code: 'NotRegularFile' });
    const sub = join(dir, 'dir.mjs');
    mkdirSync(sub);
    await expect(calculateHash(sub)).rejects.toMatchObject({ code: 'NotRegularFile' });
  }, 5_000);

  it('a FIFO as the trust list is refused', async () => {
    const list = join(dir, 'list-fifo.enc');
    fifo(list);
    await expect(loadTrustList(list, toHex(randomBytes(32)))).rejects.toMatchObject({
      code: 'NotRegularFile',
    });
    // Nothing left behind besides what the test made.
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock'))).toEqual([]);
  }, 5_000);
});

describe('Argon2id cost is bounded before the header is authenticated (issue 13 point 10)', () => {
  it('a forged header asking t=16, m=1 GiB is refused without running the KDF', async () => {
    const file = await encryptTrustList(
      { listVersion: 1, entries: [] },
      { passphrase: 'correct horse battery staple', kdf: { t: 1, m: 64, p: 1 } },
    );
    const forged = new Uint8Array(file);
    const view = new DataView(forged.buffer);
    view.setUint32(12, 16, true);
    view.setUint32(16, 1024 * 1024, true);
    const started = performance.now();
    await expect(decryptTrustList(forged, { passphrase: 'anything' })).rejects.toMatchObject({
      code: 'TrustListError',
      details: { reason: 'bad-header' },
    });
    expect(performance.now() - started).toBeLessThan(500);
    // A host that deliberately uses costlier lists can raise the bound.
    await expect(
      decryptTrustList(forged, { passphrase: 'anything' }, { maxArgon2: { t: 1, m: 64, p: 1 } }),
    ).rejects.toMatchObject({ details: { reason: 'bad-header' } });
  }, 5_000);

  it('new passphrase lists use RFC 9106’s second recommended parameters (t=3, m=64 MiB, p=4)', async () => {
    const file = await encryptTrustList({ listVersion: 1, entries: [] }, { passphrase: 'a long passphrase' });
    const view = new DataView(file.buffer, file.byteOffset);
    expect([view.getUint32(12, true), view.getUint32(16, true), view.getUint32(20, true)]).toEqual([
      3,
      64 * 1024,
      4,
    ]);
  }, 20_000);
});
