import fs from 'node:fs';
import { loadMountCalls } from '@plugward/sandbox-common';
import { PluginError } from '@plugward/types';

/** How a sandbox's scratch directory is backed. */
export type ScratchKind =
  /** A private tmpfs mounted by the root host: sized and noexec. */
  | 'tmpfs'
  /** A directory on an existing noexec mount (e.g. a container's /dev/shm): noexec, files capped by RLIMIT_FSIZE. */
  | 'noexec-dir'
  /** A plain directory: neither sized as a whole nor noexec (refused unless the host allows it). */
  | 'plain-dir';

const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;

/** Mount points that are `noexec` in /proc/self/mountinfo, longest first. */
export function noexecMounts(mountinfo?: string): string[] {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return [];
    }
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const point = (f[4] ?? '').replace(/\\040/g, ' ');
    if (f[5]?.split(',').includes('noexec') && point !== '') out.push(point);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Candidate parents for a `noexec-dir` scratch, in order. */
export const NOEXEC_SCRATCH_PARENTS: readonly string[] = ['/dev/shm', '/run/shm', '/tmp', '/var/tmp'];

/** The first candidate that sits on a noexec mount and is writable here, or undefined. */
export function findNoexecParent(
  candidates = NOEXEC_SCRATCH_PARENTS,
  mountinfo?: string,
): string | undefined {
  const mounts = noexecMounts(mountinfo);
  for (const c of candidates) {
    const mount = mounts.find((m) => c === m || c.startsWith(`${m}/`));
    if (mount === undefined) continue;
    try {
      fs.accessSync(c, fs.constants.W_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Makes `target` a sized `noexec,nosuid,nodev` tmpfs owned by `uid` (root hosts). Returns false when the kernel
 * refuses the mount (no CAP_SYS_ADMIN: a container), so the caller can fall back.
 */
export function mountScratch(target: string, bytes: number, uid: number): boolean {
  if (!Number.isSafeInteger(bytes) || bytes < 4096) {
    throw new PluginError('InvalidArgument', `scratch size must be an integer ≥ 4096, got ${bytes}`);
  }
  const calls = loadMountCalls();
  const rc = calls.mount(
    'plugward-scratch',
    target,
    'tmpfs',
    MS_NOSUID | MS_NODEV | MS_NOEXEC,
    `size=${bytes},mode=0700,uid=${uid},gid=${uid}`,
  );
  return rc === 0;
}

/** Detaches the scratch tmpfs (its files go with it). */
export function unmountScratch(target: string): void {
  loadMountCalls().umountDetach(target);
}

/** {@link unmountScratch} off the event loop. */
export async function unmountScratchAsync(target: string): Promise<void> {
  await loadMountCalls().umountDetachAsync(target);
}
