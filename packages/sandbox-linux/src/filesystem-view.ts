import fs from 'node:fs';
import path from 'node:path';
import { NOT_RUNTIME_FILE, SYSTEM_PREFIXES } from '@plugward/sandbox-common';
import { PluginError } from '@plugward/types';

/** One filesystem operation of the view, in bwrap order. */
export type ViewOp =
  | { op: 'ro-bind'; source: string; target: string }
  | { op: 'bind'; source: string; target: string }
  | { op: 'symlink'; link: string; target: string }
  /** A copy of the host file `source` made by bwrap from an fd the host opened (no mount, read-only). */
  | { op: 'file'; source: string; target: string; executable: boolean }
  | { op: 'dir'; target: string };

/** Most entries and bytes {@link copyIntoView} copies for one path. */
export const COPY_LIMITS = Object.freeze({ entries: 1024, bytes: 64 * 1024 * 1024 });

/**
 * Whether a uid that is neither owner nor group of anything on the way could read `hostPath` (symbolic links
 * followed): `ok`; `leaf` when only the path itself is private (e.g. a 0700 copy); else the ancestor directory that is
 * not searchable by others (e.g. a 0700 `/root` above a checkout).
 */
export function othersAccess(hostPath: string): 'ok' | 'leaf' | { blockedBy: string } {
  let real: string;
  try {
    real = fs.realpathSync(hostPath);
  } catch {
    return { blockedBy: hostPath };
  }
  const ancestors: string[] = [];
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    ancestors.unshift(dir);
    if (path.dirname(dir) === dir) break;
  }
  for (const dir of ancestors) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return { blockedBy: dir };
  }
  const st = fs.statSync(real);
  const readable = st.isDirectory() ? (st.mode & 0o005) === 0o005 : (st.mode & 0o004) !== 0;
  return readable ? 'ok' : 'leaf';
}

/** Throws `SandboxUnavailable` unless the sandbox's unprivileged uid can read `hostPath` (see {@link othersAccess}). */
export function assertOthersCanRead(hostPath: string, what: string): void {
  const access = othersAccess(hostPath);
  if (access === 'ok') return;
  const culprit = access === 'leaf' ? hostPath : access.blockedBy;
  throw new PluginError(
    'SandboxUnavailable',
    `${what} ${hostPath} is not readable by the sandbox's unprivileged uid: ${culprit} is private to its owner. ` +
      'Install it where other users can read it (e.g. chmod o+rx on the directories), or start the host from there',
  );
}

/**
 * The ops that copy `hostPath` (a file, or a directory tree of regular files, directories and symbolic links that
 * stay inside it) to `target` inside the sandbox without a mount: for paths the sandbox's uid may not read, and so
 * that their host location shows nowhere inside (not in `/proc/self/mountinfo`). Throws `InvalidArgument` past
 * {@link COPY_LIMITS} or on other file types.
 */
export function copyIntoView(hostPath: string, target: string, ops: ViewOp[]): void {
  let entries = 0;
  let bytes = 0;
  const visit = (src: string, dst: string): void => {
    if (++entries > COPY_LIMITS.entries) {
      throw new PluginError(
        'InvalidArgument',
        `${hostPath} has more than ${COPY_LIMITS.entries} entries to copy into the sandbox; make it readable by others to have it bound instead`,
      );
    }
    const st = fs.lstatSync(src);
    if (st.isSymbolicLink()) {
      const link = fs.readlinkSync(src);
      const resolved = path.resolve(path.dirname(src), link);
      if (resolved !== hostPath && !resolved.startsWith(`${hostPath}/`)) {
        // Pointing outside the copied tree: the host file is not part of the view, so the link leads nowhere.
        ops.push({ op: 'symlink', link: '/nonexistent', target: dst });
      } else ops.push({ op: 'symlink', link, target: dst });
    } else if (st.isDirectory()) {
      ops.push({ op: 'dir', target: dst });
      for (const name of fs.readdirSync(src).sort()) visit(path.join(src, name), path.join(dst, name));
    } else if (st.isFile()) {
      bytes += st.size;
      if (bytes > COPY_LIMITS.bytes) {
        throw new PluginError(
          'InvalidArgument',
          `${hostPath} holds more than ${COPY_LIMITS.bytes} bytes to copy into the sandbox; make it readable by others to have it bound instead`,
        );
      }
      ops.push({ op: 'file', source: src, target: dst, executable: (st.mode & 0o100) !== 0 });
    } else {
      throw new PluginError('InvalidArgument', `${src} is not a regular file, directory or symbolic link`);
    }
  };
  visit(path.normalize(hostPath), target);
}

/** Most entries and bytes {@link copyHostBinds} copies for one bound path; a larger one stays bound. */
export const HOST_COPY_LIMITS = Object.freeze({ entries: 2048, bytes: 32 * 1024 * 1024 });

/**
 * Replaces each read-only bind of a path outside {@link SYSTEM_PREFIXES} (the runtime, its packages, the plugin) by a
 * copy at the bind's target made by bwrap (`--file` from fds the host opens). A copy is not a mount, so the host's
 * directory layout (a checkout under a user's home) does not show in the sandbox's `/proc/self/mountinfo`. Symbolic
 * links are kept as they are (as a bind would show them); files not needed at run time are left out; a path over
 * {@link HOST_COPY_LIMITS} stays bound. The caller gives the binds neutral targets (never under the sandbox's own
 * mounts `/tmp`, `/dev`, `/proc`, `/sys`).
 */
export function copyHostBinds(ops: readonly ViewOp[]): ViewOp[] {
  const out: ViewOp[] = [];
  for (const op of ops) {
    if (op.op !== 'ro-bind' || SYSTEM_PREFIXES.some((p) => op.source.startsWith(p))) {
      out.push(op);
      continue;
    }
    const copied = walkForCopyOnce(op.source, op.target);
    if (copied === undefined) out.push(op);
    else out.push(...copied);
  }
  return out;
}

/**
 * The paths every sandbox of a process shares (node, its libraries, the runtime, koffi) are the same on each spawn,
 * and walking them (an lstat per entry, a readdir per directory) cost a few ms of host CPU per sandboxed start (issue
 * 17): a walk is kept per process and used again while every directory it read is unchanged (same inode, change and
 * modification times: an entry added, removed or renamed anywhere in it means a new walk). Directory times tick
 * coarsely (a change within the same tick as the walk could keep them), so a walk is kept only when every directory
 * it read was last modified more than {@link SETTLED_MS} before it began. The files themselves are still opened on
 * every spawn (`O_NOFOLLOW`, regular files only): a file replaced since is copied as it is now, one gone is an error.
 */
const walks = new Map<string, { dirs: [string, string][]; ops: ViewOp[] | undefined }>();
const MAX_WALKS = 64;
const SETTLED_MS = 2000;

interface DirStamp {
  stamp: string;
  mtimeMs: number;
}

function stampOf(p: string): DirStamp | undefined {
  try {
    const st = fs.lstatSync(p, { bigint: true });
    return { stamp: `${st.dev}:${st.ino}:${st.ctimeNs}:${st.mtimeNs}`, mtimeMs: Number(st.mtimeMs) };
  } catch {
    return undefined;
  }
}

function walkForCopyOnce(root: string, targetRoot: string): ViewOp[] | undefined {
  const key = `${root}\0${targetRoot}`;
  const hit = walks.get(key);
  if (hit?.dirs.every(([d, stamp]) => stampOf(d)?.stamp === stamp)) return hit.ops;
  walks.delete(key);
  const began = Date.now();
  const dirs: [string, DirStamp][] = [];
  const ops = walkForCopy(root, targetRoot, dirs);
  if (dirs.length > 0 && dirs.every(([, d]) => d.mtimeMs < began - SETTLED_MS)) {
    if (walks.size >= MAX_WALKS) walks.clear();
    walks.set(key, { dirs: dirs.map(([d, s]) => [d, s.stamp]), ops });
  }
  return ops;
}

/** `root`'s tree as copies under `targetRoot`; `dirs` collects the directories read, with their stamps taken before the read. */
function walkForCopy(root: string, targetRoot: string, dirs: [string, DirStamp][]): ViewOp[] | undefined {
  const inside = (p: string): string => targetRoot + p.slice(root.length);
  const ops: ViewOp[] = [];
  let entries = 0;
  let bytes = 0;
  const visit = (p: string, top: boolean): boolean => {
    if (++entries > HOST_COPY_LIMITS.entries) return false;
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) ops.push({ op: 'symlink', link: fs.readlinkSync(p), target: inside(p) });
    else if (st.isDirectory()) {
      const stamp = stampOf(p);
      if (stamp === undefined) return false;
      dirs.push([p, stamp]);
      ops.push({ op: 'dir', target: inside(p) });
      for (const name of fs.readdirSync(p).sort()) if (!visit(path.join(p, name), false)) return false;
    } else if (st.isFile()) {
      if (!top && NOT_RUNTIME_FILE.test(p)) return true;
      bytes += st.size;
      if (bytes > HOST_COPY_LIMITS.bytes) return false;
      ops.push({ op: 'file', source: p, target: inside(p), executable: (st.mode & 0o100) !== 0 });
    } else if (!top)
      return true; // sockets, FIFOs, devices inside a package: not part of the view
    else return false;
    return true;
  };
  try {
    return visit(root, true) ? ops : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ops that make `hostPath` visible at the same path inside the sandbox, read-only: symlinked ancestors (merged
 * `/usr`, `/lib64`) become symlinks, and the real file is bound at its real path. `seen` de-duplicates across calls.
 */
export function mirrorReadOnly(hostPath: string, seen: Set<string>, ops: ViewOp[], depth = 0): void {
  if (depth > 32) throw new PluginError('InvalidArgument', `too many symbolic links resolving ${hostPath}`);
  if (!path.isAbsolute(hostPath)) {
    throw new PluginError('InvalidArgument', `sandbox paths must be absolute: ${hostPath}`);
  }
  let current = '/';
  const parts = path.normalize(hostPath).split('/').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const next = path.join(current, parts[i] ?? '');
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch (cause) {
      throw new PluginError('SandboxUnavailable', `a path the sandbox needs does not exist: ${hostPath}`, {
        cause,
      });
    }
    if (st.isSymbolicLink()) {
      const link = fs.readlinkSync(next);
      if (!seen.has(`symlink:${next}`)) {
        seen.add(`symlink:${next}`);
        ops.push({ op: 'symlink', link, target: next });
      }
      // Continue from where the link points; a chain of links is followed the same way.
      const resolved = path.resolve(path.dirname(next), link, ...parts.slice(i + 1));
      mirrorReadOnly(resolved, seen, ops, depth + 1);
      return;
    }
    current = next;
  }
  if (!seen.has(`bind:${current}`)) {
    seen.add(`bind:${current}`);
    ops.push({ op: 'ro-bind', source: current, target: current });
  }
}
