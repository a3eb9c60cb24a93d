// Crash isolation: a plugin that segfaults, blows its heap or runs away on the CPU ends only its own process/worker;
// the call fails with a PluginError, the plugin is Failed with the reason, its hooks are gone, and the host and the
// other plugins keep working.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPluginError, PluginRegistry, type PluginSecurity, type RegistryEvents } from '../dist/index.js';
import { dec, enc, FAST_UNMOUNT, Fixtures, pidAlive, tempDir, until } from './helpers.js';

const SEGV_PLUGIN = `
#include <stdlib.h>
#include <string.h>
#include "plugward.h"
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s;
  if (h->register_hook(h->host_data, "echo", 100) != PW_OK) return pw_set_error(e, c, 1, "reg");
  if (h->register_hook(h->host_data, "crash", 100) != PW_OK) return pw_set_error(e, c, 1, "reg");
  return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *hook, const uint8_t *in, size_t n, uint8_t **out, size_t *on,
                      char *e, size_t c) {
  (void)s;
  if (strcmp(hook, "crash") == 0) { volatile int *p = NULL; *p = 42; }
  uint8_t *b = malloc(n + 1);
  if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  memcpy(b, in, n); b[n] = '!';
  *out = b; *on = n + 1; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "segv-c", .version = "1.0.0",
  .author = "registry tests", .description = "segfaults on demand", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const jsPlugin = (name: string, body: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: '${name}', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('echo', 200, async (d) => enc.encode(dec.decode(d) + '+${name}'));
    ${body}
  },
  shutdown() {},
};
`;

const tmp = tempDir('crash');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const paths: Record<string, string> = {};

beforeAll(async () => {
  paths.segv = await fx.native('libsegv.so', SEGV_PLUGIN, { name: 'segv-c', kind: 'native' });
  paths.bystander = await fx.js('bystander.mjs', jsPlugin('bystander', ''), {
    name: 'bystander',
    kind: 'js',
  });
  paths.hog = await fx.js(
    'hog.mjs',
    jsPlugin(
      'heap-hog',
      `await h.register('hog', 200, async () => { const keep = []; for (;;) keep.push(new Array(1e5).fill(Math.random())); });`,
    ),
    { name: 'heap-hog', kind: 'js', limits: { maxHeapBytes: 32 * 1024 * 1024 } },
  );
  paths.spin = await fx.js(
    'spin.mjs',
    jsPlugin('spinner', `await h.register('spin', 200, async () => { for (;;) {} });`),
    { name: 'spinner', kind: 'js', limits: { maxCpuTimeMs: 300 } },
  );
  for (const p of Object.values(paths)) await fx.trust(p);
  security = await fx.security();
});
afterAll(() => tmp.remove());

function watch(registry: PluginRegistry) {
  const crashed: RegistryEvents['crashed'][] = [];
  const unloaded: RegistryEvents['unloaded'][] = [];
  registry.on('crashed', (e) => crashed.push(e));
  registry.on('unloaded', (e) => unloaded.push(e));
  return { crashed, unloaded };
}

describe('crash isolation', () => {
  it('a native plugin that segfaults in call_hook at the process tier fails alone', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      tierOverrides: { bystander: 'worker' },
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const ev = watch(registry);
    await registry.loadPlugin(paths.segv!, 'trusted');
    await registry.loadPlugin(paths.bystander!, 'trusted');
    const pid = registry.getPluginInfo('segv-c')!.pid!;
    expect(pid).toBeGreaterThan(0);
    expect(dec.decode(await registry.hooks.execute('echo', enc.encode('a')))).toBe('a!+bystander');

    const err = await registry.hooks.execute('crash', enc.encode('x')).catch((e: unknown) => e);
    expect(isPluginError(err)).toBe(true);
    await until(() => ev.crashed.length > 0, 10_000, 'crashed event');
    expect(ev.crashed[0]).toMatchObject({ name: 'segv-c', signal: 'SIGSEGV', oomKilled: false });
    const info = registry.getPluginInfo('segv-c')!;
    expect(info.status).toBe('Failed');
    expect(info.error).toMatch(/SIGSEGV/);
    expect(info.pid).toBeUndefined();
    expect(pidAlive(pid)).toBe(false);
    expect(ev.unloaded).toContainEqual({ name: 'segv-c', reason: 'crashed' });
    // Its hooks are gone; the other plugin and the host keep working.
    expect(registry.hooks.getHooks('crash')).toHaveLength(0);
    expect(registry.hooks.getHooks('echo').map((h) => h.owner)).toEqual(['bystander']);
    expect(dec.decode(await registry.hooks.execute('echo', enc.encode('b')))).toBe('b+bystander');
    expect(registry.isLoaded('bystander')).toBe(true);
    // A crash is a failure (the crashed event, Failed), not a counted violation.
    expect(registry.getViolationCount('segv-c')).toBe(0);
    // A crashed plugin can be loaded again.
    await registry.loadPlugin(paths.segv!, 'trusted');
    expect(dec.decode(await registry.hooks.execute('echo', enc.encode('c')))).toBe('c!+bystander');
  });

  it('a heap blow-up at the worker tier ends only that worker', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'worker',
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const ev = watch(registry);
    await registry.loadPlugin(paths.hog!, 'trusted');
    await registry.loadPlugin(paths.bystander!, 'trusted');
    const err = await registry.hooks.execute('hog', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(err)).toBe(true);
    await until(() => ev.crashed.length > 0, 20_000, 'crashed event');
    expect(ev.crashed[0]).toMatchObject({ name: 'heap-hog', oomKilled: true });
    expect(registry.getPluginInfo('heap-hog')).toMatchObject({ status: 'Failed' });
    expect(registry.getPluginInfo('heap-hog')?.error).toMatch(/memory/);
    expect(registry.hooks.getHooks('echo').map((h) => h.owner)).toEqual(['bystander']);
    expect(dec.decode(await registry.hooks.execute('echo', enc.encode('z')))).toBe('z+bystander');
  });

  it.each(['worker', 'process'] as const)(
    'a hook overrunning maxCpuTimeMs (%s) ends only that plugin',
    async (tier) => {
      await using registry = new PluginRegistry({
        security,
        defaultTier: tier,
        unmountBehavior: FAST_UNMOUNT,
        log: () => {},
      });
      const ev = watch(registry);
      const violations: RegistryEvents['violation'][] = [];
      registry.on('violation', (v) => violations.push(v));
      await registry.loadPlugin(paths.spin!, 'trusted');
      await registry.loadPlugin(paths.bystander!, 'trusted');
      const err = await registry.hooks.execute('spin', new Uint8Array()).catch((e: unknown) => e);
      expect(isPluginError(err)).toBe(true);
      expect((err as { code: string }).code).toMatch(/Timeout/);
      await until(() => ev.crashed.length > 0, 10_000, 'crashed event');
      expect(ev.crashed[0]?.name).toBe('spinner');
      expect(violations.some((v) => v.name === 'spinner' && v.violation.type === 'HookTimeout')).toBe(true);
      expect(registry.getPluginInfo('spinner')?.status).toBe('Failed');
      expect(registry.hooks.getHooks('spin')).toHaveLength(0);
      expect(dec.decode(await registry.hooks.execute('echo', enc.encode('q')))).toBe('q+bystander');
    },
  );
});
