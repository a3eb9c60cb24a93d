// Conformance: the very same signed JS file and the very same .so behave identically at every isolation tier — hook
// output, hook order (interleaved with a host handler), context reads/writes through the permission view.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, isPluginError, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, sandboxOrReason, tempDir } from './helpers.js';

const JS_PLUGIN = `
const enc = new TextEncoder();
const dec = new TextDecoder();
let ctx;
let tier;
const codeOf = async (f) => { try { await f(); return 'ok'; } catch (e) { return (e && e.code) || 'threw'; } };
export default {
  name: 'conf-js',
  version: '1.0.0',
  author: 'registry tests',
  async init(c, runtime) { ctx = c; tier = runtime.tier; },
  async registerHooks(hooks) {
    // Registered late-first on purpose: order must follow priority, not registration.
    await hooks.register('conf', 300, async (data) => enc.encode(dec.decode(data) + '|js-late'));
    await hooks.register('conf', 100, async (data) => {
      const input = dec.decode(data);
      const seed = await ctx.get('conf.seed');
      const readDenied = await codeOf(() => ctx.get('secret'));
      const writeDenied = await codeOf(() => ctx.set('conf.seed', 'overwritten'));
      await ctx.set('conf.out', input.toUpperCase());
      return enc.encode(input + '|js-early:' + seed + ':' + readDenied + ':' + writeDenied);
    });
    await hooks.register('conf.tier', 200, async () => enc.encode(tier));
  },
  shutdown() { ctx = undefined; },
};
`;

const C_PLUGIN = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugward.h"
static const pw_host_api *g_host;
static int32_t p_init(pw_plugin *self, const pw_host_api *host, char *err, size_t cap) {
  (void)self; (void)err; (void)cap; g_host = host; return PW_OK;
}
static int32_t p_register(pw_plugin *self, const pw_host_api *host, char *err, size_t cap) {
  (void)self;
  if (host->register_hook(host->host_data, "nconf", 100) != PW_OK) return pw_set_error(err, cap, 1, "reg");
  return PW_OK;
}
static int32_t p_call(pw_plugin *self, const char *hook, const uint8_t *in, size_t in_len, uint8_t **out,
                      size_t *out_len, char *err, size_t cap) {
  (void)self; (void)hook;
  char greeting[64] = {0}; size_t glen = 0;
  int32_t g = g_host->context_get(g_host->host_data, "greeting", (uint8_t *)greeting, sizeof greeting - 1, &glen);
  if (g == PW_OK) greeting[glen] = 0; else strcpy(greeting, "none");
  char secret[64]; size_t slen = 0;
  int32_t s = g_host->context_get(g_host->host_data, "secret", (uint8_t *)secret, sizeof secret, &slen);
  int32_t w = g_host->context_set(g_host->host_data, "greeting", (const uint8_t *)"x", 1);
  int32_t o = g_host->context_set(g_host->host_data, "native.out", in, in_len);
  char tail[160];
  int n = snprintf(tail, sizeof tail, "|native:%s:%d:%d:%d", greeting, s, w, o);
  uint8_t *buf = malloc(in_len + (size_t)n);
  if (!buf) return pw_set_error(err, cap, PW_ERR_NO_MEMORY, "oom");
  memcpy(buf, in, in_len); memcpy(buf + in_len, tail, (size_t)n);
  *out = buf; *out_len = in_len + (size_t)n;
  return PW_OK;
}
static void p_free(pw_plugin *self, uint8_t *b, size_t l) { (void)self; (void)l; free(b); }
static int32_t p_shutdown(pw_plugin *self, char *err, size_t cap) { (void)self; (void)err; (void)cap; return PW_OK; }
static void p_destroy(pw_plugin *self) { (void)self; g_host = NULL; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "conf-c", .version = "1.0.0",
  .author = "registry tests", .description = "conformance", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_register, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shutdown,
  .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const TIERS: IsolationTier[] = ['in-process', 'worker', 'process', 'sandbox'];
const tmp = tempDir('conf');
const fx = new Fixtures(tmp.dir);
let jsPath: string;
let soPath: string;
let security: PluginSecurity;
let sandboxReason: string | undefined;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];

beforeAll(async () => {
  jsPath = await fx.js('conf.mjs', JS_PLUGIN, {
    name: 'conf-js',
    kind: 'js',
    requirements: NO_GRANTS(['conf.seed', 'conf.out'], ['conf.out']),
  });
  soPath = await fx.native('libconf.so', C_PLUGIN, {
    name: 'conf-c',
    kind: 'native',
    requirements: NO_GRANTS(['greeting'], ['native.out']),
  });
  await fx.trust(jsPath);
  await fx.trust(soPath);
  security = await fx.security();
  ({ sandbox, reason: sandboxReason } = await sandboxOrReason());
});
afterAll(() => tmp.remove());

interface Observed {
  conf: string;
  tier: string;
  confOut: unknown;
  nconf: string;
  nativeOut: string;
  seedAfter: unknown;
  greetingAfter: string;
  order: string[];
}

async function observe(tier: IsolationTier): Promise<Observed> {
  await using registry = new PluginRegistry({
    security,
    ...(sandbox ? { sandbox } : {}),
    defaultTier: tier,
    log: () => {},
  });
  registry.context.set('conf.seed', 'seed-1');
  registry.context.set('secret', 'do-not-read');
  registry.context.set('greeting', enc.encode('Hi'));
  expect(await registry.loadPlugin(jsPath, 'trusted')).toBe('conf-js');
  expect(await registry.loadPlugin(soPath, 'trusted')).toBe('conf-c');
  expect(registry.getPluginInfo('conf-js')?.tier).toBe(tier);
  // A native plugin never runs in a worker thread (it couldn't be stopped there): the host's worker default places it
  // in a process.
  expect(registry.getPluginInfo('conf-c')?.tier).toBe(tier === 'worker' ? 'process' : tier);
  registry.hooks.register('conf', 200, (d) => enc.encode(`${dec.decode(d)}|host`), { owner: 'host' });
  registry.hooks.register('nconf', 200, (d) => enc.encode(`${dec.decode(d)}|host`), { owner: 'host' });
  const conf = dec.decode(await registry.hooks.execute('conf', enc.encode('abc')));
  const tierSeen = dec.decode(await registry.hooks.execute('conf.tier', new Uint8Array()));
  const nconf = dec.decode(await registry.hooks.execute('nconf', enc.encode('xyz')));
  const nativeOut = registry.context.get('native.out');
  return {
    conf,
    tier: tierSeen,
    confOut: registry.context.get('conf.out'),
    nconf,
    nativeOut: dec.decode(nativeOut instanceof Uint8Array ? nativeOut : enc.encode(String(nativeOut))),
    seedAfter: registry.context.get('conf.seed'),
    greetingAfter: dec.decode(registry.context.get('greeting') as Uint8Array),
    order: registry.hooks.getHooks('conf').map((h) => `${h.owner ?? '?'}@${h.priority}`),
  };
}

describe('conformance: one JS file and one .so, four tiers', () => {
  let reference: Observed | undefined;

  it.each(TIERS)('tier %s behaves like every other tier', async (tier) => {
    if (tier === 'sandbox' && !sandbox) {
      console.warn(`!!! SKIPPED conformance at the sandbox tier: ${sandboxReason}`);
      return;
    }
    const seen = await observe(tier);
    // What the plugin did, checked in full at every tier (not only against the first tier).
    expect(seen.conf).toBe('abc|js-early:seed-1:PermissionDenied:PermissionDenied|host|js-late');
    expect(seen.tier).toBe(tier);
    expect(seen.confOut).toBe('ABC');
    expect(seen.seedAfter).toBe('seed-1');
    // native: greeting read through the view; "secret" read denied (5), "greeting" write denied (5), own key ok (0)
    expect(seen.nconf).toBe('xyz|native:Hi:5:5:0|host');
    expect(seen.nativeOut).toBe('xyz');
    expect(seen.greetingAfter).toBe('Hi');
    expect(seen.order).toEqual(['conf-js@100', 'host@200', 'conf-js@300']);
    reference ??= seen;
    expect({ ...seen, tier: '' }).toEqual({ ...reference, tier: '' });
  });

  it('a hook error is a PluginError at every tier', async () => {
    // A JS plugin whose hook throws: the host sees a typed error, not a crash, at each tier.
    const throwing = await fx.js(
      'throws.mjs',
      `export default { name: 'conf-throws', version: '1.0.0', author: 't', async init() {},
        async registerHooks(h) { await h.register('boom', 200, async () => { throw new Error('kaboom'); }); },
        shutdown() {} };`,
      { name: 'conf-throws', kind: 'js' },
    );
    await fx.trust(throwing);
    const sec = await fx.security();
    for (const tier of TIERS) {
      if (tier === 'sandbox' && !sandbox) continue;
      await using registry = new PluginRegistry({
        security: sec,
        ...(sandbox ? { sandbox } : {}),
        defaultTier: tier,
        log: () => {},
      });
      const hookErrors: string[] = [];
      registry.on('hook-error', (e) => hookErrors.push(`${e.name}/${e.hookName}/${e.error.code}`));
      await registry.loadPlugin(throwing, 'trusted');
      const err = await registry.hooks.execute('boom', enc.encode('x')).catch((e: unknown) => e);
      expect(isPluginError(err), `tier ${tier}`).toBe(true);
      expect(String((err as Error).message), `tier ${tier}`).toMatch(/kaboom/);
      expect(registry.isLoaded('conf-throws'), `tier ${tier}: a hook error is not a crash`).toBe(true);
      expect(hookErrors, `tier ${tier}`).toEqual([expect.stringMatching(/^conf-throws\/boom\/\w+$/)]);
    }
  });
});
