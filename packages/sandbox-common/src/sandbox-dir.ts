import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostGone, hostTag, parseHostTag } from './host-exit.js';
import { assertPrivateHostState } from './private-state.js';

/**
 * The parent of a backend's per-sandbox directories: `rootDir` on root hosts (created root-owned, 0711: the leased
 * uid traverses it to its scratch space but never lists it; `os.tmpdir()` may be a private 0700 folder), else
 * `os.tmpdir()`. Either must be a place no other user can swap ({@link assertPrivateHostState}): `rootDir` and every
 * directory above it; the temporary directory's own chain (a sticky /tmp is fine, a `TMPDIR` others can write is not).
 * @throws PluginError `SandboxUnavailable` naming the directory at fault.
 */
export function sandboxDirBase(root: boolean, rootDir: string): string {
  if (!root) {
    const tmp = os.tmpdir();
    assertPrivateHostState(path.join(tmp, 'plugward-'), 'location', 'the temporary directory holding');
    return tmp;
  }
  assertPrivateHostState(rootDir, 'directory', 'the sandbox directory');
  fs.mkdirSync(rootDir, { recursive: true, mode: 0o711 });
  assertPrivateHostState(rootDir, 'directory', 'the sandbox directory');
  if ((fs.lstatSync(rootDir).mode & 0o777) !== 0o711) fs.chmodSync(rootDir, 0o711);
  return rootDir;
}

/**
 * The file that names the host of a {@link makeUntaggedSandboxDir} directory (read by the stale sweep): inside it, or
 * beside it as `<directory>.owner`.
 */
export const OWNER_FILE = '.owner';

/**
 * Makes a per-sandbox directory `<prefix><random>` under `base` whose name says nothing of the host (for a sandbox
 * that sees host paths: no pid, no start time), and records its host's tag ({@link hostTag}) in {@link OWNER_FILE}
 * (0600), where {@link sweepStaleSandboxDirs} finds it: inside the directory, or `beside` it (`<dir>.owner`, for a
 * directory that becomes a mount point or whose content a sandbox sees; the caller removes that file with it, see
 * {@link removeOwnerBeside}). `mode` is the directory's.
 */
export function makeUntaggedSandboxDir(
  base: string,
  prefix: string,
  mode: number,
  ownerAt: 'inside' | 'beside' = 'inside',
): string {
  const dir = path.join(base, `${prefix}${randomBytes(12).toString('hex')}`);
  fs.mkdirSync(dir, { mode });
  fs.chmodSync(dir, mode);
  const owner = ownerAt === 'inside' ? path.join(dir, OWNER_FILE) : `${dir}${OWNER_FILE}`;
  fs.writeFileSync(owner, `${hostTag()}-\n`, { mode: 0o600, flag: 'wx' });
  return dir;
}

/** Removes the owner file beside `dir` ({@link makeUntaggedSandboxDir} with `beside`); never throws. */
export function removeOwnerBeside(dir: string): void {
  fs.rmSync(`${dir}${OWNER_FILE}`, { force: true });
}

/** This process's effective uid (what owns the folders and files it makes). */
function ownUid(): number | undefined {
  return process.geteuid?.();
}

/**
 * A directory itself — not a symbolic link to one — owned by this process's uid. A sweep of a shared folder (a sticky
 * `/tmp`, `/dev/shm`) touches nothing else: there, any local user can plant an entry of the sweep's prefix — a link to
 * a folder the host should never chmod or empty, or a folder of their own whose subfolders they swap for links while
 * the host removes it.
 */
export function isOwnDirectory(p: string): boolean {
  try {
    const st = fs.lstatSync(p);
    return st.isDirectory() && st.uid === (ownUid() ?? st.uid);
  } catch {
    return false;
  }
}

/**
 * The content of a small file this process's uid owns, read without following a link, without blocking on a FIFO
 * and only from a regular file of at most `maxBytes`; undefined for anything else (gone, planted, too large).
 */
export function readOwnSmallFile(file: string, maxBytes = 4096): string | undefined {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== (ownUid() ?? st.uid) || st.size > maxBytes) return undefined;
    const buf = Buffer.alloc(maxBytes + 1);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    return n > maxBytes ? undefined : buf.subarray(0, n).toString('utf8');
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
}

function ownerOf(dir: string, rest: string): ReturnType<typeof parseHostTag> {
  const named = parseHostTag(rest);
  if (named !== undefined) return named;
  for (const file of [`${dir}${OWNER_FILE}`, path.join(dir, OWNER_FILE)]) {
    const text = readOwnSmallFile(file, 256);
    if (text !== undefined) return parseHostTag(text);
  }
  return undefined;
}

/**
 * Removes the per-host directories `<prefix><host tag>-…` ({@link hostTag}), or `<prefix><random>` with the tag in
 * their {@link OWNER_FILE} ({@link makeUntaggedSandboxDir}), under `base` whose host process is gone
 * (a host killed with SIGKILL runs no cleanup; its plugins died with it). `beforeRemove` runs first on each (e.g. to unmount a scratch
 * tmpfs left mounted). Only this host's user's own directories are judged ({@link isOwnDirectory}: no symbolic link,
 * nothing another user made — a shared temporary folder holds what anybody planted under the prefix), and an owner file
 * is read only as {@link readOwnSmallFile} reads it. Best effort: a directory that can't be removed is left for the
 * next host. Returns the removed.
 */
export function sweepStaleSandboxDirs(
  base: string,
  prefix: string,
  beforeRemove?: (dir: string) => void,
): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || name.endsWith(OWNER_FILE)) continue;
    const dir = path.join(base, name);
    if (!isOwnDirectory(dir)) continue;
    const owner = ownerOf(dir, name.slice(prefix.length));
    if (owner === undefined || !hostGone(owner)) continue;
    try {
      beforeRemove?.(dir);
      fs.rmSync(dir, { recursive: true, force: true });
      removeOwnerBeside(dir);
      removed.push(dir);
    } catch {
      // Best effort: the next host tries again.
    }
  }
  return removed;
}

const swept = new Set<string>();

/** {@link sweepStaleSandboxDirs} once per process, folder and prefix (a backend calls it on its first spawn). */
export function sweepStaleSandboxDirsOnce(
  base: string,
  prefix: string,
  beforeRemove?: (dir: string) => void,
): void {
  const key = `${prefix}\0${base}`;
  if (swept.has(key)) return;
  swept.add(key);
  sweepStaleSandboxDirs(base, prefix, beforeRemove);
}
