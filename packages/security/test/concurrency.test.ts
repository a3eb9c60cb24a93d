import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTrustList, saveTrustList } from '../src/index.js';
import { tempDir } from './helpers.js';

// Children import the built package (run `pnpm build` first, as for every package test).
const dist = pathToFileURL(join(import.meta.dirname, '..', 'dist', 'index.js')).href;

const CHILD = `
const s = await import(process.env.PW_DIST);
const [mode, path, key, tag, rounds] = process.argv.slice(1);
const { publicKey } = s.generateKeyPair();
const entry = (i) => ({ name: tag + '-' + i, version: '1.0.0', hash: s.toHex(crypto.getRandomValues(new Uint8Array(64))),
  keyId: s.keyId(publicKey), publicKey: s.toHex(publicKey), addedAt: new Date().toISOString() });
for (let i = 0; i < Number(rounds); i++) {
  if (mode === 'update') await s.updateTrustList(path, key, (es) => { es.push(entry(i)); });
  // A save over a list that is already as new is refused (TrustListRollback, not-newer): the two writers race.
  else await s.saveTrustList(path, { listVersion: i + 1, entries: Array.from({ length: 1 + (i % 5) * 40 }, (_, j) => entry(j)) }, key, { floorDir: false })
    .catch((e) => { if (e?.details?.reason !== 'not-newer') throw e; });
}
`;

function child(mode: string, path: string, key: string, tag: string, rounds: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const p = spawn(
      process.execPath,
      ['--input-type=module', '-e', CHILD, mode, path, key, tag, String(rounds)],
      {
        env: { ...process.env, PW_DIST: dist },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    p.on('error', reject);
    p.on('exit', (code) => resolve(code));
  });
}

describe('two processes saving one trust list', () => {
  it('dist is built (needed by the child processes)', () => {
    expect(existsSync(new URL(dist)), 'run pnpm build first').toBe(true);
  });

  it('raw concurrent saves never leave a corrupt file, readers always see a whole list', async () => {
    const dir = tempDir('conc-raw');
    const path = join(dir, 'list.enc');
    const key = randomBytes(32).toString('hex');
    await saveTrustList(path, { listVersion: 0, entries: [] }, key, { floorDir: false });
    const running = Promise.all([child('save', path, key, 'a', 40), child('save', path, key, 'b', 40)]);
    let done = false;
    void running.finally(() => {
      done = true;
    });
    let reads = 0;
    while (!done) {
      // Unlocked saves with falling versions: no floor here, only the file format is under test.
      const data = await loadTrustList(path, key, { floorDir: false }); // throws on any torn or corrupt file
      expect(Array.isArray(data.entries)).toBe(true);
      reads++;
    }
    expect(await running).toEqual([0, 0]);
    expect(reads).toBeGreaterThan(0);
    await loadTrustList(path, key, { floorDir: false });
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('locked read-modify-write from two processes loses no update', async () => {
    const dir = tempDir('conc-lock');
    const path = join(dir, 'list.enc');
    const key = randomBytes(32).toString('hex');
    expect(
      await Promise.all([child('update', path, key, 'a', 15), child('update', path, key, 'b', 15)]),
    ).toEqual([0, 0]);
    const data = await loadTrustList(path, key);
    expect(data.listVersion).toBe(30);
    expect(data.entries.map((e) => e.name).sort()).toEqual(
      [
        ...Array.from({ length: 15 }, (_, i) => `a-${i}`),
        ...Array.from({ length: 15 }, (_, i) => `b-${i}`),
      ].sort(),
    );
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});
