// The attacker's side of native code in a worker thread. `worker.terminate()` can't interrupt native code (a hook
// spinning in C holds its thread for ever), and terminating a worker while koffi runs in it aborts the whole host
// (`FATAL ERROR: Error::ThrowAsJavaScriptException napi_throw`: koffi's error path during the worker's termination).
// Every path that ends a worker — a hook's timeout, an unload, close(), an Initialize timeout — must therefore never
// meet a worker that may be inside native code. Each case runs the host in a child process, so an abort, or a thread
// that keeps the host from exiting, is observable: the host must report, exit on its own with code 0, and leave no
// plugin process or private copy behind; a trusted plugin must still answer.
import fs from 'node:fs';
import path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { IpcChannel } from '@plugward/ipc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RESOURCE_LIMITS, MINIMAL_REQUIREMENTS, runtimeEntry } from '../dist/index.js';
import { Fixtures, type HostRun, hostScriptEnv, pidAlive, runHostScript, tempDir } from './helpers.js';

// Its hook `spin` spins in C: for ever on input "forever", else for the given number of ms, then answers "done".
const SPIN_C = `
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "plugward.h"
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, "spin", 100) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
}
static long long now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1000LL + t.tv_nsec / 1000000; }
static int32_t p_call(pw_plugin *s, const char *k, const uint8_t *in, size_t n, uint8_t **out, size_t *on, char *e, size_t c) {
  (void)s; (void)k;
  char arg[32] = {0}; memcpy(arg, in, n < sizeof arg - 1 ? n : sizeof arg - 1);
  volatile int forever = strcmp(arg, "forever") == 0;
  long long until = now_ms() + atol(arg);
  while (forever || now_ms() < until) { }
  uint8_t *b = malloc(4); if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  memcpy(b, "done", 4); *out = b; *on = 4; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "spin-c", .version = "1.0.0",
  .author = "attack tests", .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

// A trusted JS plugin: answers `echo`, and `koffi` says whether koffi was loaded in the thread it runs on.
const BYSTANDER = `
import { createRequire } from 'node:module';
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: 'bystander', version: '1.0.0', author: 'attack tests',
  init() {},
  async registerHooks(h) {
    await h.register('echo', 200, (d) => enc.encode(dec.decode(d) + '+bystander'));
    await h.register('koffi', 200, () => {
      const cache = createRequire(import.meta.url).cache ?? {};
      return enc.encode(String(Object.keys(cache).some((k) => k.includes('koffi'))));
    });
  },
};
`;

// The host. Modes: 'timeout' | 'unload' | 'close' (a native call in flight meets that path), 'init-timeout' (JS
// plugins' worker starts cut short by an Initialize timeout, and by close(), at CUTS moments spread over a whole start).
const HOST = `
import fs from 'node:fs';
const m = await import(process.env.DIST);
const security = new m.PluginSecurity({ onlyTrusted: true, trustListPath: process.env.LIST }, [process.env.PUB], []);
await security.loadAndDecryptTrustList(process.env.LIST_KEY);
const enc = new TextEncoder(), dec = new TextDecoder();
const report = {};
const other = new m.PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
await other.loadPlugin(process.env.BYSTANDER, 'trusted');
const mode = process.env.MODE;
const codeOf = (e) => (e && typeof e === 'object' && 'code' in e ? e.code : String(e));
if (mode === 'init-timeout') {
  // How long a worker start takes here, now (a loaded machine stretches it several times): the cuts cover all of it.
  const t0 = performance.now();
  const first = new m.PluginRegistry({ security, defaultTier: 'worker', log: () => {} });
  await first.loadPlugin(process.env.BYSTANDER, 'trusted');
  const startMs = performance.now() - t0;
  await first.close();
  report.startMs = Math.round(startMs);
  const outcomes = new Set();
  const cuts = Number(process.env.CUTS);
  for (let i = 1; i <= cuts; i++) {
    const t = Math.max(1, Math.round((startMs * 1.2 * i) / cuts));
    const r = new m.PluginRegistry({ security, defaultTier: 'worker', quotas: { initTimeoutMs: t }, log: () => {} });
    outcomes.add(await r.loadPlugin(process.env.BYSTANDER, 'trusted').then(() => 'loaded', codeOf));
    await r.close();
    const c = new m.PluginRegistry({ security, defaultTier: 'worker', log: () => {} });
    const load = c.loadPlugin(process.env.BYSTANDER, 'trusted').then(() => 'loaded', codeOf);
    await new Promise((res) => setTimeout(res, t));
    await c.close();
    outcomes.add(await load);
  }
  report.outcomes = [...outcomes].sort();
  const r = new m.PluginRegistry({ security, defaultTier: 'worker', log: () => {} });
  await r.loadPlugin(process.env.BYSTANDER, 'trusted');
  report.workerTier = r.getPluginInfo('bystander')?.tier;
  report.koffiInJsWorker = dec.decode(await r.hooks.execute('koffi', new Uint8Array()));
  await r.close();
} else {
  const unmountBehavior = { autoUnmount: true, gracePeriodMs: 0, allowCleanup: true, maxCleanupTimeMs: 500, logViolations: false, callShutdownHook: true };
  // The hook's budget: short when the timeout is the path under test, else long, so that the unload or close() ends it.
  const hostLimits = { ...m.DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: mode === 'timeout' ? 300 : 60_000 };
  const registry = new m.PluginRegistry({ security, defaultTier: 'worker', hostLimits, unmountBehavior, log: () => {} });
  await registry.loadPlugin(process.env.SPIN, 'trusted');
  const info = registry.getPluginInfo('spin-c');
  report.tier = info?.tier;
  report.pid = info?.pid;
  const call = registry.hooks.execute('spin', enc.encode(process.env.SPIN_INPUT)).then((d) => dec.decode(d), codeOf);
  if (mode === 'timeout') {
    report.call = await call;
  } else {
    await new Promise((res) => setTimeout(res, 150));
    if (mode === 'unload') await registry.unloadPlugin('spin-c');
    else await registry.close();
    report.call = await call;
  }
  report.status = registry.getPluginInfo('spin-c')?.status ?? 'gone';
  await registry.close();
}
report.echo = dec.decode(await other.hooks.execute('echo', enc.encode('still')));
await other.close();
report.copies = fs.readdirSync(process.env.TMPDIR).filter((f) => f.startsWith('plugward-'));
console.log(JSON.stringify(report));
// No process.exit(): the host must be able to end on its own (a worker stuck in native code would hold it).
`;

const tmp = tempDir('worker-native');
const fx = new Fixtures(tmp.dir);
let spinPath = '';
let bystanderPath = '';
let listPath = '';

beforeAll(async () => {
  spinPath = await fx.native('libspin.so', SPIN_C, { name: 'spin-c', kind: 'native' });
  bystanderPath = await fx.js('bystander.mjs', BYSTANDER, { name: 'bystander', kind: 'js' });
  await fx.trust(spinPath);
  await fx.trust(bystanderPath);
  listPath = (await fx.security()).policy.trustListPath;
});
afterAll(() => tmp.remove());

/** Runs the host in a child process; it must end on its own within `limitMs` (else it is killed and says so). */
function runHost(mode: string, spinInput = '', limitMs = 30_000, cuts = 0): Promise<HostRun> {
  const hostTmp = fs.mkdtempSync(path.join(tmp.dir, `host-${mode}-`));
  return runHostScript(
    HOST,
    {
      ...hostScriptEnv(fx, listPath),
      SPIN: spinPath,
      SPIN_INPUT: spinInput,
      BYSTANDER: bystanderPath,
      MODE: mode,
      CUTS: String(cuts),
      TMPDIR: hostTmp,
    },
    limitMs,
  );
}

function expectSurvived(run: HostRun): Record<string, unknown> {
  expect({ code: run.code, signal: run.signal, stderr: run.stderr.slice(0, 4000) }).toEqual({
    code: 0,
    signal: null,
    stderr: '',
  });
  const report = run.report!;
  expect(report.echo).toBe('still+bystander');
  expect(report.copies).toEqual([]);
  if (typeof report.pid === 'number') expect(pidAlive(report.pid)).toBe(false);
  return report;
}

describe('a native plugin the host wanted at the worker tier', () => {
  it.each([
    ['timeout', 'forever'],
    ['timeout', '5000'],
    ['unload', 'forever'],
    ['close', 'forever'],
    ['close', '5000'],
  ])(
    'hook spinning in C (%s, input %s): the host survives, ends and leaves nothing',
    async (mode, input) => {
      const report = expectSurvived(await runHost(mode, input));
      // Placed out of the worker: the process tier can end a plugin wherever its code is.
      expect(report.tier).toBe('process');
      expect(report.call).not.toBe('done');
      if (mode === 'timeout') expect(report.call).toBe('HookTimeout');
    },
    60_000,
  );
});

describe('a JS plugin at the worker tier', () => {
  it('worker starts cut short at every moment (Initialize timeout, close) never abort the host', async () => {
    const report = expectSurvived(await runHost('init-timeout', '', 100_000, 12));
    expect(report.workerTier).toBe('worker');
    // Some starts were cut short, which is the point of the exercise.
    expect((report.outcomes as string[]).some((o) => o !== 'loaded')).toBe(true);
    // The worker running a JS plugin never loaded koffi: nothing native runs there to be interrupted.
    expect(report.koffiInJsWorker).toBe('false');
  }, 150_000);
});

describe('the plugin runtime in a worker thread', () => {
  it('refuses a native plugin before loading anything native (should a host start one there anyway)', async () => {
    const { port1, port2 } = new MessageChannel();
    const worker = new Worker(runtimeEntry(), {
      workerData: { port: port2, dir: path.dirname(spinPath), file: path.basename(spinPath) },
      transferList: [port2],
      stdout: true,
      stderr: true,
    });
    const host = new IpcChannel(port1, { role: 'host', label: 'native-in-worker' });
    host.setRequestHandler(() => ({ kind: 'Success' }));
    try {
      const answer = await host
        .sendRequest({
          kind: 'Initialize',
          config: {
            pluginName: 'spin-c',
            kind: 'native',
            artifactPath: spinPath,
            tier: 'worker',
            limits: DEFAULT_RESOURCE_LIMITS,
            requirements: MINIMAL_REQUIREMENTS,
          },
        })
        .catch((e: unknown) => e);
      expect(answer).toMatchObject({
        code: 'Unsupported',
        message: expect.stringMatching(/native: it can't run in a worker thread/),
      });
    } finally {
      await host.close().catch(() => {});
      await worker.terminate();
    }
  });
});
