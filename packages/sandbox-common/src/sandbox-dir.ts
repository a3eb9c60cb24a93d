import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hostGone, parseHostTag } from './host-exit.js';
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
 * Removes the per-host directories `<prefix><host tag>-…` ({@link hostTag}) under `base` whose host process is gone
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
    if (!name.startsWith(prefix)) continue;
    const owner = parseHostTag(name.slice(prefix.length));
    if (owner === undefined || !hostGone(owner)) continue;
    const dir = path.join(base, name);
    try {
      beforeRemove?.(dir);
      fs.rmSync(dir, { recursive: true, force: true });
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
