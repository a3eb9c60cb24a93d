// audit s9 (target 3, the context store from the attacker's side): an untrusted sandboxed plugin granted read of
// `public.motd` and write of `scratch` (and the `probe` hook) tries every spelling around its grant — case, trailing
// space and NUL, a path-like `..`, a Cyrillic look-alike, the wildcard — to read the host's secret or write a key it
// was not granted; it probes whether an ungranted key exists through the error it gets (present vs absent must look
// the same), tries to grow the store past its quota through its one writable key, and after an unload and reload
// checks that nothing it wrote survived.
// (An empty or over-long key, or a non-string one, is a malformed request: the plugin is ended, as for any bad frame.)
// Passes on main 30c2186: these are properties main holds.
import { expect, it } from 'vitest';
import { attackerScene, dec, enc, leftovers, pidAlive } from './helpers.js';

const attacker = `
const enc = new TextEncoder();
const dec = new TextDecoder();
let ctx;
const show = (v) => v instanceof Uint8Array ? dec.decode(v) : String(JSON.stringify(v));
export default {
  name: 'keyspell', version: '1.0.0', author: 'a stranger',
  init(c) { ctx = c; },
  async registerHooks(h) {
    await h.register('probe', 300, async () => {
      const out = {};
      const attempt = async (k, f) => {
        try { out[k] = 'ok ' + show(await f()).slice(0, 80); } catch (e) { out[k] = 'denied ' + (e?.code ?? e?.message); }
      };
      const reads = { exact: 'public.motd', secret: 'db.password', upper: 'DB.PASSWORD', trailing: 'db.password ',
        nul: 'db.password\\u0000', dotdot: 'public.motd/../db.password', star: '*',
        lookalike: 'db.pаssword' };
      for (const [k, key] of Object.entries(reads)) await attempt('get.' + k, () => ctx.get(key));
      await attempt('has.secret', () => ctx.has('db.password'));
      await attempt('keys', () => ctx.keys());
      const writes = { exact: 'scratch', upper: 'SCRATCH', nul: 'scratch\\u0000', dotdot: 'scratch/../db.password',
        secret: 'db.password', star: '*', lookalike: 'sсratch' };
      for (const [k, key] of Object.entries(writes)) await attempt('set.' + k, () => ctx.set(key, enc.encode('pwned')));
      await attempt('remove.secret', () => ctx.remove('db.password'));
      // Present and absent ungranted keys must be refused alike (no existence oracle).
      let present = ''; let absent = '';
      try { await ctx.get('db.password'); } catch (e) { present = (e?.code ?? '') + ' ' + String(e?.message).replace('db.password', 'K'); }
      try { await ctx.get('no.such.key'); } catch (e) { absent = (e?.code ?? '') + ' ' + String(e?.message).replace('no.such.key', 'K'); }
      out.oracle = present === absent ? 'same' : present + ' | ' + absent;
      // The one writable key can't hold more than the quota.
      await attempt('set.huge', () => ctx.set('scratch', new Uint8Array(8 * 1024 * 1024)));
      return enc.encode(JSON.stringify(out));
    });
  },
};
`;

let file = '';
const scene = attackerScene('audit-ctxkeys', async (fx) => {
  file = await fx.js('keyspell.mjs', attacker, {
    name: 'keyspell',
    kind: 'js',
    keys: fx.stranger,
    requirements: {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: ['*'], write: ['*'] },
    },
  });
});

it('an untrusted plugin reads and writes exactly its granted keys, whatever the spelling, and keeps nothing after unload', async (ctx) => {
  const { sandbox } = scene;
  if (!sandbox) return ctx.skip(`no sandbox here: ${scene.reason}`);
  const registry = scene.registry({
    plugins: {
      keyspell: { hooks: [{ name: 'probe' }], context: { read: ['public.motd'], write: ['scratch'] } },
    },
  });
  registry.context.set('db.password', enc.encode('hunter2'));
  registry.context.set('public.motd', enc.encode('hello'));
  const pids: number[] = [];
  try {
    await registry.loadPlugin(scene.probe, 'trusted');
    for (let round = 0; round < 2; round++) {
      await registry.loadPlugin(file, 'untrusted');
      pids.push(registry.getPluginInfo('keyspell')?.pid ?? -1);
      const out = JSON.parse(dec.decode(await registry.hooks.execute('probe', new Uint8Array()))) as Record<
        string,
        string
      >;
      const denied = expect.stringMatching(/^denied (PermissionDenied|InvalidArgument)$/);
      expect(out).toEqual({
        'get.exact': 'ok hello',
        'get.secret': denied,
        'get.upper': denied,
        'get.trailing': denied,
        'get.nul': denied,
        'get.dotdot': denied,
        'get.star': denied,
        'get.lookalike': denied,
        'has.secret': denied,
        keys: 'ok ["public.motd"]',
        'set.exact': expect.stringMatching(/^ok /),
        'set.upper': denied,
        'set.nul': denied,
        'set.dotdot': denied,
        'set.secret': denied,
        'set.star': denied,
        'set.lookalike': denied,
        'remove.secret': denied,
        oracle: 'same',
        'set.huge': expect.stringMatching(/^denied (QuotaExceeded|ProtocolViolation|TooManyRequests)$/),
      });
      // The host's values are intact and the plugin wrote nothing but its own key.
      expect(dec.decode(registry.context.get('db.password') as Uint8Array)).toBe('hunter2');
      expect(dec.decode(registry.context.get('public.motd') as Uint8Array)).toBe('hello');
      expect(registry.context.keys().sort()).toEqual(['db.password', 'public.motd', 'scratch']);
      expect(registry.context.usageOf('keyspell').entries).toBe(1);
      // Unloaded: what it wrote is gone, nothing is charged to it, its process is gone.
      await registry.unloadPlugin('keyspell');
      expect(registry.context.keys().sort()).toEqual(['db.password', 'public.motd']);
      expect(registry.context.usageOf('keyspell')).toEqual({ entries: 0, bytes: 0 });
    }
    expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
  } finally {
    await registry.close();
  }
  for (const pid of pids) expect(pid > 0 && !pidAlive(pid)).toBe(true);
  expect(leftovers('keyspell', scene.ownTmp)).toEqual([]);
}, 60_000);
