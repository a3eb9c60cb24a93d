import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { TrustedPluginEntry } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  generateKeyPair,
  keyId,
  loadTrustList,
  PluginSecurity,
  toHex,
  updateTrustList,
} from '../src/index.js';
import { tempDir } from './helpers.js';

const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;
const root = tempDir('revoke');

function entry(name: string): TrustedPluginEntry {
  const { publicKey } = generateKeyPair();
  return {
    name,
    version: '1.0.0',
    hash: randomBytes(64).toString('hex'),
    keyId: keyId(publicKey),
    publicKey: toHex(publicKey),
    addedAt: new Date(0).toISOString(),
  };
}

describe('trust-list saves are read-modify-write of the file as it is now (issue 13 point 2)', () => {
  it('a trust rm done while a host runs is not undone by the host’s next save', async () => {
    const list = join(root, 'host.enc');
    const key = toHex(randomBytes(32));
    const revoked = entry('revoked');
    await updateTrustList(list, key, (es) => [...es, revoked]);
    const hostSecurity = new PluginSecurity({ trustListPath: list });
    await hostSecurity.loadAndDecryptTrustList(key);
    expect(hostSecurity.isTrustedHash(revoked.hash)).toBe(true);
    // The operator revokes it from another process (here: another call) while the host runs.
    await updateTrustList(list, key, (es) => es.filter((e) => e.hash !== revoked.hash));
    // The host adds something else and saves.
    const added = entry('added');
    hostSecurity.addTrustedPlugin(added);
    expect(await hostSecurity.encryptAndSaveTrustList(key)).toBe(3);
    const onDisk = await loadTrustList(list, key);
    expect(onDisk.entries.map((e) => e.name)).toEqual(['added']);
    expect(hostSecurity.isTrustedHash(revoked.hash)).toBe(false);
  });

  it('several processes interleaving add and rm on one list: the final list is exactly the expected set', async () => {
    expect(existsSync(new URL(dist)), 'run pnpm build first').toBe(true);
    const list = join(root, 'stress.enc');
    const key = toHex(randomBytes(32));
    // Each child keeps one long-lived PluginSecurity (like a running host): add three, save, remove the second of its
    // previous round, save — rounds interleave with the other children.
    const CHILD = `
      const s = await import(process.env.PW_DIST);
      const [list, key, tag, rounds] = process.argv.slice(1);
      const sec = new s.PluginSecurity({ trustListPath: list });
      const { publicKey } = s.generateKeyPair();
      const mk = (name) => ({ name, version: '1.0.0', hash: s.toHex(crypto.getRandomValues(new Uint8Array(64))),
        keyId: s.keyId(publicKey), publicKey: s.toHex(publicKey), addedAt: new Date(0).toISOString() });
      let prev = [];
      for (let r = 0; r < Number(rounds); r++) {
        const mine = [0, 1, 2].map((i) => mk(tag + '-' + r + '-' + i));
        for (const e of mine) sec.addTrustedPlugin(e);
        await sec.encryptAndSaveTrustList(key);
        if (prev.length > 0) { sec.removeTrustedPlugin(prev[1].hash); await sec.encryptAndSaveTrustList(key); }
        prev = mine;
      }
    `;
    const children = ['a', 'b', 'c', 'd'].map(
      (tag) =>
        new Promise<number | null>((resolve, reject) => {
          const p = spawn(process.execPath, ['--input-type=module', '-e', CHILD, list, key, tag, '6'], {
            env: { ...process.env, PW_DIST: dist },
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          p.on('error', reject);
          p.on('exit', resolve);
        }),
    );
    expect(await Promise.all(children)).toEqual([0, 0, 0, 0]);
    const final = await loadTrustList(list, key);
    const expected: string[] = [];
    for (const tag of ['a', 'b', 'c', 'd']) {
      for (let r = 0; r < 6; r++) {
        for (const i of [0, 1, 2]) if (!(i === 1 && r < 5)) expected.push(`${tag}-${r}-${i}`);
      }
    }
    expect(final.entries.map((e) => e.name).sort()).toEqual(expected.sort());
    // 4 children × (6 adds + 5 removes) saves.
    expect(final.listVersion).toBe(44);
    expect(existsSync(`${list}.lock`)).toBe(false);
  }, 60_000);
});
