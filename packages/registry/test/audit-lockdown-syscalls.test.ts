// The attacker's side of the strict sandbox's process lockdown, after start-up: native code of an untrusted plugin,
// called in a hook (the runtime long running), tries every way to start or become another program — fork, vfork,
// clone without CLONE_THREAD (plain, vfork-style, CLONE_PARENT), clone3, execve, execveat — and reads its seccomp state.
// Every one must fail with an errno (clone3: ENOSYS, so glibc falls back to clone), the process must carry
// no_new_privs and a seccomp filter in filter mode, whichever way the lockdown's filter
// was installed (built in the sandbox or handed over precompiled). The host still serves; nothing is left. Both backends.
// The same call also tries the kernel interfaces an escape or a host-wide effect usually starts from (audit s10) — SysV
// IPC and POSIX message queues (Landlock has no IPC namespace: they would be the host's), keyrings, BPF, perf events,
// userfaultfd (syscall and /dev node), io_uring, the kernel log, sockets of other families (AF_ALG, netlink, vsock,
// packet, IP without a network grant), namespaces, mounts, modules, ports, pid 1's memory, file handles — and the
// parent's (the host's, under Landlock) rlimits, nice value and CPU affinity: each must fail.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "plugward.h"
static char g_out[4096];
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
  /* The kernel surface (audit s10): "s.<name>" is the errno, 0 when the call worked (what it got is released). */
#define TRY(name, call) do { errno = 0; long rc_ = (long)(call); put("s." name, rc_, errno); } while (0)
#define TRY_FD(name, call) do { errno = 0; long rc_ = (long)(call); put("s." name, rc_, errno); if (rc_ >= 0) close((int)rc_); } while (0)
  static unsigned char attr[512];
  char buf[256];
  { errno = 0; long id = syscall(SYS_shmget, 0L, 4096L, 01000L | 0600L); put("s.shmget", id, errno); if (id >= 0) syscall(SYS_shmctl, id, 0, 0L); }
  { errno = 0; long id = syscall(SYS_msgget, 0L, 01000L | 0600L); put("s.msgget", id, errno); if (id >= 0) syscall(SYS_msgctl, id, 0, 0L); }
  { errno = 0; long id = syscall(SYS_semget, 0L, 1L, 01000L | 0600L); put("s.semget", id, errno); if (id >= 0) syscall(SYS_semctl, id, 0, 0, 0L); }
  { errno = 0; long q = syscall(SYS_mq_open, "pwaudit-mq", O_CREAT | O_RDWR, 0600, 0L); put("s.mq_open", q, errno);
    if (q >= 0) { close((int)q); syscall(SYS_mq_unlink, "pwaudit-mq"); } }
  TRY("keyctl", syscall(SYS_keyctl, 0, -3, 1));
  TRY("add_key", syscall(SYS_add_key, "user", "pwaudit", "v", 1, -2));
  memset(attr, 0, sizeof attr); ((uint32_t *)attr)[0] = 2; ((uint32_t *)attr)[1] = 4; ((uint32_t *)attr)[2] = 4; ((uint32_t *)attr)[3] = 1;
  TRY_FD("bpf", syscall(SYS_bpf, 0, attr, 72));
  memset(attr, 0, sizeof attr); ((uint32_t *)attr)[0] = 1; ((uint32_t *)attr)[1] = 128;
  TRY_FD("perf_event_open", syscall(SYS_perf_event_open, attr, 0, -1, -1, 0));
  TRY_FD("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
  TRY_FD("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  memset(attr, 0, sizeof attr);
  TRY_FD("io_uring_setup", syscall(SYS_io_uring_setup, 1, attr));
  TRY("syslog", syscall(SYS_syslog, 3, buf, (long)sizeof buf));
  TRY_FD("dev_kmsg", open("/dev/kmsg", O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  TRY_FD("af_alg", socket(38, SOCK_SEQPACKET, 0));
  TRY_FD("af_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
  TRY_FD("af_vsock", socket(40, SOCK_STREAM, 0));
  TRY_FD("af_packet", socket(AF_PACKET, SOCK_RAW, 0));
  TRY_FD("af_inet", socket(AF_INET, SOCK_STREAM, 0));
  TRY_FD("af_inet6", socket(AF_INET6, SOCK_DGRAM, 0));
  TRY("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
  TRY("unshare_net", syscall(SYS_unshare, CLONE_NEWNET));
  TRY("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0L, 0L));
  TRY_FD("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
  TRY("chroot", syscall(SYS_chroot, "/tmp"));
  TRY("init_module", syscall(SYS_init_module, buf, 0L, ""));
  TRY("iopl", syscall(SYS_iopl, 3));
  TRY("ioperm", syscall(SYS_ioperm, 0x80L, 1L, 1L));
  TRY("settimeofday", syscall(SYS_settimeofday, 0L, 0L));
  { struct iovec l = { buf, 8 }, r = { (void *)0x400000, 8 };
    TRY("process_vm_readv_pid1", syscall(SYS_process_vm_readv, 1, &l, 1, &r, 1, 0)); }
  TRY("ptrace_attach_pid1", syscall(SYS_ptrace, 16, 1, 0L, 0L));
  { struct { unsigned int bytes; int type; unsigned char h[128]; } fh; fh.bytes = 128; int mnt = 0;
    TRY("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0)); }
  TRY_FD("fanotify_init", syscall(SYS_fanotify_init, 0, 0));
  TRY("acct", syscall(SYS_acct, "/tmp/pwaudit-acct"));
  TRY("personality", syscall(SYS_personality, 0x0040000L));
  /* The parent's limits and scheduling (the host under Landlock, the sandbox's init under bubblewrap), set to what
     they are: no change if it worked, but it must not (a non-root Landlock host is the plugin's own uid). */
  { struct rlimit old; TRY("prlimit_parent", syscall(SYS_prlimit64, getppid(), RLIMIT_NOFILE, 0L, &old)); }
  { errno = 0; int nice = getpriority(PRIO_PROCESS, getppid());
    if (errno) put("s.setpriority_parent", -1, errno);
    else TRY("setpriority_parent", setpriority(PRIO_PROCESS, getppid(), nice)); }
  { cpu_set_t set;
    if (sched_getaffinity(getppid(), sizeof set, &set) < 0) put("s.setaffinity_parent", -1, errno);
    else TRY("setaffinity_parent", sched_setaffinity(getppid(), sizeof set, &set)); }
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

describe('audit: no new process or program, no kernel surface of an escape, from a running untrusted native plugin', () => {
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
        const surface = Object.entries(got).filter(([k]) => k.startsWith('s.'));
        expect(surface.length).toBe(37);
        expect(
          surface.filter(([, errno]) => errno === 0).map(([k]) => k),
          `kernel interfaces that worked: ${JSON.stringify(Object.fromEntries(surface))}`,
        ).toEqual([]);
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
