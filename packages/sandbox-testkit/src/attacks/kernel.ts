import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT_WARM_DIR, runtimeEntry } from '@plugward/registry';
import type { AttackDefinition } from '../attack.js';
import { noReport, pairs, refusedAtLoad, succeeded } from './verdict.js';

/** Attacks on executable scratch space, host paths in mountinfo and new namespaces. */
export const kernelAttacks: readonly AttackDefinition[] = [
  {
    id: 'exec.tmp-and-shm',
    class: 'exec',
    native: true,
    title: '/tmp and /dev/shm are noexec',
    tries: 'a .so writes machine code to /tmp and /dev/shm, mmap()s it PROT_EXEC with SYS_mmap and calls it',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.nativePlugin({
          name: scene.pluginName('exec'),
          prelude: `static void try_exec(const char *key, const char *path) {
  long fd = syscall(SYS_openat, AT_FDCWD, path, O_RDWR | O_CREAT | O_TRUNC, 0700);
  if (fd < 0) { report(key, "ERR:open errno %d", errno); return; }
  static unsigned char code[4096];
  memset(code, 0xc3, sizeof code); /* x86-64 ret; aarch64 gets its own below */
#if defined(__aarch64__)
  for (size_t i = 0; i + 4 <= sizeof code; i += 4) { code[i] = 0xc0; code[i+1] = 0x03; code[i+2] = 0x5f; code[i+3] = 0xd6; }
#endif
  syscall(SYS_write, fd, code, sizeof code);
  long p = syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  int e = errno;
  syscall(SYS_close, fd);
  syscall(SYS_unlinkat, AT_FDCWD, path, 0);
  if (p == -1) { report(key, "ERR:mmap PROT_EXEC errno %d", e); return; }
  ((void (*)(void))p)();
  report(key, "mapped PROT_EXEC and executed code from %s", path);
  syscall(SYS_munmap, p, 4096);
}`,
          attack: `try_exec("tmp", "/tmp/pwkit-exec");
  try_exec("shm", "/dev/shm/pwkit-exec");`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('the exec attempts', reports);
      return {
        escaped: succeeded(reports.tmp) || succeeded(reports.shm),
        evidence: pairs(reports, ['tmp', 'shm']),
      };
    },
  },
  {
    id: 'exec.mountinfo-host-paths',
    class: 'exec',
    title:
      "host paths (the checkout, the registry's private copy, a warm sandbox's folder, anything naming the host pid) do not show in /proc/self/mountinfo",
    tries: '/proc/self/mountinfo is searched for the host paths the sandbox was built from',
    async run(scene) {
      await scene.start();
      // The kit writes the plugin, so it can bake in what to look for: paths only the host knows.
      const candidates = {
        runtime: path.dirname(runtimeEntry()),
        privateCopy: path.join(os.tmpdir(), 'plugward-'),
      };
      // What names the host's own scratch (its pid is in every name; the warm pool's root folder): checked wherever the
      // sandbox has a mount table of its own — a backend that shares the host's (Landlock) shows all of it, by design.
      const ownTable = {
        hostPid: `-${process.pid}-`,
        warmFolder: ROOT_WARM_DIR,
      };
      const all = { ...candidates, ...ownTable };
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('mounts'),
          init: `const mi = fs.readFileSync('/proc/self/mountinfo', 'utf8');
report('mntns', attempt(() => fs.readlinkSync('/proc/self/ns/mnt')));
for (const [k, p] of Object.entries(${JSON.stringify(all)})) { const line = mi.split('\\n').find((l) => l.includes(p)); report(k, line ? 'shows ' + line.split(' ').slice(3, 5).join(' ') : 'absent'); }`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('mountinfo', reports);
      const sharesHostTable = reports.mntns === fs.readlinkSync('/proc/self/ns/mnt');
      const checked = sharesHostTable ? Object.keys(candidates) : Object.keys(all);
      const shown = checked.filter((k) => reports[k]?.startsWith('shows'));
      return { escaped: shown.length > 0, evidence: pairs(reports, ['mntns', ...checked]) };
    },
  },
  {
    id: 'namespaces.clone-new',
    class: 'namespaces',
    native: true,
    title: 'a plugin cannot create namespaces (clone/unshare with CLONE_NEW*)',
    tries:
      'a .so calls SYS_clone with CLONE_NEWUSER / NEWNS / NEWNET / NEWPID and SYS_unshare(CLONE_NEWUSER)',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.nativePlugin({
          name: scene.pluginName('ns'),
          prelude: `static void try_clone(const char *key, long flags) {
  long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) syscall(SYS_exit_group, 0);
  if (pid < 0) { report(key, "ERR:clone errno %d", errno); return; }
  int status = 0;
  syscall(SYS_wait4, pid, &status, 0, 0);
  report(key, "created child %ld in a new namespace", pid);
}`,
          attack: `try_clone("newuser", CLONE_NEWUSER);
  try_clone("newns", CLONE_NEWNS);
  try_clone("newnet", CLONE_NEWNET);
  try_clone("newpid", CLONE_NEWPID);
  long r = syscall(SYS_unshare, CLONE_NEWUSER);
  if (r == 0) report("unshare", "unshared a new user namespace"); else report("unshare", "ERR:unshare errno %d", errno);`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('the clones', reports);
      const keys = ['newuser', 'newns', 'newnet', 'newpid', 'unshare'];
      return { escaped: keys.some((k) => succeeded(reports[k])), evidence: pairs(reports, keys) };
    },
  },
];
