import fs from 'node:fs';
import path from 'node:path';
import { type MountInfoEntry, readMountInfo } from '@plugward/limits';
import { cloneMountTree, openPathHandle } from '@plugward/sandbox-common';
import { type BindMount, PluginError } from '@plugward/types';
import { BIND_IDENTITY_ENV } from './bind-verify.js';
import { kernelFilesystemProblemOfHandle } from './kernel-mounts.js';

/** One bind source, opened and checked in the host, waiting as a detached mount tree for the launcher. */
export interface StagedBind {
  /** Where the launcher moves the tree in its private mount namespace; bwrap binds this path. */
  stage: string;
  /** The host's close-on-exec fd of the detached tree; the launcher reaches it as `/proc/<host pid>/fd/<tree>`. */
  tree: number;
}

/**
 * Opens every bind source once (as given, no symbolic link followed: {@link openPathHandle}), checks what
 * was opened (not a kernel filesystem, none below it: {@link kernelFilesystemProblemOfHandle}) and clones it as a
 * detached mount tree with a mount point for it in `dir` (root hosts). bwrap resolves its sources again by name, in
 * its own mount namespace, long after any check; given the staged path instead (a root-owned folder nobody else can
 * change, where the launcher moved the tree), it binds exactly the object that was checked, whatever is renamed,
 * swapped or mounted at the source path in between. Throws `InvalidArgument` for a source that is missing, has a symbolic
 * link on its way (give the real path: `fs.realpathSync`), or shows a kernel filesystem, `SandboxUnavailable` for
 * one the sandbox's uid can't read; the caller closes the trees once the sandbox is gone
 * ({@link closeStagedBinds}).
 */
export function stageBinds(
  binds: readonly BindMount[],
  dir: string,
  mounts: readonly MountInfoEntry[] = readMountInfo(),
): StagedBind[] {
  const staged: StagedBind[] = [];
  try {
    binds.forEach((b, i) => {
      const handle = openBindSource(b, mounts);
      try {
        const st = fs.fstatSync(handle);
        // The sandbox's uid reaches the object through the bind, whatever lies above it, but must be able to read it.
        const bits = st.isDirectory() ? 0o005 : 0o004;
        if ((st.mode & bits) !== bits) {
          throw new PluginError(
            'SandboxUnavailable',
            `the bind source ${b.source} is not readable by the sandbox's unprivileged uid (mode ${(st.mode & 0o7777).toString(8)}); make it readable by others`,
          );
        }
        const stage = path.join(dir, `bind${i}`);
        // A mount point of the object's kind, private to root (the mounted object's own mode shows once mounted).
        if (st.isDirectory()) fs.mkdirSync(stage, { mode: 0o700 });
        else fs.writeFileSync(stage, '', { mode: 0o600 });
        staged.push({ stage, tree: cloneMountTree(handle) });
      } finally {
        fs.closeSync(handle);
      }
    });
  } catch (e) {
    closeStagedBinds(staged);
    throw e;
  }
  return staged;
}

/**
 * Non-root hosts, where bwrap binds by name: opens and checks every bind source as {@link stageBinds} does and returns
 * the value of {@link BIND_IDENTITY_ENV} — each target with the device and inode of the object opened — for the strict
 * preload, which exits before anything of the command runs when a target shows another object.
 */
export function bindIdentities(
  binds: readonly BindMount[],
  mounts: readonly MountInfoEntry[] = readMountInfo(),
): string {
  const out: [string, string, string][] = [];
  for (const b of binds) {
    const handle = openBindSource(b, mounts);
    try {
      const st = fs.fstatSync(handle, { bigint: true });
      out.push([path.normalize(b.target ?? b.source), String(st.dev), String(st.ino)]);
    } finally {
      fs.closeSync(handle);
    }
  }
  return JSON.stringify(out);
}

/** Opens a bind source as given (no symbolic link followed) and refuses one that shows a kernel filesystem. */
function openBindSource(b: BindMount, mounts: readonly MountInfoEntry[]): number {
  // As given: a symbolic link on the way is refused, never followed (whoever can write where it lies would choose what
  // is bound).
  const handle = openPathHandle(b.source);
  const kernel = kernelFilesystemProblemOfHandle(handle, mounts);
  if (kernel !== undefined) {
    fs.closeSync(handle);
    throw new PluginError(
      'InvalidArgument',
      `bind source ${b.source} would show a kernel filesystem: ${kernel}`,
    );
  }
  return handle;
}

/** Closes the host's fds of {@link stageBinds} (a tree the launcher never moved is then freed). */
export function closeStagedBinds(staged: readonly StagedBind[]): void {
  for (const s of staged) fs.closeSync(s.tree);
}
