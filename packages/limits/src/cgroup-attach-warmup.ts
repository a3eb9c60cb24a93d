import fs from 'node:fs';
import path from 'node:path';
import { type CgroupMount, cgroupDirUnder, readCgroupSupport } from './cgroups-detect.js';

let mounts: Readonly<Record<string, CgroupMount>> | undefined;

/**
 * Readies the kernel for a process joining a v1 cgroup soon (a sandbox launcher's `echo $$ > cgroup.procs`), off the
 * event loop: this process's main thread is written into the `tasks` of the cgroup it is in — a move to where it
 * already is, which changes nothing — on a thread of the pool.
 *
 * Why: a write to a v1 `cgroup.procs`/`tasks` takes the kernel's cgroup-threadgroup lock for writing, and the first
 * such write after a quiet spell waits for an RCU grace period (measured here, kernel 6.18: 5–15 ms; writes while the
 * lock is still in its writers' mode ≈ 0.5 ms). On a sandbox's cold start that wait sat in the launcher, between its
 * start and bwrap's. Started when the group is made, it passes while the host prepares the rest of the spawn (issue
 * 17); a join that comes while it still runs waits only for its rest. The lock is one for every hierarchy, so one
 * controller is enough. Only the main thread is written (`tasks`, not `cgroup.procs`, which would pull every thread
 * into the main thread's group should one be elsewhere), and only into the group `/proc/self/cgroup` names just
 * before. Best effort and silent: a host that can't write there (not root, a group its mounts don't show) warms nothing.
 */
export function warmCgroupAttach(): void {
  const tasks = ownTasksFile();
  // r+: never create a file where the group's is not.
  if (tasks !== undefined) fs.writeFile(tasks, String(process.pid), { flag: 'r+' }, () => {});
}

/** The `tasks` file of the v1 cgroup this process's main thread is in (its first mounted controller's). */
function ownTasksFile(): string | undefined {
  try {
    mounts ??= readCgroupSupport().v1;
    for (const line of fs.readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
      const first = line.indexOf(':');
      const second = line.indexOf(':', first + 1);
      if (first < 0 || second < 0) continue;
      for (const c of line.slice(first + 1, second).split(',')) {
        const m = mounts[c];
        const dir = m === undefined ? undefined : cgroupDirUnder(m, line.slice(second + 1));
        if (dir !== undefined) return path.join(dir, 'tasks');
      }
    }
  } catch {
    // Nothing to warm.
  }
  return undefined;
}
