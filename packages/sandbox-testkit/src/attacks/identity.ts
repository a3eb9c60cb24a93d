import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { AttackDefinition, GoalVerdict } from '../attack.js';
import { noReport, pairs, refusedAtLoad, succeeded } from './verdict.js';

/** The host uid a plugin's uid maps to, from its `uid_map` first line (`inside outside count`); NaN when unknown. */
function outsideUid(uid: number, uidMap: string | undefined): number {
  if (!uidMap || uidMap.startsWith('ERR')) return uid;
  const [inside, outside, count] = uidMap.split(' ').map(Number);
  if (inside === undefined || outside === undefined || count === undefined) return Number.NaN;
  return uid >= inside && uid < inside + count ? outside + (uid - inside) : Number.NaN;
}

/**
 * The real uids, seen from the host, of the process tree that runs a plugin: `/proc/<pid>/status` of the pid the
 * registry reports and of its descendants. This is the kernel's answer; a `uid_map` read inside can't give it when the
 * backend nests user namespaces (bwrap's `--disable-userns` does: the inner map names the intermediate namespace).
 */
function hostUidsOf(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const uids = new Set<number>();
  const queue = [pid];
  for (let i = 0; i < queue.length && i < 64; i++) {
    const p = queue[i]!;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) uids.add(Number(m[1]));
      for (const tid of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim();
        if (kids) queue.push(...kids.split(/\s+/).map(Number));
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return [...uids];
}

/** The host uids of a loaded plugin's processes, else (no pid: another backend) the one its `uid_map` gives. */
function pluginHostUids(pid: number | undefined, uid: number, uidMap: string | undefined): number[] {
  const seen = hostUidsOf(pid);
  return seen.length > 0 ? seen : [outsideUid(uid, uidMap)];
}

const SYSCTLS = ['kernel/core_pattern', 'kernel/core_uses_pid', 'kernel/pid_max', 'fs/file-max'] as const;

function readSysctls(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of [...SYSCTLS, 'vm/drop_caches']) {
    try {
      out[s] = fs.readFileSync(`/proc/sys/${s}`, 'utf8');
    } catch {
      out[s] = '(unreadable)';
    }
  }
  return out;
}

function changedSysctls(before: Record<string, string>): string[] {
  const after = readSysctls();
  return Object.keys(before).filter((k) => k !== 'vm/drop_caches' && before[k] !== after[k]);
}

/** Attacks on who the plugin is and what procfs gives it. */
export const identityAttacks: readonly AttackDefinition[] = [
  {
    id: 'identity.uid-zero',
    class: 'identity',
    title: 'the plugin runs as a uid that owns nothing on the host',
    tries: 'reads its uid and /proc/self/uid_map: is it uid 0, or the host user, on the outside?',
    async run(scene) {
      await scene.start();
      const name = scene.pluginName('uid');
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name,
          init: `const st = fs.readFileSync('/proc/self/status', 'utf8');
report('uid', (st.match(/^Uid:\\s+(\\d+)/m) || [])[1]);
report('uidmap', attempt(() => fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\\n')[0].trim().replace(/\\s+/g, ' ')));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.uid === undefined) return noReport('its uid', reports);
      const outside = pluginHostUids(
        scene.registry.getAllPlugins().find((p) => p.name === name)?.pid,
        Number(reports.uid),
        reports.uidmap,
      );
      const hostUid = process.getuid?.() ?? -1;
      const escaped = outside.some((u) => u === 0 || u === hostUid || Number.isNaN(u));
      return {
        escaped,
        evidence: `uid ${reports.uid} inside (uid_map "${reports.uidmap}"); its processes run as host uid(s) ${outside.join(', ')} (host uid ${hostUid})`,
      };
    },
  },
  {
    id: 'identity.uid-shared',
    class: 'identity',
    title: 'two sandboxed plugins do not run as the same host uid',
    tries:
      'two plugins read their uid and uid_map: do they map to one host uid (sharing its per-user kernel limits)?',
    async run(scene) {
      await scene.start();
      const seen: string[] = [];
      const outside: number[][] = [];
      for (const tag of ['uida', 'uidb']) {
        const { load, reports } = await scene.attack(
          await scene.jsPlugin({
            name: scene.pluginName(tag),
            init: `const st = fs.readFileSync('/proc/self/status', 'utf8');
report('uid', (st.match(/^Uid:\\s+(\\d+)/m) || [])[1]);
report('uidmap', attempt(() => fs.readFileSync('/proc/self/uid_map', 'utf8').trim().split('\\n')[0].trim().replace(/\\s+/g, ' ')));`,
          }),
        );
        if (!load.loaded) return refusedAtLoad(load);
        if (reports.uid === undefined) return noReport('its uid', reports);
        const name = scene.pluginName(tag);
        const o = pluginHostUids(
          scene.registry.getAllPlugins().find((p) => p.name === name)?.pid,
          Number(reports.uid),
          reports.uidmap,
        );
        outside.push(o);
        seen.push(`${tag}: uid ${reports.uid} inside → host uid(s) ${o.join(', ')}`);
      }
      const [a = [], b = []] = outside;
      return { escaped: a.some((u) => b.includes(u) || Number.isNaN(u)), evidence: seen.join('; ') };
    },
  },
  {
    id: 'procfs.sysctl-write',
    class: 'procfs',
    title: 'host-wide sysctls are not writable',
    tries:
      'writes kernel.core_pattern, core_uses_pid, pid_max, fs.file-max back with the value it read, opens vm.drop_caches for writing',
    async run(scene) {
      await scene.start();
      const before = readSysctls();
      const name = scene.pluginName('sysctl');
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name,
          // The kit never changes a host-wide setting: it writes back the value it read, so the write itself is
          // the evidence (the classic escape writes a `|/proc/%P/root/...` core_pattern instead).
          init: `for (const f of ${JSON.stringify(SYSCTLS)}) report(f.replace('/', '.'), attempt(() => { const p = '/proc/sys/' + f; const v = fs.readFileSync(p); fs.writeFileSync(p, v); return 'wrote-back'; }));
report('vm.drop_caches', attempt(() => { fs.closeSync(fs.openSync('/proc/sys/vm/drop_caches', 'w')); return 'opened-for-write'; }));`,
        }),
      );
      const changed = changedSysctls(before);
      if (!load.loaded)
        return changed.length ? { escaped: true, evidence: `changed: ${changed}` } : refusedAtLoad(load);
      const keys = [...SYSCTLS.map((s) => s.replace('/', '.')), 'vm.drop_caches'];
      if (reports.done === undefined) return noReport('the sysctls', reports);
      const written = keys.filter((k) => succeeded(reports[k]));
      return {
        escaped: written.length > 0 || changed.length > 0,
        evidence: written.length
          ? `writable from the plugin: ${written.join(', ')}${changed.length ? `; changed on the host: ${changed}` : ''}`
          : pairs(reports, keys),
      };
    },
  },
  {
    id: 'procfs.sysctl-write-native',
    class: 'procfs',
    native: true,
    title: 'kernel.core_pattern is not writable by raw syscalls',
    tries:
      'a .so opens /proc/sys/kernel/core_pattern with SYS_openat(O_WRONLY) and SYS_write()s back what it read',
    async run(scene) {
      await scene.start();
      const before = readSysctls();
      const name = scene.pluginName('sysctlc');
      const { load, reports } = await scene.attack(
        await scene.nativePlugin({
          name,
          attack: `char buf[512];
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/sys/kernel/core_pattern", O_RDONLY);
  if (fd < 0) { report("core_pattern", "ERR:read-open errno %d", errno); return; }
  long n = syscall(SYS_read, fd, buf, sizeof buf);
  syscall(SYS_close, fd);
  if (n <= 0) { report("core_pattern", "ERR:read errno %d", errno); return; }
  long w = syscall(SYS_openat, AT_FDCWD, "/proc/sys/kernel/core_pattern", O_WRONLY);
  if (w < 0) { report("core_pattern", "ERR:write-open errno %d", errno); return; }
  long wr = syscall(SYS_write, w, buf, n);
  if (wr == n) report("core_pattern", "wrote-back %ld bytes", wr); else report("core_pattern", "ERR:write errno %d", errno);
  syscall(SYS_close, w);`,
        }),
      );
      const changed = changedSysctls(before);
      if (!load.loaded)
        return changed.length ? { escaped: true, evidence: `changed: ${changed}` } : refusedAtLoad(load);
      if (reports.core_pattern === undefined) return noReport('core_pattern', reports);
      return {
        escaped: succeeded(reports.core_pattern) || changed.length > 0,
        evidence: `native write of kernel.core_pattern: ${reports.core_pattern}`,
      };
    },
  },
  {
    id: 'procfs.root-only-read',
    class: 'procfs',
    title: 'root-only /proc files are not readable',
    tries: 'reads /proc/slabinfo, /proc/kpageflags, /proc/kpagecount, /proc/timer_list',
    async run(scene) {
      await scene.start();
      const files = ['slabinfo', 'kpageflags', 'kpagecount', 'timer_list', 'kcore'];
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('rootread'),
          init: `for (const f of ${JSON.stringify(files)}) report(f, attempt(() => { const fd = fs.openSync('/proc/' + f, 'r'); const b = Buffer.alloc(64); const n = fs.readSync(fd, b, 0, 64, 0); fs.closeSync(fd); return n > 0 ? 'read ' + n + ' bytes' : 'ERR:empty'; }));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('the files', reports);
      const read = files.filter((f) => succeeded(reports[f]));
      return {
        escaped: read.length > 0,
        evidence: read.length
          ? `read from the plugin: ${read.map((f) => `/proc/${f}`).join(', ')}`
          : pairs(reports, files),
      };
    },
  },
  {
    id: 'procfs.pid1-exe-chmod',
    class: 'procfs',
    title: "the sandbox's pid 1 binary cannot be changed through /proc/1/exe",
    tries: 'chmods /proc/1/exe (the host binary of the sandbox init, e.g. bwrap) to its current mode',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('pid1exe'),
          init: `report('exe', attempt(() => fs.readlinkSync('/proc/1/exe')));
report('chmod', attempt(() => { const m = fs.statSync('/proc/1/exe').mode & 0o7777; fs.chmodSync('/proc/1/exe', m); return 'chmod ' + m.toString(8) + ' succeeded'; }));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.chmod === undefined) return noReport('the chmod', reports);
      return {
        escaped: succeeded(reports.chmod),
        evidence: `/proc/1/exe → ${reports.exe}: ${reports.chmod}`,
      };
    },
  },
  {
    id: 'procfs.pid1-mem-write',
    class: 'procfs',
    title: "the sandbox's pid 1 memory is not writable",
    tries: 'opens /proc/1/mem read-write and writes back 8 bytes of a writable mapping of pid 1',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.jsPlugin({
          name: scene.pluginName('pid1mem'),
          init: `report('comm', attempt(() => fs.readFileSync('/proc/1/comm', 'utf8').trim()));
report('self', attempt(() => fs.readlinkSync('/proc/self')));
report('mem', attempt(() => {
  const line = fs.readFileSync('/proc/1/maps', 'utf8').split('\\n').find((l) => / rw.p /.test(l));
  if (!line) return 'ERR:no-writable-mapping';
  const addr = parseInt(line.split('-')[0], 16);
  const fd = fs.openSync('/proc/1/mem', 'r+');
  const b = Buffer.alloc(8);
  fs.readSync(fd, b, 0, 8, addr);
  const n = fs.writeSync(fd, b, 0, 8, addr);
  fs.closeSync(fd);
  return 'wrote ' + n + ' bytes at 0x' + addr.toString(16);
}));`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.mem === undefined) return noReport('the write', reports);
      // The escape is writing into a process *outside* the plugin's own confinement (bwrap's init had no seccomp
      // lockdown). When pid 1 is the plugin itself (bwrap --as-pid-1), /proc/1/mem is its own memory: nothing gained.
      if (reports.self === '1') {
        return {
          escaped: false,
          evidence: `pid 1 is the plugin itself (${reports.comm}); no other process to write (${reports.mem})`,
        };
      }
      return {
        escaped: succeeded(reports.mem),
        evidence: `pid 1 (${reports.comm}) /proc/1/mem: ${reports.mem}`,
      };
    },
  },
  {
    id: 'procfs.pid1-vm-write',
    class: 'procfs',
    native: true,
    title: "the sandbox's pid 1 memory is not writable by process_vm_writev",
    tries:
      'a .so finds a writable mapping of pid 1 and SYS_process_vm_writev()s back 8 bytes it read with process_vm_readv',
    async run(scene) {
      await scene.start();
      const { load, reports } = await scene.attack(
        await scene.nativePlugin({
          name: scene.pluginName('pid1vm'),
          prelude: `#include <sys/uio.h>
static unsigned long rw_addr(void) {
  static char buf[16384];
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/1/maps", O_RDONLY);
  if (fd < 0) return 0;
  long n = syscall(SYS_read, fd, buf, sizeof buf - 1);
  syscall(SYS_close, fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  for (char *line = buf; line && *line;) {
    char *nl = strchr(line, '\\n');
    if (nl) *nl = 0;
    if (strstr(line, " rw-p ")) return strtoul(line, NULL, 16);
    line = nl ? nl + 1 : NULL;
  }
  return 0;
}`,
          attack: `unsigned long addr = rw_addr();
  if (!addr) { report("vmwrite", "ERR:no writable mapping of pid 1 visible (errno %d)", errno); return; }
  unsigned char b[8];
  struct iovec local = { b, sizeof b }, remote = { (void *)addr, sizeof b };
  long rd = syscall(SYS_process_vm_readv, 1, &local, 1, &remote, 1, 0);
  if (rd != 8) { report("vmwrite", "ERR:process_vm_readv errno %d", errno); return; }
  long wr = syscall(SYS_process_vm_writev, 1, &local, 1, &remote, 1, 0);
  if (wr == 8) report("vmwrite", "wrote 8 bytes into pid 1 at 0x%lx", addr);
  else report("vmwrite", "ERR:process_vm_writev errno %d", errno);`,
        }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.vmwrite === undefined) return noReport('the write', reports);
      return { escaped: succeeded(reports.vmwrite), evidence: `pid 1 process_vm_writev: ${reports.vmwrite}` };
    },
  },
  {
    id: 'per-user-limits.inotify',
    class: 'per-user-limits',
    native: true,
    exclusive: true,
    title: "plugins cannot use up the host user's inotify instances",
    tries:
      "native plugins hold as many inotify instances as they can (SYS_inotify_init1), then the host's own fs.watch is tried",
    async run(scene): Promise<GoalVerdict> {
      await scene.start();
      const held: string[] = [];
      let hostWatch = '';
      const max = Number(fs.readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8').trim()) || 128;
      let total = 0;
      for (let i = 0; i < 3; i++) {
        const name = scene.pluginName(`inotify${i}`);
        const { load, reports } = await scene.attack(
          await scene.nativePlugin({
            name,
            attack: `int n = 0, err = 0;
  for (int i = 0; i < 4096; i++) { long fd = syscall(SYS_inotify_init1, 0); if (fd < 0) { err = errno; break; } n++; }
  report("instances", "%d", n);
  report("errno", "%d", err);`,
          }),
        );
        if (!load.loaded) {
          held.push(`plugin ${i}: refused (${load.error.code})`);
          continue;
        }
        const n = Number(reports.instances ?? 0);
        total += n;
        held.push(`plugin ${i}: ${n} instances (then errno ${reports.errno})`);
        if (total > max) break;
      }
      // A fresh host process (own inotify instance, the host's uid) tries to watch a directory.
      const r = spawnSync(
        process.execPath,
        ['-e', 'require("fs").watch(process.argv[1]); process.exit(0)', scene.dir],
        {
          encoding: 'utf8',
          timeout: 10_000,
        },
      );
      hostWatch =
        r.status === 0
          ? 'host fs.watch works'
          : `host fs.watch FAILED: ${(r.stderr.match(/E[A-Z]+[^\n]*/) ?? [r.stderr.slice(0, 80)])[0]}`;
      return { escaped: r.status !== 0, evidence: `${held.join(', ')}; ${hostWatch}` };
    },
  },
];
