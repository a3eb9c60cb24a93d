// testPlugin really loads the plugin at the tier asked for: the process tier is another process, the sandbox can't read
// what the host can, a native library runs too, and nothing is left in the temp directory afterwards.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { compileNativePlugin } from '@plugward/loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testPlugin } from '../dist/index.js';

const TIERS = ['in-process', 'worker', 'process', 'sandbox'] as const;

// An unsigned, self-contained plugin as a bundler would emit it.
const PLUGIN = `import fs from 'node:fs';
const enc = new TextEncoder(), dec = new TextDecoder();
let tier;
export default {
  name: 'probe', version: '1.2.3', author: 'tests',
  init(ctx, runtime) { tier = runtime.tier; },
  async registerHooks(hooks) {
    await hooks.register('upper', 200, (d) => enc.encode(dec.decode(d).toUpperCase()));
    await hooks.register('whoami', 200, () => enc.encode(JSON.stringify({ pid: process.pid, tier })));
    await hooks.register('shadow', 200, () => {
      try { fs.readFileSync('/etc/shadow'); return enc.encode('read'); }
      catch (e) { return enc.encode('denied ' + e.code); }
    });
  },
};
`;

const NATIVE = `#include <stdlib.h>
#include <string.h>
#include "plugward.h"
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; int32_t rc = h->register_hook(h->host_data, "upper", 200);
  return rc == PW_OK ? PW_OK : pw_set_error(e, c, rc, "register failed");
}
static int32_t p_call(pw_plugin *s, const char *hook, const uint8_t *in, size_t n, uint8_t **out, size_t *out_len, char *e, size_t c) {
  (void)s; (void)hook;
  uint8_t *b = malloc(n + 1);
  if (b == NULL) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  for (size_t i = 0; i < n; i++) b[i] = (in[i] >= 'a' && in[i] <= 'z') ? (uint8_t)(in[i] - 32) : in[i];
  *out = b; *out_len = n; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t n) { (void)s; (void)n; free(b); }
static int32_t p_shutdown(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g = { .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "probe-c",
  .version = "0.1.0", .author = "tests", .init = p_init, .register_hooks = p_reg, .call_hook = p_call,
  .free_buffer = p_free, .shutdown = p_shutdown, .destroy = p_destroy };
PW_EXPORT pw_plugin *create_plugin(void) { return &g; }
`;

let dir: string;
let file: string;
let tmp: string;
let savedTmp: string | undefined;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-testing-fixture-'));
  file = path.join(dir, 'plugin.js');
  fs.writeFileSync(file, PLUGIN);
  // Everything testPlugin and the registry write goes to os.tmpdir(): point it at a directory of our own, to see it
  // empty again after each close().
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-testing-tmp-'));
  savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
});

afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('testPlugin', () => {
  it.each(TIERS)('runs an unsigned JS plugin at the %s tier and leaves nothing behind', async (tier) => {
    const p = await testPlugin(file, {
      tier,
      ...(tier === 'in-process' ? {} : { name: 'probe', version: '1.2.3' }),
    });
    try {
      expect(p.name).toBe('probe');
      expect(p.tier).toBe(tier);
      expect(p.info().version).toBe('1.2.3');
      expect(await p.callText('upper', 'hello')).toBe('HELLO');
      const who = await p.callJson<{ pid: number; tier: string }>('whoami', null);
      expect(who.tier).toBe(tier);
      if (tier === 'in-process' || tier === 'worker') expect(who.pid).toBe(process.pid);
      if (tier === 'process') {
        expect(p.pid).not.toBe(process.pid);
        // p.pid is the runtime's host pid; the plugin sees its pid in its own pid namespace (2 there, the registry
        // README) — the last of the host's NSpid list for it, whichever way the tier holds its processes.
        const nspid = /^NSpid:\s+(.*)$/m
          .exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'))?.[1]
          ?.trim()
          .split(/\s+/);
        expect(nspid?.[0]).toBe(String(p.pid));
        expect(Number(nspid?.at(-1))).toBe(who.pid);
      }
      if (tier === 'sandbox') expect(p.pid).not.toBe(process.pid);
      const shadow = await p.callText('shadow');
      // The host runs as root in CI, so only the sandbox is refused.
      if (tier === 'sandbox') expect(shadow).toMatch(/^denied /);
      else if (process.getuid?.() === 0) expect(shadow).toBe('read');
    } finally {
      await p.close();
    }
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('runs a native plugin given its name and version, in and out of process (never in a worker)', async () => {
    const so = path.join(dir, 'libprobe.so');
    const src = path.join(dir, 'probe.c');
    fs.writeFileSync(src, NATIVE);
    await compileNativePlugin({ sources: [src], output: so });
    for (const tier of ['in-process', 'process'] as const) {
      await using p = await testPlugin(so, { tier, name: 'probe-c', version: '0.1.0' });
      expect(p.tier).toBe(tier);
      expect(await p.callText('upper', 'abc')).toBe('ABC');
    }
    // Never in a worker thread, which can't be stopped inside native code.
    await expect(testPlugin(so, { tier: 'worker', name: 'probe-c', version: '0.1.0' })).rejects.toMatchObject(
      {
        code: 'Unsupported',
      },
    );
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('refuses a native plugin without name and version, and a file that is no plugin, leaving nothing', async () => {
    await expect(testPlugin(path.join(dir, 'libprobe.so'))).rejects.toMatchObject({
      code: 'InvalidArgument',
    });
    const bad = path.join(dir, 'bad.js');
    fs.writeFileSync(bad, 'export default 42;\n');
    await expect(testPlugin(bad)).rejects.toMatchObject({ code: 'InvalidPlugin' });
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it.each(TIERS.filter((t) => t !== 'in-process'))(
    'never runs the plugin in the test process to learn its name (%s tier)',
    async (tier) => {
      // A plugin whose top-level code leaves a mark with the pid it ran under.
      const marker = path.join(dir, `ran-${tier}`);
      const spy = path.join(dir, `spy-${tier}.mjs`);
      fs.writeFileSync(
        spy,
        `import fs from 'node:fs';\ntry { fs.writeFileSync(${JSON.stringify(marker)}, String(process.pid)); } catch {}\nexport default { name: 'spy', version: '1.0.0', author: 't', init() {}, registerHooks() {} };\n`,
      );
      await expect(testPlugin(spy, { tier })).rejects.toMatchObject({ code: 'InvalidArgument' });
      expect(fs.existsSync(marker)).toBe(false);
      // With its name given it runs at the tier asked for, never in this process.
      const p = await testPlugin(spy, { tier, name: 'spy', version: '1.0.0' });
      try {
        const ranAs = fs.existsSync(marker) ? Number(fs.readFileSync(marker, 'utf8')) : undefined;
        // (A worker is a thread of this process: it shares the pid, so only the other tiers can show it.)
        if (tier !== 'worker') expect(ranAs).not.toBe(process.pid);
      } finally {
        await p.close();
      }
    },
  );
});
