import fs from 'node:fs';
import path from 'node:path';
import { type MountInfoEntry, readMountInfo } from '@plugward/limits';
import { mountIdOf } from '@plugward/sandbox-common';

/**
 * Filesystems that are kernel interfaces rather than files: bound into a sandbox they would show the host's processes
 * (`proc`: another process's `/proc/<pid>/mem`, the sandbox's own init by its host pid), its devices, cgroups, BPF
 * objects, namespace handles (`nsfs`), its automounter (`autofs`: an access mounts a remote filesystem) or firmware
 * variables. bwrap binds recursively, so a bind of `/` carries the host's `/proc` and `/sys` along.
 */
export const KERNEL_FILESYSTEMS: readonly string[] = [
  'proc',
  'sysfs',
  'cgroup',
  'cgroup2',
  'debugfs',
  'tracefs',
  'securityfs',
  'bpf',
  'configfs',
  'binfmt_misc',
  'efivarfs',
  'pstore',
  'fusectl',
  'mqueue',
  'nsfs',
  'autofs',
  'hugetlbfs',
  'devpts',
  'rpc_pipefs',
  'nfsd',
  'selinuxfs',
  'smackfs',
];

function within(p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/**
 * Why binding `source` into a sandbox would show a kernel filesystem of the host ({@link KERNEL_FILESYSTEMS}), or
 * undefined: `source` (its real path) lies inside one, or one is mounted at or below it. `mounts`: this process's
 * (the mount namespace the sandbox's binds are resolved in); pass them when judging several paths at once.
 */
export function kernelFilesystemProblem(
  source: string,
  mounts: readonly MountInfoEntry[] = readMountInfo(),
): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync(source);
  } catch {
    real = path.normalize(source);
  }
  let inside: MountInfoEntry | undefined;
  for (const m of mounts) {
    if (within(real, m.mountPoint)) {
      if (inside === undefined || m.mountPoint.length >= inside.mountPoint.length) inside = m;
    }
  }
  return below(real, mounts) ?? insideProblem(inside);
}

/**
 * {@link kernelFilesystemProblem} of an opened object (an `O_PATH` handle): the mount it lies on is the one of its
 * `mnt_id`, not the one its path shows now; the mounts below it are those under the path the kernel reports for it.
 */
export function kernelFilesystemProblemOfHandle(
  fd: number,
  mounts: readonly MountInfoEntry[] = readMountInfo(),
): string | undefined {
  const id = mountIdOf(fd);
  const inside = mounts.find((m) => m.mountId === id);
  if (inside === undefined) return `its mount (id ${id}) is not in this mount namespace`;
  return insideProblem(inside) ?? below(fs.readlinkSync(`/proc/self/fd/${fd}`), mounts);
}

function insideProblem(inside: MountInfoEntry | undefined): string | undefined {
  return inside !== undefined && KERNEL_FILESYSTEMS.includes(inside.fsType)
    ? `it is inside the host's ${inside.fsType} at ${inside.mountPoint}`
    : undefined;
}

/** A kernel filesystem mounted strictly below `real` (a recursive bind carries it along). */
function below(real: string, mounts: readonly MountInfoEntry[]): string | undefined {
  for (const m of mounts) {
    if (KERNEL_FILESYSTEMS.includes(m.fsType) && within(m.mountPoint, real) && m.mountPoint !== real) {
      return `the host's ${m.fsType} at ${m.mountPoint} is below it`;
    }
  }
  return undefined;
}
