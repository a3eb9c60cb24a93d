// The attacker's side of the strict sandbox's start-up order: the in-process filter that denies exec and fork must be
// in force before the first line of plugin code — its module's top level, which runs while the runtime imports it —
// with both backends. A plugin that tries to start a program at import time gets an error; the host still serves;
// nothing is left (process, cgroup, private copy).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  cgroupLimits,
  dec,
  enc,
  Fixtures,
  leftovers,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('attack-lockdown');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('attack-lockdown');
let security: PluginSecurity;
let early = '';
let healthy = '';
let nativeEarly = '';

// Top-level code: runs while the runtime imports the plugin, before init or any hook.
const earlySource = `
import { spawnSync } from 'node:child_process';
const tries = {};
for (const [what, args] of [['node', ['-e', 'process.exit(7)']], ['sh', []]]) {
  const bin = what === 'node' ? process.execPath : '/bin/sh';
  const r = spawnSync(bin, args, { timeout: 5000 });
  tries[what] = r.error ? 'error:' + (r.error.code ?? r.error.message) : 'ran:' + r.status;
}
export default {
  name: 'early', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('early', 300, () => new TextEncoder().encode(JSON.stringify(tries))); },
};
`;
// A native plugin's constructor runs at dlopen, inside the runtime: execve without a fork (replacing the runtime) and
// a bare fork (clone with only SIGCHLD). Either must fail with an errno, recorded for the hook to report.
const EXEC_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plugward.h"
static char g_report[128];
__attribute__((constructor)) static void at_load(void) {
  char *argv[] = {"node", "-e", "process.exit(7)", NULL};
  char *envp[] = {NULL};
  execve("/proc/self/exe", argv, envp);
  int exec_errno = errno;
  long f = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
  if (f == 0) _exit(0);
  int fork_errno = f < 0 ? errno : 0;
  snprintf(g_report, sizeof g_report, "{\\"exec\\":%d,\\"fork\\":%d,\\"forked\\":%s}", exec_errno, fork_errno,
           f > 0 ? "true" : "false");
}
static int32_t p_init(pw_plugin *self, const pw_host_api *host, char *err, size_t cap) {
  (void)self; (void)host; (void)err; (void)cap; return PW_OK;
}
static int32_t p_register(pw_plugin *self, const pw_host_api *host, char *err, size_t cap) {
  (void)self;
  if (host->register_hook(host->host_data, "native-early", 100) != PW_OK) return pw_set_error(err, cap, 1, "reg");
  return PW_OK;
}
static int32_t p_call(pw_plugin *self, const char *hook, const uint8_t *in, size_t in_len, uint8_t **out,
                      size_t *out_len, char *err, size_t cap) {
  (void)self; (void)hook; (void)in; (void)in_len;
  size_t n = strlen(g_report);
  uint8_t *buf = malloc(n);
  if (!buf) return pw_set_error(err, cap, PW_ERR_NO_MEMORY, "oom");
  memcpy(buf, g_report, n);
  *out = buf; *out_len = n;
  return PW_OK;
}
static void p_free(pw_plugin *self, uint8_t *b, size_t l) { (void)self; (void)l; free(b); }
static int32_t p_shutdown(pw_plugin *self, char *err, size_t cap) { (void)self; (void)err; (void)cap; return PW_OK; }
static void p_destroy(pw_plugin *self) { (void)self; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "native-early",
  .version = "1.0.0", .author = "registry tests", .description = "exec at load", .limits = {0}, .state = NULL,
  .init = p_init, .register_hooks = p_register, .call_hook = p_call, .free_buffer = p_free,
  .shutdown = p_shutdown, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;
const healthySource = `
export default {
  name: 'healthy', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('ping', 300, () => new TextEncoder().encode('pong')); },
};
`;

beforeAll(async () => {
  ownTmp.use();
  early = await fx.js('early.mjs', earlySource, { name: 'early', kind: 'js' });
  healthy = await fx.js('healthy.mjs', healthySource, { name: 'healthy', kind: 'js' });
  nativeEarly = await fx.native('libearly.so', EXEC_C, { name: 'native-early', kind: 'native' });
  await fx.trust(nativeEarly);
  await fx.trust(early);
  await fx.trust(healthy);
  security = await fx.security();
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

const EPERM = 1;
const EACCES = 13;
const ENOSYS = 38;

describe('exec and fork at import time, strict sandbox', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s: the filter is in force before the plugin module runs',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        defaultTier: 'sandbox',
        log: () => {},
      });
      let pid: number | undefined;
      try {
        await registry.loadPlugin(healthy, 'trusted');
        await registry.loadPlugin(early, 'trusted');
        pid = registry.getPluginInfo('early')?.pid;
        expect(pid).toBeGreaterThan(0);
        // Its process is in plugward cgroups with a memory, pids and CPU limit the kernel holds.
        const limits = cgroupLimits(pid as number);
        expect(limits.memory).toMatch(/\/plugward\/early-.*:\d+$/);
        expect(Number(limits.memory?.split(':').at(-1))).toBeLessThan(2 ** 40);
        expect(limits.pids).toMatch(/\/plugward\/early-.*:\d+$/);
        expect(limits.cpu).toMatch(/\/plugward\/early-.*:\d+( \d+)?$/);
        expect(limits.cpu).not.toMatch(/:(-1|max)/);
        const tries = JSON.parse(dec.decode(await registry.hooks.execute('early', enc.encode('')))) as Record<
          string,
          string
        >;
        // Neither program started: node would have exited 7, sh 0. The denial is an errno (EPERM/EACCES; ENOENT
        // where a backend does not even show /bin/sh), never a run.
        expect(tries.node).toMatch(/^error:(EPERM|EACCES)$/);
        expect(tries.sh).toMatch(/^error:(EPERM|EACCES|ENOENT)$/);
        expect(dec.decode(await registry.hooks.execute('ping', enc.encode('')))).toBe('pong');
        // Native code at dlopen: execve in place (no fork) and a bare fork, past the JS layer entirely.
        await registry.loadPlugin(nativeEarly, 'trusted');
        const native = JSON.parse(
          dec.decode(await registry.hooks.execute('native-early', enc.encode(''))),
        ) as { exec: number; fork: number; forked: boolean };
        expect(native.forked).toBe(false);
        expect([EPERM, EACCES]).toContain(native.exec);
        expect([EPERM, EACCES, ENOSYS]).toContain(native.fork);
        expect(dec.decode(await registry.hooks.execute('ping', enc.encode('')))).toBe('pong');
      } finally {
        await registry.close();
      }
      if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
      expect(leftovers('early', ownTmp.dir)).toEqual([]);
      expect(leftovers('healthy', ownTmp.dir)).toEqual([]);
      expect(leftovers('native-early', ownTmp.dir)).toEqual([]);
    },
  );
});
