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

function ownerOf(dir: string, rest: string): ReturnType<typeof parseHostTag> {
  const named = parseHostTag(rest);
  if (named !== undefined) return named;
  for (const file of [`${dir}${OWNER_FILE}`, path.join(dir, OWNER_FILE)]) {
    try {
      return parseHostTag(fs.readFileSync(file, 'utf8'));
    } catch {
      // The next place, or no owner known: left alone.
    }
  }
  return undefined;
}

/**
 * Removes the per-host directories `<prefix><host tag>-…` ({@link hostTag}), or `<prefix><random>` with the tag in
 * their {@link OWNER_FILE} ({@link makeUntaggedSandboxDir}), under `base` whose host process is gone
 * (a host killed with SIGKILL runs no cleanup; its plugins died with it). `beforeRemove` runs first on each (e.g. to unmount a scratch
 * tmpfs left mounted). Best effort: a directory that can't be removed is left for the next host. Returns the removed.
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
