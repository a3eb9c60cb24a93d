// audit s9 #3 (the attacker's side of 179e65f): a granted bind is checked at load and mounted by name later, by bwrap
// (its own realpath, then the bind). Two untrusted plugins of one signer under the host's signer grant (read-write
// `shared/`): `swapper` makes `shared/y`, a symlink to a host directory outside every grant, and exchanges it with the
// directory `shared/x` (renameat2 RENAME_EXCHANGE, koffi being in the strict sandbox) in a loop; `victim` asks for
// `shared/x` and lists what it got. Before 179e65f 3–9 of 24 loads listed the host directory's file (a race: seen on a
// quiet machine); now `shared/x` lies inside a read-write grant, so the victim is given `shared` itself and its `x`
// resolves inside the sandbox's own view. Asserted: no load sees the host directory; no copy or cgroup left.
import fs from 'node:fs';
import path from 'node:path';
import { keyId, toHex } from '@plugward/security';
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
      const { dir, target } = JSON.parse(new TextDecoder().decode(d));
      // The swapper makes the symlink itself (strict seccomp allows symlink; the rw bind lets it write there).
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
const scene = attackerScene('audit-bindswap', async (fx, dir) => {
  shared = path.join(dir, 'shared');
  hostOnly = path.join(dir, 'host-only');
  fs.mkdirSync(shared, { mode: 0o777 });
  fs.chmodSync(shared, 0o777);
  fs.mkdirSync(path.join(shared, 'x'), { mode: 0o777 });
  fs.writeFileSync(path.join(shared, 'x', 'granted.txt'), 'granted');
  fs.mkdirSync(hostOnly, { mode: 0o755 });
  fs.writeFileSync(path.join(hostOnly, 'HOST-SECRET.txt'), 'not granted to anyone', { mode: 0o644 });
  const rw = (p: string) => ({
    network: { mode: 'isolated' as const },
    filesystem: { mode: 'readWrite' as const, paths: [p] },
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
    requirements: rw(path.join(shared, 'x')),
  });
});

it("a bind checked within the grant at load is the one mounted: a swap inside a granted directory can't bind a host directory", async (ctx) => {
  const { sandbox, fx } = scene;
  if (!sandbox) return ctx.skip(`no sandbox here: ${scene.reason}`);
  const registry = scene.registry({
    signers: {
      [keyId(fx.stranger.publicKey)]: {
        publicKey: toHex(fx.stranger.publicKey),
        hooks: [{ name: 'swap' }, { name: 'look' }],
        filesystem: { mode: 'readWrite', paths: [shared] },
      },
    },
  });
  const seen: string[] = [];
  const pids: number[] = [];
  try {
    await registry.loadPlugin(scene.probe, 'trusted');
    await registry.loadPlugin(swapperPath, 'untrusted');
    pids.push(registry.getPluginInfo('swapper')?.pid ?? -1);
    const said = dec.decode(
      await registry.hooks.execute('swap', enc.encode(JSON.stringify({ dir: shared, target: hostOnly }))),
    );
    expect(said).toMatch(/^swapping/);
    for (let i = 0; i < 16; i++) {
      await registry
        .loadPlugin(victimPath, 'untrusted')
        .catch((e: unknown) => seen.push(`load failed ${(e as Error).message}`));
      if (registry.getPluginInfo('victim')?.status === 'Active') {
        pids.push(registry.getPluginInfo('victim')?.pid ?? -1);
        seen.push(
          dec.decode(await registry.hooks.execute('look', enc.encode(JSON.stringify({ dir: shared })))),
        );
        await registry.unloadPlugin('victim');
      }
    }
    // The host still serves.
    expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
  } finally {
    await registry.close();
  }
  expect(seen.filter((s) => s.includes('HOST-SECRET'))).toEqual([]);
  // At least one victim ran and looked (else the test proved nothing).
  expect(seen.some((s) => !s.startsWith('load failed'))).toBe(true);
  for (const pid of pids) expect(pid > 0 && !pidAlive(pid)).toBe(true);
  expect([...leftovers('victim', scene.ownTmp), ...leftovers('swapper', scene.ownTmp)]).toEqual([]);
}, 120_000);
