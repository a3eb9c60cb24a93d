// audit s10 #7, registry view (root test machine: the host runs as `nobody` through setpriv;
// needs cc): a NON-root PluginRegistry host with the Landlock backend loads an untrusted native plugin (no grants but
// its hook); in its hook the plugin calls prlimit64 on its parent — the host — setting RLIMIT_NOFILE to 8 and RLIMIT_CPU
// to 1 s. Expected: the calls fail and the host keeps serving. Fails on main 7891584: both calls return 0, the host
// can't open a file and is SIGKILLed by the kernel.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Fixtures, NO_GRANTS, runAsNobody, tempDir } from './helpers.js';

const tmp = tempDir('audit-ll-prlimit');
const fx = new Fixtures(tmp.dir);
let native = '';

const PLUGIN_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plugward.h"
static char g_out[256];
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, "audit.limits", 300) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *k, const uint8_t *in, size_t n, uint8_t **out, size_t *on, char *e, size_t c) {
  (void)s; (void)k; (void)in; (void)n;
  struct rlimit nofile = { 8, 8 }, cpu = { 1, 1 };
  long a = syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, &nofile, 0); int ea = a ? errno : 0;
  long b = syscall(SYS_prlimit64, getppid(), RLIMIT_CPU, &cpu, 0); int eb = b ? errno : 0;
  int len = snprintf(g_out, sizeof g_out, "{\\"nofile\\":%d,\\"cpu\\":%d}", ea, eb);
  uint8_t *buf = malloc(len); if (!buf) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  memcpy(buf, g_out, len); *out = buf; *on = len; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "audit-limits", .version = "1.0.0",
  .author = "a stranger", .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const HOST = `import fs from 'node:fs';
const { PluginRegistry, PluginSecurity, LandlockSandbox } = await import(process.env.DIST);
// A non-root host here has no cgroup and no noexec mount: both allowed, neither matters to the calls under test.
const sandbox = new LandlockSandbox({ allowNoCgroup: true, allowExecutableScratch: true });
const registry = new PluginRegistry({
  security: new PluginSecurity({ onlyTrusted: false }),
  sandbox,
  policy: { onlyTrusted: false },
  grants: { plugins: { 'audit-limits': { hooks: [{ name: 'audit.limits' }] } } },
  log: () => {},
});
await registry.loadPlugin(process.env.PLUGIN, 'untrusted');
const pid = registry.getPluginInfo('audit-limits')?.pid;
const plugin = new TextDecoder().decode(await registry.hooks.execute('audit.limits', new Uint8Array()));
let opened = 0;
try { for (; opened < 32; opened++) fs.openSync('/proc/self/stat', 'r'); } catch {}
console.log(JSON.stringify({ uid: process.getuid(), plugin, opened }));
// Past 1.5 s of CPU in all (the 1 s RLIMIT_CPU the plugin tried to set would have killed it by then).
const cpu = () => { const u = process.cpuUsage(); return u.user + u.system; };
while (cpu() < 1_500_000) {}
// Still serving: the plugin answers again; then nothing of it is left.
const again = new TextDecoder().decode(await registry.hooks.execute('audit.limits', new Uint8Array()));
await registry.close();
let gone = false;
try { process.kill(pid, 0); } catch (e) { gone = e.code === 'ESRCH'; }
console.log(JSON.stringify({ survived: true, served: again === plugin, gone: pid !== undefined && gone }));
`;

beforeAll(async () => {
  fs.chmodSync(tmp.dir, 0o755);
  native = await fx.native('libaudit-limits.so', PLUGIN_C, {
    name: 'audit-limits',
    kind: 'native',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  for (const f of fs.readdirSync(tmp.dir)) fs.chmodSync(path.join(tmp.dir, f), 0o755);
});
afterAll(() => tmp.remove());

it('a non-root Landlock host keeps its limits and serves whatever its untrusted native plugin calls', (ctx) => {
  if (process.getuid?.() !== 0)
    return ctx.skip('the test runs its host as nobody through setpriv (needs root)');
  const home = path.join(tmp.dir, 'home');
  fs.mkdirSync(home, { mode: 0o700 });
  fs.chownSync(home, 65534, 65534);
  const hostFile = path.join(tmp.dir, 'host.mjs');
  fs.writeFileSync(hostFile, HOST, { mode: 0o644 });
  const { stdout, failure } = runAsNobody(
    hostFile,
    {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: home,
      TMPDIR: home,
      PLUGIN: native,
      DIST: path.resolve(import.meta.dirname, '../dist/index.js'),
    },
    150_000, // ≈ 2.5 s of CPU: 25 s at load 20 on 2 cores
  );
  const lines = stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  expect({ ...lines[0], ...lines[1], failure }, stdout).toMatchObject({
    uid: 65534,
    plugin: expect.stringMatching(/"nofile":[1-9]/),
    opened: 32,
    survived: true,
    served: true,
    gone: true,
    failure: '',
  });
}, 200_000);
