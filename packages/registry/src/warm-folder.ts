// A warm sandbox's folder: where the host writes the copy it hands off, bound read-only into the sandbox at its start.
// Host side only; the pool (warm-pool.ts) makes and removes them, the first sandboxed load of any host sweeps those of
// hosts that were killed.
import fs from 'node:fs';
import os from 'node:os';
import {
  loadMountCalls,
  makeUntaggedSandboxDir,
  removeOwnerBeside,
  sandboxDirBase,
  sweepStaleSandboxDirsOnce,
  unmountIfMounted,
} from '@plugward/sandbox-common';
import { PluginError } from '@plugward/types';

/** Root hosts: a root-owned 0711 folder (the sandboxes' leased uids traverse it, none can list it). */
export const ROOT_WARM_DIR = '/run/plugward-warm';

/**
 * Warm folders are `plugward-warm-<random>`, their host's tag beside them (`makeUntaggedSandboxDir`): a sandbox without
 * a mount table of its own (Landlock) sees the folder's path. Older hosts named them `plugward-warm-<host tag>-…`.
 */
const PREFIX = 'plugward-warm-';

/**
 * Where a sandbox with a mount table of its own finds its warm folder: a path that names nothing of the host. On root
 * hosts the folder is the root of its own tmpfs, so the sandbox's `/proc/self/mountinfo` shows `/` on this path, and
 * neither the host's folder layout nor its pid.
 */
export const WARM_FOLDER_TARGET = '/run/plugward/warm';

const MS_NOSUID = 2;
const MS_NODEV = 4;

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Removes the warm folders of hosts that are gone (killed: they removed nothing), once per process. Called at a host's
 * first sandboxed load, whether or not it runs a pool itself, and by a pool before its first folder.
 */
export function sweepStaleWarmFolders(): void {
  const base = isRoot() ? ROOT_WARM_DIR : os.tmpdir();
  if (!fs.existsSync(base)) return;
  sweepStaleSandboxDirsOnce(base, PREFIX, unmountIfMounted);
}

/** A warm folder of this host, and how to get rid of it. */
export interface WarmFolder {
  /** The host's path: the hand-off's copy is written here. */
  dir: string;
  /** Unmounts (root hosts) and removes it at once (the host's exit handler); idempotent. */
  remove(): void;
  /**
   * The same off the event loop — a detach waits for the kernel's RCU grace period and an rmdir can take milliseconds —
   * for when its sandbox has exited; idempotent.
   */
  removeAsync(): Promise<void>;
}

/**
 * Makes a fresh warm folder `plugward-warm-<random>` (its host's tag in `<folder>.owner` beside it). On root hosts it is a tmpfs of its own (nosuid, nodev; root-owned 0755: the leased uid
 * lists it to find its copy's folder, whose name is random) — so a bind of it shows nothing of the host.
 * @throws PluginError `SandboxUnavailable` when a root host cannot mount it (the pool then starts no warm sandbox).
 */
export function makeWarmFolder(): WarmFolder {
  sweepStaleWarmFolders();
  const root = isRoot();
  // Its real path: the backends bind a source only as given, with no symbolic link on the way (a TMPDIR may hold one).
  const dir = fs.realpathSync(
    makeUntaggedSandboxDir(sandboxDirBase(root, ROOT_WARM_DIR), PREFIX, 0o700, 'beside'),
  );
  let done = false;
  const remove = (): void => {
    if (done) return;
    done = true;
    if (root) unmountIfMounted(dir);
    fs.rmSync(dir, { recursive: true, force: true });
    removeOwnerBeside(dir);
  };
  let removal: Promise<void> | undefined;
  const removeAsync = (): Promise<void> => {
    removal ??= (async () => {
      if (done) return;
      // Its own tmpfs (mounted below): no mountinfo to read first; a folder that is no mount point gives EINVAL.
      if (root) await loadMountCalls().umountDetachAsync(dir);
      await fs.promises.rm(dir, { recursive: true, force: true });
      removeOwnerBeside(dir);
      done = true;
    })();
    return removal;
  };
  if (!root) {
    fs.chmodSync(dir, 0o700);
    return { dir, remove, removeAsync };
  }
  const calls = loadMountCalls();
  if (calls.mount('tmpfs', dir, 'tmpfs', MS_NOSUID | MS_NODEV, 'mode=0755,uid=0,gid=0') !== 0) {
    const errno = calls.errno();
    remove();
    throw new PluginError('SandboxUnavailable', `cannot mount the warm folder's tmpfs (errno ${errno})`);
  }
  return { dir, remove, removeAsync };
}
