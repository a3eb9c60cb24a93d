// The attacker's side of the strict sandbox's process lockdown, after start-up: native code of an untrusted plugin,
// called in a hook (the runtime long running), tries every way to start or become another program — fork, vfork,
// clone without CLONE_THREAD (plain, vfork-style, CLONE_PARENT), clone3, execve, execveat — and reads its seccomp state.
// Every one must fail with an errno (clone3: ENOSYS, so glibc falls back to clone), the process must carry
// no_new_privs and a seccomp filter in filter mode, whichever way the lockdown's filter
// was installed (built in the sandbox or handed over precompiled). The host still serves; nothing is left. Both backends.
import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  leftovers,
  NO_GRANTS,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-lockdown-sys');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-lockdown-sys');
let security: PluginSecurity;
let native = '';
let probe = '';

const TRIES_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plugward.h"
static char g_out[1024];
static size_t g_len;
static void put(const char *k, long rc, int err) {
  g_len += snprintf(g_out + g_len, sizeof g_out - g_len, "%s\\"%s\\":%d", g_len > 1 ? "," : "", k, rc < 0 ? err : 0);
}
/* A child that got through must not run anything: it exits at once. */
#define CHILD_EXIT(rc) do { if ((rc) == 0) syscall(SYS_exit, 0); } while (0)
static void tries(void) {
  long rc;
  g_len = 0; g_out[g_len++] = '{';
  rc = syscall(SYS_fork); CHILD_EXIT(rc); put("fork", rc, errno);
  rc = syscall(SYS_vfork); CHILD_EXIT(rc); put("vfork", rc, errno);
  rc = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L); CHILD_EXIT(rc); put("clone", rc, errno);
  rc = syscall(SYS_clone, (long)(CLONE_VM | CLONE_VFORK | SIGCHLD), 0L, 0L, 0L, 0L); CHILD_EXIT(rc); put("clone_vfork", rc, errno);
  rc = syscall(SYS_clone, (long)(CLONE_PARENT | SIGCHLD), 0L, 0L, 0L, 0L); CHILD_EXIT(rc); put("clone_parent", rc, errno);
  struct clone_args ca; memset(&ca, 0, sizeof ca); ca.exit_signal = SIGCHLD;
  rc = syscall(SYS_clone3, &ca, sizeof ca); CHILD_EXIT(rc); put("clone3", rc, errno);
  char *argv[] = {"node", "-e", "process.exit(7)", NULL};
  char *envp[] = {NULL};
  rc = syscall(SYS_execve, "/proc/self/exe", argv, envp); put("execve", rc, errno);
  rc = syscall(SYS_execveat, AT_FDCWD, "/proc/self/exe", argv, envp, 0); put("execveat", rc, errno);
  int fd = open("/proc/self/status", O_RDONLY);
  char st[4096]; ssize_t n = fd >= 0 ? read(fd, st, sizeof st - 1) : -1; if (fd >= 0) close(fd);
  st[n > 0 ? n : 0] = 0;
  const char *keys[] = {"NoNewPrivs:", "Seccomp:", "Seccomp_filters:"};
  for (int i = 0; i < 3; i++) {
    char *p = strstr(st, keys[i]);
    long v = p ? strtol(p + strlen(keys[i]), NULL, 10) : -1;
    g_len += snprintf(g_out + g_len, sizeof g_out - g_len, ",\\"%.*s\\":%ld", (int)strlen(keys[i]) - 1, keys[i], v);
  }
  g_len += snprintf(g_out + g_len, sizeof g_out - g_len, "}");
}
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, "audit.sys", 300) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *k, const uint8_t *in, size_t n, uint8_t **out, size_t *on, char *e, size_t c) {
  (void)s; (void)k; (void)in; (void)n;
  tries();
  uint8_t *b = malloc(g_len); if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  memcpy(b, g_out, g_len); *out = b; *on = g_len; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "audit-sys", .version = "1.0.0",
  .author = "a stranger", .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

beforeAll(async () => {
  ownTmp.use();
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  native = await fx.native('libaudit-sys.so', TRIES_C, {
    name: 'audit-sys',
    kind: 'native',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

const { EPERM, EACCES, ENOSYS } = os.constants.errno;

describe('audit: no new process or program from a running untrusted native plugin', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: { plugins: { 'audit-sys': { hooks: [{ name: 'audit.sys' }] } } },
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      let pid: number | undefined;
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(native, 'untrusted');
        pid = registry.getPluginInfo('audit-sys')?.pid;
        const got = JSON.parse(
          dec.decode(await registry.hooks.execute('audit.sys', enc.encode(''))),
        ) as Record<string, number>;
        for (const k of ['fork', 'vfork', 'clone', 'clone_vfork', 'clone_parent', 'execve', 'execveat'])
          expect([EPERM, EACCES], `${k}: errno ${got[k]} (0 = it worked)`).toContain(got[k]);
        expect(got.clone3, 'clone3 must be ENOSYS (Node aborts on EPERM)').toBe(ENOSYS);
        expect(got.NoNewPrivs).toBe(1);
        expect(got.Seccomp).toBe(2);
        expect(got.Seccomp_filters).toBeGreaterThanOrEqual(1);
        // Still the same plugin process, still answering.
        expect(registry.getPluginInfo('audit-sys')?.pid).toBe(pid);
        expect(registry.getPluginInfo('audit-sys')?.status).toBe('Active');
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
      }
      if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
      expect(leftovers('audit-sys', ownTmp.dir)).toEqual([]);
    },
    60_000,
  );
});
