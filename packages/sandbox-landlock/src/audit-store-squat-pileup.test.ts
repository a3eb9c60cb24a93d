// audit s10b (→ packages/sandbox-landlock/src/): a runtime store name squatted by another user (the name is
// predictable: `plugward-rt-u<uid>-<digest of public content>` in a shared /tmp on a non-root host) makes *every host
// process* write a new store `<name>-<random>` (≈ 4 MiB: the runtime bundle and koffi) — none reuses the one an
// earlier process made, and they are swept only after a day unused. One `mkdir` by another user thus turns every
// `plugward run`, app start or test run into 4 MiB more in /tmp (often tmpfs: RAM) for 24 h. Expected: a later
// process finds and reuses a sound store of its own under the squatted name's fallback, so the squat costs one store.
// Root only here (a tmpfs mounted over the name stands for a folder this user can't remove, as the lead's test does).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forgetCheckedStores, runtimeStore } from './runtime-store.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-audit-squat-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function checkout(): { runtime: string; base: string } {
  const root = fs.mkdtempSync(path.join(tmp, 'checkout-'));
  const runtime = path.join(root, 'dist', 'runtime');
  fs.mkdirSync(runtime, { recursive: true });
  fs.writeFileSync(path.join(runtime, 'runtime.cjs'), 'module.exports = 1;\n');
  const base = fs.mkdtempSync(path.join(tmp, 'base-'));
  return { runtime, base };
}

describe('a squatted store name costs one store, not one per host process', () => {
  it('three host processes (forgetCheckedStores between them) with the name squatted: at most one fallback store', (ctx) => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: mounting a tmpfs over the store name needs root');
      return ctx.skip('needs root to mount a tmpfs');
    }
    const { runtime, base } = checkout();
    const learn = fs.mkdtempSync(path.join(tmp, 'learn-'));
    const predicted = path.basename(runtimeStore([runtime], learn).root);
    const squatted = path.join(base, predicted);
    fs.mkdirSync(squatted);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'squat', squatted]);
    try {
      const roots = new Set<string>();
      for (let i = 0; i < 3; i++) {
        forgetCheckedStores(); // a new host process
        roots.add(runtimeStore([runtime], base).root);
      }
      const fallbacks = fs.readdirSync(base).filter((n) => n.startsWith(`${predicted}-`));
      expect({ distinctStoresUsed: roots.size, fallbacksOnDisk: fallbacks.length }).toEqual({
        distinctStoresUsed: 1,
        fallbacksOnDisk: 1,
      });
    } finally {
      execFileSync('umount', [squatted]);
    }
  });
});
