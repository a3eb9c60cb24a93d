// audit s9b #5 (→ packages/registry/test/, root): 179e65f's "nothing a plugin can write lies on the way" is judged by
// *path* (an ancestor within a read-write grant's real path) and by mode (others may write). A host bind mount is not
// a path a realpath sees: the host exports a plugin's output folder elsewhere (`mount --bind shared/out export`),
// grants another plugin read-only `export`, and that plugin asks for `export/x`. `export` (the mount root: the
// folder the writer made, 0755, owned by its leased uid) is neither within `shared` by path nor writable by others,
// so `export/x` is kept and handed to bwrap by name — and the writer, which owns that folder through its own grant,
// swaps `x` for a symlink to a host folder (renameat2 exchange). Asserted: no load sees the host folder.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, it } from 'vitest';
import { attackerScene, dec, enc, leftovers, pidAlive } from './helpers.js';

const swapper = `
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
let timer;
export default {
  name: 'swapper', version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) {
    await h.register('swap', 300, async (d) => {
      const { dir, target, prepare } = JSON.parse(new TextDecoder().decode(d));
      if (prepare) {
        // Its output folder: its own (leased uid), 0755 — nobody else may write it.
        require('node:fs').mkdirSync(dir, { mode: 0o755 });
        require('node:fs').mkdirSync(dir + '/x', { mode: 0o755 });
        require('node:fs').writeFileSync(dir + '/x/granted.txt', 'granted');
        return new TextEncoder().encode('prepared');
      }
      require('node:fs').symlinkSync(target, dir + '/y');
      const k = Object.keys(require.cache).find((p) => p.endsWith('/koffi/index.cjs'));
      const x = dir + '/x', y = dir + '/y', t = dir + '/t';
      let n = 0;
      let flip;
      if (k) {
        const renameat2 = require(k).load('libc.so.6').func('int renameat2(int, const char *, int, const char *, unsigned int)');
        flip = () => { if (renameat2(-100, x, -100, y, 2) === 0) n++; };
      } else {
        // No koffi here (Landlock): the same exchange in three renames (x is missing a third of the time).
        const fs = require('node:fs');
        flip = () => { try { fs.renameSync(x, t); fs.renameSync(y, x); fs.renameSync(t, y); n++; } catch {} };
      }
      timer = setInterval(() => { for (let i = 0; i < 2000; i++) flip(); }, 0);
      await new Promise((r) => setTimeout(r, 50));
      return new TextEncoder().encode('swapping ' + n);
    });
  },
};
`;

const victim = `
import fs from 'node:fs';
export default {
  name: 'victim', version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) {
    await h.register('look', 300, async (d) => {
      const { dir } = JSON.parse(new TextDecoder().decode(d));
      let seen;
      try { seen = fs.readdirSync(dir + '/x').join(','); } catch (e) { seen = 'no ' + e.code; }
      return new TextEncoder().encode(seen);
    });
  },
};
`;

let swapperPath = '';
let victimPath = '';
let shared = '';
let hostOnly = '';
let exported = '';
const scene = attackerScene('audit-bindswap', async (fx, dir) => {
  shared = path.join(dir, 'shared');
  hostOnly = path.join(dir, 'host-only');
  fs.mkdirSync(shared, { mode: 0o777 });
  fs.chmodSync(shared, 0o777);
  exported = path.join(dir, 'export');
  fs.mkdirSync(exported, { mode: 0o755 });
  fs.mkdirSync(hostOnly, { mode: 0o755 });
  fs.writeFileSync(path.join(hostOnly, 'HOST-SECRET.txt'), 'not granted to anyone', { mode: 0o644 });
  const rw = (p: string, mode: 'readWrite' | 'readOnly' = 'readWrite') => ({
    network: { mode: 'isolated' as const },
    filesystem: { mode, paths: [p] },
    context: { read: [], write: [] },
  });
  swapperPath = await fx.js('swapper.mjs', swapper, {
    name: 'swapper',
    kind: 'js',
    keys: fx.stranger,
    requirements: rw(shared),
  });
  victimPath = await fx.js('victim.mjs', victim, {
    name: 'victim',
    kind: 'js',
    keys: fx.stranger,
    requirements: rw(path.join(exported, 'x'), 'readOnly'),
  });
});

it("a bind below a host bind mount of a plugin's own folder: a swap there can't bind a host directory", async (ctx) => {
  const { sandbox, fx } = scene;
  if (!sandbox) return ctx.skip(`no sandbox here: ${scene.reason}`);
  const registry = scene.registry({
    plugins: {
      swapper: { hooks: [{ name: 'swap' }], filesystem: { mode: 'readWrite', paths: [shared] } },
      victim: { hooks: [{ name: 'look' }], filesystem: { mode: 'readOnly', paths: [exported] } },
    },
  });
  const seen: string[] = [];
  const pids: number[] = [];
  let mounted = false;
  try {
    await registry.loadPlugin(scene.probe, 'trusted');
    await registry.loadPlugin(swapperPath, 'untrusted');
    pids.push(registry.getPluginInfo('swapper')?.pid ?? -1);
    const out = path.join(shared, 'out');
    expect(
      dec.decode(
        await registry.hooks.execute('swap', enc.encode(JSON.stringify({ dir: out, prepare: true }))),
      ),
    ).toBe('prepared');
    // The host exports the plugin's output folder elsewhere.
    execFileSync('mount', ['--bind', out, exported]);
    mounted = true;
    const said = dec.decode(
      await registry.hooks.execute('swap', enc.encode(JSON.stringify({ dir: out, target: hostOnly }))),
    );
    expect(said).toMatch(/^swapping/);
    for (let i = 0; i < 16; i++) {
      await registry
        .loadPlugin(victimPath, 'untrusted')
        .catch((e: unknown) => seen.push(`load failed ${(e as Error).message}`));
      if (registry.getPluginInfo('victim')?.status === 'Active') {
        pids.push(registry.getPluginInfo('victim')?.pid ?? -1);
        seen.push(
          dec.decode(await registry.hooks.execute('look', enc.encode(JSON.stringify({ dir: exported })))),
        );
        await registry.unloadPlugin('victim');
      }
    }
    // The host still serves.
    expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
  } finally {
    await registry.close();
    if (mounted) execFileSync('umount', ['-l', exported]);
  }
  expect(seen.filter((s) => s.includes('HOST-SECRET'))).toEqual([]);
  // At least one victim ran and looked (else the test proved nothing).
  expect(seen.some((s) => !s.startsWith('load failed'))).toBe(true);
  for (const pid of pids) expect(pid > 0 && !pidAlive(pid)).toBe(true);
  expect([...leftovers('victim', scene.ownTmp), ...leftovers('swapper', scene.ownTmp)]).toEqual([]);
}, 120_000);
