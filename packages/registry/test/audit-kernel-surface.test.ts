// audit s10 (target 3, kernel surface from the attacker's side): native code of an untrusted plugin, in a hook (the
// runtime long running), tries the kernel interfaces a sandbox escape or a host-wide effect usually starts from —
// SysV IPC and POSIX message queues (Landlock has no IPC namespace: they would be the host's), keyrings, BPF,
// perf events, userfaultfd (syscall and /dev node), io_uring, the kernel log, sockets of other families (AF_ALG
// crypto, netlink, vsock to the hypervisor, packet, IP without a network grant), namespaces, mounts, modules, ports,
// other processes' memory, file handles. Every one must fail (rc < 0) on both backends. The host still serves, the
// plugin is still the same process, nothing is left. Passes on main 7891584.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  leftovers,
  NO_GRANTS,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-kernel-surface');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-kernel-surface');
let security: PluginSecurity;
let native = '';
let probe = '';

const TRIES_C = `
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include "plugward.h"
static char g_out[4096];
static size_t g_len;
/* "name": errno when it failed, 0 when it succeeded (the fd or id it got is closed / removed again). */
static void put(const char *k, long rc, int err) {
  g_len += snprintf(g_out + g_len, sizeof g_out - g_len, "%s\\"%s\\":%d", g_len > 1 ? "," : "", k, rc < 0 ? err : 0);
}
#define TRY(name, call) do { errno = 0; long rc_ = (long)(call); int e_ = errno; put(name, rc_, e_); } while (0)
#define TRY_FD(name, call) do { errno = 0; long rc_ = (long)(call); int e_ = errno; put(name, rc_, e_); if (rc_ >= 0) close((int)rc_); } while (0)
static void tries(void) {
  g_len = 0; g_out[g_len++] = '{';
  static unsigned char attr[512];
  char buf[256];
  /* SysV IPC and POSIX message queues. */
  { errno = 0; long id = syscall(SYS_shmget, 0L /* IPC_PRIVATE */, 4096L, 01000L | 0600L); int e = errno; put("shmget", id, e);
    if (id >= 0) syscall(SYS_shmctl, id, 0 /* IPC_RMID */, 0L); }
  { errno = 0; long id = syscall(SYS_msgget, 0L, 01000L | 0600L); int e = errno; put("msgget", id, e);
    if (id >= 0) syscall(SYS_msgctl, id, 0, 0L); }
  { errno = 0; long id = syscall(SYS_semget, 0L, 1L, 01000L | 0600L); int e = errno; put("semget", id, e);
    if (id >= 0) syscall(SYS_semctl, id, 0, 0 /* IPC_RMID */, 0L); }
  { errno = 0; long fd = syscall(SYS_mq_open, "pwaudit-mq", O_CREAT | O_RDWR, 0600, 0L); int e = errno; put("mq_open", fd, e);
    if (fd >= 0) { close((int)fd); syscall(SYS_mq_unlink, "pwaudit-mq"); } }
  /* Keyrings, BPF, perf, userfaultfd, io_uring. */
  TRY("keyctl", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 1));
  TRY("add_key", syscall(SYS_add_key, "user", "pwaudit", "v", 1, -2 /* process keyring */));
  memset(attr, 0, sizeof attr);
  ((uint32_t *)attr)[0] = 2; /* BPF_MAP_TYPE_ARRAY */ ((uint32_t *)attr)[1] = 4; ((uint32_t *)attr)[2] = 4; ((uint32_t *)attr)[3] = 1;
  TRY_FD("bpf", syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, 72));
  memset(attr, 0, sizeof attr);
  ((uint32_t *)attr)[0] = 1; /* PERF_TYPE_SOFTWARE */ ((uint32_t *)attr)[1] = 128; /* size */
  TRY_FD("perf_event_open", syscall(SYS_perf_event_open, attr, 0, -1, -1, 0));
  TRY_FD("userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
  TRY_FD("dev_userfaultfd", open("/dev/userfaultfd", O_RDWR | O_CLOEXEC));
  memset(attr, 0, sizeof attr);
  TRY_FD("io_uring_setup", syscall(SYS_io_uring_setup, 1, attr));
  /* The kernel log. */
  TRY("syslog", syscall(SYS_syslog, 3 /* READ_ALL */, buf, (long)sizeof buf));
  TRY_FD("dev_kmsg", open("/dev/kmsg", O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  /* Sockets of other families (no network grant). */
  TRY_FD("af_alg", socket(38, SOCK_SEQPACKET, 0));
  TRY_FD("af_netlink", socket(AF_NETLINK, SOCK_RAW, 0));
  TRY_FD("af_vsock", socket(40, SOCK_STREAM, 0));
  TRY_FD("af_packet", socket(AF_PACKET, SOCK_RAW, 0));
  TRY_FD("af_inet", socket(AF_INET, SOCK_STREAM, 0));
  TRY_FD("af_inet6", socket(AF_INET6, SOCK_DGRAM, 0));
  /* Namespaces, mounts, modules, ports, clock, other processes' memory, file handles. */
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
  TRY("ptrace_attach_pid1", syscall(SYS_ptrace, 16 /* PTRACE_ATTACH */, 1, 0L, 0L));
  { struct { unsigned int bytes; int type; unsigned char h[128]; } fh; fh.bytes = 128; int mnt = 0;
    TRY("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0)); }
  TRY_FD("fanotify_init", syscall(SYS_fanotify_init, 0, 0));
  TRY("acct", syscall(SYS_acct, "/tmp/pwaudit-acct"));
  TRY("personality", syscall(SYS_personality, 0x0040000L /* ADDR_NO_RANDOMIZE */));
  g_len += snprintf(g_out + g_len, sizeof g_out - g_len, "}");
}
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, "audit.kernel", 300) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
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
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = "audit-kernel", .version = "1.0.0",
  .author = "a stranger", .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;

beforeAll(async () => {
  ownTmp.use();
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  native = await fx.native('libaudit-kernel.so', TRIES_C, {
    name: 'audit-kernel',
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

describe('audit: the kernel interfaces an escape starts from are closed to an untrusted native plugin', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: { plugins: { 'audit-kernel': { hooks: [{ name: 'audit.kernel' }] } } },
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      let pid: number | undefined;
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(native, 'untrusted');
        pid = registry.getPluginInfo('audit-kernel')?.pid;
        const got = JSON.parse(
          dec.decode(await registry.hooks.execute('audit.kernel', enc.encode(''))),
        ) as Record<string, number>;
        expect(Object.keys(got).length).toBe(34);
        const succeeded = Object.entries(got)
          .filter(([, errno]) => errno === 0)
          .map(([k]) => k);
        expect(succeeded, `${label}: these worked (${JSON.stringify(got)})`).toEqual([]);
        expect(registry.getPluginInfo('audit-kernel')?.pid).toBe(pid);
        expect(registry.getPluginInfo('audit-kernel')?.status).toBe('Active');
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
      }
      if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
      expect(leftovers('audit-kernel', ownTmp.dir)).toEqual([]);
    },
    60_000,
  );
});
