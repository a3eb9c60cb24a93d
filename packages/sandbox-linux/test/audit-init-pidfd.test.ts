// audit s9 #1 (copy into packages/sandbox-linux/test/): with bwrap's init as the sandbox's pid 1 (no --as-pid-1), the
// guard filter denies pidfd_open(1), ptrace(1), process_vm_*(1), kcmp(1), prlimit64(1) and /proc/1 is masked — but a
// pidfd of init is one open_by_handle_at away: a pidfd's file handle (pidfs, kernel ≥ 6.14) is its inode number,
// init's is the command's minus one (or a few), and pidfs handles open unprivileged for any process of the caller's pid
// namespace. With init's pidfd, pidfd_getfd takes init's fds (same uid, dumpable: the ptrace check passes) and
// perf_event_open(pid = 1) samples init. The mode filters deny name_to_handle_at/open_by_handle_at/pidfd_getfd/
// perf_event_open (DANGEROUS_SYSCALLS), so only `custom` (default allow) and `disabled` reach it: the guard, which is
// meant to hold "in every mode", did not. Failed on 35cb305; closed by the guard denying open_by_handle_at,
// name_to_handle_at, pidfd_getfd, process_madvise, and perf_event_open/get_robust_list aimed at pid 1.
import fs from 'node:fs';
import path from 'node:path';
import type { SandboxConfig } from '@plugward/types';
import { afterAll, expect } from 'vitest';
import { compileFixture } from '../../sandbox-common/test/sandbox-run.js';
import { defaultSandboxConfig, LinuxSandbox } from '../dist/index.js';
import { cleanupDirs, expectHostHealthy, firstMessage, itWithC, runScript, tempDir } from './helpers.js';

const isRoot = process.getuid?.() === 0;
afterAll(cleanupDirs);

const SOURCE = `#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/perf_event.h>
struct fh { unsigned int bytes; int type; unsigned char h[128]; };
static int pid_of(int fd) {
  char p[64], b[1024]; snprintf(p, sizeof p, "/proc/self/fdinfo/%d", fd);
  int f = open(p, O_RDONLY); if (f < 0) return -1; ssize_t n = read(f, b, sizeof b - 1); close(f);
  if (n < 0) return -1; b[n] = 0; char *q = strstr(b, "\\nPid:"); return q ? atoi(q + 5) : -1;
}
int main(void) {
  int init = -1, fds = 0;
  int self = syscall(SYS_pidfd_open, getpid(), 0);
  struct fh h; h.bytes = 128; int mnt = 0;
  if (self >= 0 && syscall(SYS_name_to_handle_at, self, "", &h, &mnt, 0x1000) == 0 && h.bytes >= 8) {
    uint64_t ino; memcpy(&ino, h.h, 8);
    for (uint64_t d = 1; d < 4096 && init < 0; d++) {
      struct fh g = h; uint64_t x = ino - d; memcpy(g.h, &x, 8);
      int fd = syscall(SYS_open_by_handle_at, self, &g, O_RDONLY);
      if (fd < 0) continue;
      if (pid_of(fd) == 1) init = fd; else close(fd);
    }
  }
  if (init >= 0) for (int t = 0; t < 16; t++) if (syscall(SYS_pidfd_getfd, init, t, 0) >= 0) fds++;
  struct perf_event_attr a; memset(&a, 0, sizeof a); a.size = sizeof a; a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK; a.exclude_kernel = 1;
  long perf = syscall(SYS_perf_event_open, &a, 1, -1, -1, 0);
  printf("{\\"initPidfd\\":%s,\\"initFds\\":%d,\\"perfOnInit\\":%s}\\n", init >= 0 ? "true" : "false", fds, perf >= 0 ? "true" : "false");
  return 0;
}
`;

// Every mode: strict/basic/moderate/permissive hold by their mode filter, custom and disabled by the guard alone.
const MODES: [string, SandboxConfig['seccomp']][] = [
  ['strict', { mode: 'strict' }],
  ['basic', { mode: 'basic' }],
  ['moderate', { mode: 'moderate' }],
  ['permissive', { mode: 'permissive' }],
  ['custom (default allow)', { mode: 'custom', defaultAction: { action: 'allow' }, rules: [] }],
  ['disabled', { mode: 'disabled' }],
];

for (const [name, seccomp] of MODES) {
  (isRoot ? itWithC : itWithC.skip)(
    `${name} seccomp: the command gets no pidfd of the sandbox's init, none of its fds, no perf event on it`,
    async () => {
      const dir = tempDir('pw-a6-initfd-');
      fs.chmodSync(dir, 0o755);
      const src = path.join(dir, 'initfd.c');
      fs.writeFileSync(src, SOURCE);
      const bin = compileFixture(src, path.join(dir, 'initfd'), ['-O1']);
      fs.chmodSync(bin, 0o755);
      const s = new LinuxSandbox({ stdio: 'pipe', allowDisabledSeccomp: true });
      const p = await s.spawn({
        command: bin,
        args: [],
        readOnlyPaths: [bin],
        config: defaultSandboxConfig({ seccomp }),
        label: 'a6-initfd',
      });
      let out = '';
      p.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      p.stderr?.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exit = await p.exit;
      expect({ exit: exit.code, said: out.trim() }).toEqual({
        exit: 0,
        said: JSON.stringify({ initPidfd: false, initFds: 0, perfOnInit: false }),
      });
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    60_000,
  );
}
