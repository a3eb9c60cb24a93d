// audit s9 #3: a granted bind is checked by path at load (`resolveGrantedPaths`: realpath within the host's grant) but
// mounted by path later, by bwrap (its own realpath of the source, then the bind) — tens of ms and many steps apart.
// Whoever can write inside a read-write granted directory can swap a granted sub-directory for a symlink in between:
// the next sandbox that binds it gets whatever the symlink names, if its leased uid can read it (any world-readable
// host directory: /tmp, /dev/shm, /proc — the host's procfs, with its own init's mem writable by its own uid …).
// Here: two untrusted plugins of one signer, both under the host's signer grant (read-write `shared/`). `swapper`
// exchanges `shared/x` (a directory) and `shared/y` (a symlink to a host directory outside every grant) with
// renameat2(RENAME_EXCHANGE) in a loop; `victim` asks for `shared/x` and lists what it got. Expected: never the host
// directory's file. Failed on 30c2186 (3 of 16 loads listed the host directory; with `y -> /proc`, 5 of 16 got the
// host's procfs). Closed by resolveGrantedPaths binding nothing with a directory a plugin can write on the way to it
// (here: `shared/x` lies inside the read-write grant `shared`, so `shared` itself is bound).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keyId, toHex } from '@plugward/security';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, leftovers, sandboxOrReason, tempDir } from './helpers.js';

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
      const k = Object.keys(require.cache).find((p) => p.endsWith('/koffi.node') || p.endsWith('/koffi/index.cjs'));
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

const tmp = tempDir('audit-bindswap');
const fx = new Fixtures(tmp.dir);
const ownTmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bindswap-tmp-'));
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
let swapperPath = '';
let victimPath = '';
const shared = path.join(tmp.dir, 'shared');
const hostOnly = path.join(tmp.dir, 'host-only');

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  process.env.TMPDIR = ownTmp;
  fs.chmodSync(tmp.dir, 0o755);
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
  security = await fx.security({ onlyTrusted: false });
});

afterAll(() => {
  tmp.remove();
  fs.rmSync(ownTmp, { recursive: true, force: true });
});

it("a bind checked within the grant at load is the one mounted: a swap inside a granted directory can't bind a host directory", async (ctx) => {
  if (!sandbox) return ctx.skip(`no sandbox here: ${reason}`);
  const registry = new PluginRegistry({
    security,
    sandbox,
    policy: { onlyTrusted: false },
    grants: {
      signers: {
        [keyId(fx.stranger.publicKey)]: {
          publicKey: toHex(fx.stranger.publicKey),
          hooks: [{ name: 'swap' }, { name: 'look' }],
          filesystem: { mode: 'readWrite', paths: [shared] },
        },
      },
    },
    log: () => {},
  });
  const seen: string[] = [];
  try {
    await registry.loadPlugin(swapperPath, 'untrusted');
    const said = dec.decode(
      await registry.hooks.execute('swap', enc.encode(JSON.stringify({ dir: shared, target: hostOnly }))),
    );
    expect(said).toMatch(/^swapping [1-9]/); // the exchange works in this sandbox (koffi's renameat2, or three renames)
    for (let i = 0; i < 24; i++) {
      await registry
        .loadPlugin(victimPath, 'untrusted')
        .catch((e: unknown) => seen.push(`load failed ${(e as Error).message}`));
      if (registry.getPluginInfo('victim')?.status === 'Active') {
        seen.push(
          dec.decode(await registry.hooks.execute('look', enc.encode(JSON.stringify({ dir: shared })))),
        );
        await registry.unloadPlugin('victim');
      }
    }
  } finally {
    await registry.close();
  }
  console.log('victim saw:', seen);
  expect(seen.filter((s) => s.includes('HOST-SECRET'))).toEqual([]);
  expect(seen.filter((s) => !s.startsWith('load failed')).length).toBeGreaterThan(0);
  expect(leftovers('victim', ownTmp)).toEqual([]);
}, 120_000);
