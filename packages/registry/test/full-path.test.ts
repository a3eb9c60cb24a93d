// The full path, for a JS and a native plugin: sign → encrypted trust list (saved, loaded) → scanDirectory →
// loadPluginByName → hooks → context → metrics from the tier's collector → violations (recorded by hand and found by
// the monitor for real) → auto-unmount at the threshold with `violation` and `unloaded` events → Inactive.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity, type RegistryEvents } from '../dist/index.js';
import {
  dec,
  enc,
  FAST_UNMOUNT,
  Fixtures,
  NO_GRANTS,
  pidAlive,
  sandboxOrReason,
  tempDir,
  until,
} from './helpers.js';

// Counts requests in the context; hook "spin" starts a background CPU burner (outside any hook call, so only the
// monitor can see it).
const JS_PLUGIN = `
const enc = new TextEncoder();
const dec = new TextDecoder();
let ctx;
export default {
  name: 'path-js', version: '2.0.0', author: 'registry tests',
  async init(c) { ctx = c; },
  async registerHooks(h) {
    await h.register('greet', 200, async (data) => {
      const n = ((await ctx.has('path.count')) ? await ctx.get('path.count') : 0) + 1;
      await ctx.set('path.count', n);
      return enc.encode('js:' + dec.decode(data) + '#' + n);
    });
    await h.register('spin', 200, async () => {
      const burn = () => { const end = Date.now() + 40; while (Date.now() < end) {} setTimeout(burn, 0); };
      setTimeout(burn, 0);
      return enc.encode('spinning');
    });
  },
  shutdown() {},
};
`;

// Hook "greet" answers and writes a context key; hook "leak" opens 64 descriptors and keeps them.
const C_PLUGIN = `
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "plugward.h"
static const pw_host_api *g_host;
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)e; (void)c; g_host = h; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s;
  if (h->register_hook(h->host_data, "greet", 100) != PW_OK) return pw_set_error(e, c, 1, "reg");
  if (h->register_hook(h->host_data, "leak", 100) != PW_OK) return pw_set_error(e, c, 1, "reg");
  return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *hook, const uint8_t *in, size_t n, uint8_t **out, size_t *on,
                      char *e, size_t c) {
  (void)s;
  if (strcmp(hook, "leak") == 0) {
    for (int i = 0; i < 64; i++) open("/dev/null", O_RDONLY);
  } else {
    g_host->context_set(g_host->host_data, "native.seen", in, n);
  }
  uint8_t *b = malloc(n + 7);
  if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  memcpy(b, "native:", 7); memcpy(b + 7, in, n);
  *out = b; *on = n + 7; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "path-c", .version = "1.1.0",
  .author = "registry tests", .description = "full path", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const tmp = tempDir('path');
const fx = new Fixtures(tmp.dir);
const pluginDir = path.join(tmp.dir, 'plugins');
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let sandboxReason: string | undefined;

beforeAll(async () => {
  const js = await fx.js(
    'path.mjs',
    JS_PLUGIN,
    {
      name: 'path-js',
      version: '2.0.0',
      kind: 'js',
      // Budget per hook call as well: generous enough for an IPC round trip on a loaded 2-core CI machine.
      limits: { maxCpuTimeMs: 150 },
      requirements: NO_GRANTS(['path.count'], ['path.count']),
    },
    'plugins',
  );
  const so = await fx.native(
    'libpath.so',
    C_PLUGIN,
    {
      name: 'path-c',
      version: '1.1.0',
      kind: 'native',
      limits: { maxFileDescriptors: 8 },
      requirements: NO_GRANTS([], ['native.seen']),
    },
    'plugins',
  );
  await fx.trust(js);
  await fx.trust(so);
  // A third, signed by a stranger: discovered as Untrusted, never loaded here.
  await fx.js(
    'stranger.mjs',
    JS_PLUGIN.replace("'path-js'", "'stranger'"),
    { name: 'stranger', kind: 'js', keys: fx.stranger },
    'plugins',
  );
  security = await fx.security();
  // The trust list really is encrypted at rest: no plugin name in the clear.
  const list = fs.readdirSync(tmp.dir).find((f) => f.startsWith('trust-'));
  expect(list).toBeDefined();
  expect(fs.readFileSync(path.join(tmp.dir, list!)).toString('latin1')).not.toMatch(/path-js|path-c/);
  ({ sandbox, reason: sandboxReason } = await sandboxOrReason());
});
afterAll(() => tmp.remove());

function record(registry: PluginRegistry) {
  const events: { violation: RegistryEvents['violation'][]; unloaded: RegistryEvents['unloaded'][] } = {
    violation: [],
    unloaded: [],
  };
  registry.on('violation', (e) => events.violation.push(e));
  registry.on('unloaded', (e) => events.unloaded.push(e));
  return events;
}

describe('full path', () => {
  it('scan finds trusted and untrusted plugins without running code', async () => {
    await using registry = new PluginRegistry({ security, log: () => {} });
    expect(await registry.scanDirectory(pluginDir)).toBe(3);
    expect(registry.getAvailablePlugins().map((p) => p.name)).toEqual(['path-c', 'path-js']);
    const untrusted = registry.getUntrustedPlugins();
    expect(untrusted.map((p) => p.name)).toEqual(['stranger']);
    expect(untrusted[0]?.error).toBeTruthy();
    expect(registry.pluginCount()).toBe(0);
    expect(registry.totalPluginCount()).toBe(3);
    const info = registry.getPluginInfo('path-js')!;
    expect(info).toMatchObject({ version: '2.0.0', status: 'Available', trustLevel: 'trusted', kind: 'js' });
    expect(info.trustInfo).toBeDefined();
    expect(info.hash).toMatch(/^[0-9a-f]{128}$/);
    expect(info.resourceLimits.maxCpuTimeMs).toBe(150);
  });

  it('JS plugin at the worker tier: hooks, context, v8 metrics', async () => {
    await using registry = new PluginRegistry({ security, defaultTier: 'worker', log: () => {} });
    await registry.scanDirectory(pluginDir);
    await registry.loadPluginByName('path-js');
    expect(registry.getPluginInfo('path-js')).toMatchObject({ status: 'Active', tier: 'worker' });
    expect(dec.decode(await registry.hooks.execute('greet', enc.encode('a')))).toBe('js:a#1');
    expect(dec.decode(await registry.hooks.execute('greet', enc.encode('b')))).toBe('js:b#2');
    expect(registry.context.get('path.count')).toBe(2);
    const m = await registry.getMetrics('path-js');
    expect(m.source).toBe('v8');
    expect(m.memoryBytes).toBeGreaterThan(0);
  });

  it('JS plugin in the sandbox: cgroup metrics, a CPU runaway the monitor catches, auto-unmount', async () => {
    if (!sandbox) {
      console.warn(`!!! SKIPPED the sandbox full path: ${sandboxReason}`);
      return;
    }
    await using registry = new PluginRegistry({
      security,
      sandbox,
      defaultTier: 'sandbox',
      unmountBehavior: FAST_UNMOUNT,
      // The host turns severity escalation on: three High (CPU time) violations unmount.
      violations: { severityEscalation: true, windowMs: 60_000 },
      log: () => {},
    });
    const events = record(registry);
    await registry.scanDirectory(pluginDir);
    await registry.loadPluginByName('path-js');
    const info = registry.getPluginInfo('path-js')!;
    expect(info).toMatchObject({ status: 'Active', tier: 'sandbox' });
    expect(info.pid).toBeGreaterThan(0);
    expect(dec.decode(await registry.hooks.execute('greet', enc.encode('s')))).toBe('js:s#1');
    expect(registry.context.get('path.count')).toBe(1);
    const m = await registry.getMetrics('path-js');
    expect(m.source).toMatch(/^cgroup-v[12]$/);
    expect(m.memoryBytes).toBeGreaterThan(0);

    // A hand-recorded violation counts but does not unmount (one Low-severity violation).
    expect(await registry.recordViolation('path-js', { type: 'Threads', used: 99, limit: 10 })).toBe(false);
    expect(registry.getViolationCount('path-js')).toBe(1);
    registry.resetViolations('path-js');
    expect(registry.getViolationCount('path-js')).toBe(0);

    // The plugin starts burning CPU outside any hook call; the monitor's cgroup readings catch it (High severity:
    // with escalation on, three unmount).
    expect(dec.decode(await registry.hooks.execute('spin', new Uint8Array()))).toBe('spinning');
    // A 3 s interval: the spinner must burn > 150 ms (5% of a core) per reading, which it does even on a loaded
    // machine (at 400 ms it needed 37.5%, at 1 s 15%, at 2 s 7.5%: a machine with 25 runnable threads on 2 cores gives
    // a process 8%, and audit6 saw the 2 s interval time out once at load ≈ 17).
    const monitor = registry.startResourceMonitor(3000);
    await until(() => events.unloaded.some((e) => e.name === 'path-js'), 75_000, 'auto-unmount');
    monitor.stop();
    const cpu = events.violation.filter((v) => v.name === 'path-js' && v.violation.type === 'CpuTime');
    expect(cpu.length).toBeGreaterThanOrEqual(3);
    expect(cpu.at(-1)?.willUnmount).toBe(true);
    expect(events.unloaded.find((e) => e.name === 'path-js')?.reason).toBe('violations');
    const after = registry.getPluginInfo('path-js')!;
    expect(after.status).toBe('Inactive');
    expect(after.error).toMatch(/violation/);
    expect(pidAlive(info.pid!)).toBe(false);
    expect(registry.hooks.getHooks('greet')).toHaveLength(0);
  }, 120_000);

  it('native plugin at the process tier: procfs metrics, a descriptor leak the monitor catches, auto-unmount', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const events = record(registry);
    await registry.scanDirectory(pluginDir);
    await registry.loadPluginByName('path-c');
    const info = registry.getPluginInfo('path-c')!;
    expect(info).toMatchObject({ status: 'Active', tier: 'process', kind: 'native' });
    expect(dec.decode(await registry.hooks.execute('greet', enc.encode('hi')))).toBe('native:hi');
    expect(dec.decode(registry.context.get('native.seen') as Uint8Array)).toBe('hi');
    const m = await registry.getMetrics('path-c');
    expect(m.source).toBe('procfs');
    expect(m.fileDescriptors).toBeGreaterThan(0);

    // Idle, the plugin is within its limits (the runtime's own descriptors are allowed for).
    const quiet = registry.startResourceMonitor(25);
    await new Promise((r) => setTimeout(r, 200));
    quiet.stop();
    expect(events.violation).toHaveLength(0);

    expect(await registry.recordViolation('path-c', { type: 'FileDescriptors', used: 1, limit: 0 })).toBe(
      false,
    );
    await registry.hooks.execute('leak', new Uint8Array());
    const monitor = registry.startResourceMonitor(20);
    await until(() => events.unloaded.some((e) => e.name === 'path-c'), 15_000, 'auto-unmount');
    monitor.stop();
    const fds = events.violation.filter((v) => v.violation.type === 'FileDescriptors');
    // 1 by hand + 9 from the monitor = the 10 Low-severity violations that unmount.
    expect(fds.length).toBeGreaterThanOrEqual(10);
    expect(fds.at(-1)?.willUnmount).toBe(true);
    expect(events.unloaded.at(-1)).toEqual({ name: 'path-c', reason: 'violations' });
    expect(registry.getPluginInfo('path-c')?.status).toBe('Inactive');
    expect(registry.isLoaded('path-c')).toBe(false);
    expect(pidAlive(info.pid!)).toBe(false);
    await expect(registry.hooks.execute('greet', enc.encode('x'))).resolves.toEqual(enc.encode('x'));
  });
});
