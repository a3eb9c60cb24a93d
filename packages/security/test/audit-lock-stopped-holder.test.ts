// audit s10b (→ packages/security/test/): the trust list's lock is broken once it is 30 s untouched — also when its
// holder is alive but stopped (Ctrl-Z on `plugward trust add` while Argon2id runs, a frozen container, a blocked event
// loop). The README calls the worst case "a lost update"; the update lost can be a revocation: the stopped `trust add`
// resumes and writes the list it read (the revoked entry still on it) over the `trust rm` that broke its lock, and its
// write also takes the hash out of the floor record's revocations (it is listed again). Expected: a write whose lock
// was broken meanwhile does not land (or lands merged), so the revoked build stays refused.
// Here the holder's event loop is held in its mutator (as SIGSTOP would hold it) and the lock's mtime is set 60 s back
// (what 30+ s of being stopped does): no timing in the test.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
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

const dir = tempDir('audit-lock-stopped');
const publisher = generateKeyPair();
const pub = toHex(publisher.publicKey);

const HOLDER = `import { existsSync, writeFileSync } from 'node:fs';
const { updateTrustList } = await import(process.env.DIST);
const wait = new Int32Array(new SharedArrayBuffer(4));
await updateTrustList(process.env.LIST, process.env.KEY, (es) => {
  writeFileSync(process.env.READY, 'in');
  // Stopped: no heartbeat, no progress, until told to go on.
  while (!existsSync(process.env.GO)) Atomics.wait(wait, 0, 0, 10);
  return [...es, JSON.parse(process.env.ENTRY)];
}, { create: false, floorDir: process.env.FLOORS });
console.log('holder wrote');
`;

describe('a stopped lock holder does not undo a revocation made while it was stopped', () => {
  it('trust add stopped > 30 s, trust rm breaks its lock and revokes; trust add resumes: the build stays revoked', async () => {
    const build = async (name: string) => {
      const { path } = await signedArtifact(dir, `${name}.mjs`, `export default { name: '${name}' };`, {
        name,
        version: '1.0.0',
        keys: publisher,
      });
      return { path, entry: trustEntryFromManifest(await readManifest(path), pub) };
    };
    const evil = await build('evil');
    const late = await build('late');
    const floors = tempDir('audit-lock-stopped-floors');
    const list = join(dir, 'list.enc');
    const key = toHex(randomBytes(32));
    await updateTrustList(list, key, (es) => [...es, evil.entry], { floorDir: floors });
    const ready = join(dir, 'ready');
    const go = join(dir, 'go');
    const holder = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], {
      env: {
        ...process.env,
        DIST: resolve(import.meta.dirname, '../dist/index.js'),
        LIST: list,
        KEY: key,
        FLOORS: floors,
        READY: ready,
        GO: go,
        ENTRY: JSON.stringify(late.entry),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    holder.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    holder.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const exited = new Promise<number | null>((res) => holder.on('exit', (c) => res(c)));
    try {
      for (let i = 0; i < 3000 && !existsSync(ready); i++) await sleep(10);
      expect(existsSync(ready), out).toBe(true);
      // 30+ s stopped: the lock's mtime is that old.
      const past = new Date(Date.now() - 60_000);
      utimesSync(`${list}.lock`, past, past);
      // The operator revokes evil meanwhile (plugward trust rm): the lock is broken, the revocation written.
      await updateTrustList(list, key, (es) => es.filter((e) => e.hash !== evil.entry.hash), {
        create: false,
        floorDir: floors,
        lockTimeoutMs: 20_000,
      });
    } finally {
      writeFileSync(go, 'go');
    }
    await exited;
    // A host started now, and one that loaded the list before: evil must stay revoked.
    const fresh = new PluginSecurity({ trustListPath: list, rollbackFloorDir: floors }, [pub]);
    await fresh.loadAndDecryptTrustList(key);
    const outcome = await fresh.admit(evil.path, 'trusted').then(
      () => 'admitted as trusted',
      (e: { code?: string }) => `refused ${e.code}`,
    );
    expect({ outcome, listed: fresh.trustedPlugins.map((e) => e.name) }, out).toMatchObject({
      outcome: expect.stringMatching(/^refused /),
    });
  }, 60_000);
});
