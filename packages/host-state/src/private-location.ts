import { lstatSync, realpathSync, type Stats } from 'node:fs';
import { dirname, parse, resolve, sep } from 'node:path';

/** Why a place is not private to this user (see {@link privateDirectoryProblem}, {@link privateFileProblem}). */
export interface PrivateDirectoryProblem {
  /** The directory at fault: the one checked, or the ancestor (or symlink on the way) that lets others in. */
  path: string;
  /**
   * - `not-a-directory`: the path (or a component of it) is something else.
   * - `symlink`: the directory itself is a symlink (its target could be anything).
   * - `foreign-owner`: owned by another user (the directory itself: by anyone but this user; an ancestor or symlink
   *   on the way: by anyone but this user or root).
   * - `writable-by-others`: group/world-writable (an ancestor: without the sticky bit, as /tmp has).
   * - `not-a-regular-file`: a file checked by {@link privateFileProblem} (or what its symlink leads to) is something
   *   else.
   */
  reason: 'not-a-directory' | 'symlink' | 'foreign-owner' | 'writable-by-others' | 'not-a-regular-file';
  /** One sentence for a person: the path and what is wrong with it. */
  message: string;
}

const STICKY = 0o1000;

function lstatOrMissing(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

function problem(
  path: string,
  reason: PrivateDirectoryProblem['reason'],
  st?: Stats,
): PrivateDirectoryProblem {
  const mode =
    st === undefined ? '' : ` (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, uid ${st.uid})`;
  const what = {
    'not-a-directory': 'is not a directory',
    symlink: 'is a symlink',
    'foreign-owner': 'belongs to another user',
    'writable-by-others': 'is writable by other users',
    'not-a-regular-file': 'is not a regular file',
  }[reason];
  return { path, reason, message: `${path} ${what}${mode}` };
}

// Every directory from the root down to `p` (inclusive), as written (no symlink resolved).
function chain(p: string): string[] {
  const root = parse(p).root;
  const out = [root];
  let cur = root;
  for (const part of p.slice(root.length).split(sep)) {
    if (part === '') continue;
    cur = cur === root ? `${root}${part}` : `${cur}${sep}${part}`;
    out.push(cur);
  }
  return out;
}

// An ancestor is safe when neither another user nor their group can rename what it holds: owned by this user or root,
// and not group/world-writable unless sticky (in a sticky directory only an entry's owner may rename it).
function ancestorProblem(p: string, st: Stats, uid: number): PrivateDirectoryProblem | undefined {
  if (st.uid !== uid && st.uid !== 0) return problem(p, 'foreign-owner', st);
  if (st.isSymbolicLink()) return undefined; // its target's chain is checked too
  if (!st.isDirectory()) return problem(p, 'not-a-directory', st);
  if ((st.mode & 0o022) !== 0 && (st.mode & STICKY) === 0) return problem(p, 'writable-by-others', st);
  return undefined;
}

/**
 * Whether only this user (and root) can replace what sits at `path` (a file or a directory, existing or not): every
 * directory that holds it — its parent and those above, as written and with symlinks resolved; for a missing parent,
 * the nearest existing one — is owned by this user or root and not group/world-writable unless sticky (like /tmp: there
 * only an entry's owner may rename it). Always undefined on Windows (no POSIX owners/modes to check).
 * @returns the first problem found from the root down, or undefined.
 * @throws the `lstat`/`realpath` error other than ENOENT/ENOTDIR (a component that can't be inspected).
 */
export function privateLocationProblem(path: string): PrivateDirectoryProblem | undefined {
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid === undefined) return undefined;
  let holder = dirname(resolve(path));
  while (lstatOrMissing(holder) === undefined && dirname(holder) !== holder) holder = dirname(holder);
  for (const p of chain(holder)) {
    const st = lstatOrMissing(p);
    if (st === undefined) continue; // raced away: the walk with symlinks resolved judges what is there now
    const bad = ancestorProblem(p, st, uid);
    if (bad !== undefined) return bad;
  }
  // With symlinks resolved: the directories the path really goes through.
  for (const p of chain(realpathSync(holder))) {
    const bad = ancestorProblem(p, lstatSync(p), uid);
    if (bad !== undefined) return bad;
  }
  return undefined;
}

/**
 * Whether `dir` is a place only this user (and root) can change: the directory itself, when it exists, is a real
 * directory (no symlink) owned by this user and not group/world-writable, and every directory above it passes
 * {@link privateLocationProblem}. Whoever can write an ancestor can rename the directory away and put another in its
 * place, so checking the directory alone is not enough. A directory that does not exist yet is judged by the ones it
 * would be created in (the missing ones are created by this user). Always undefined on Windows.
 * @returns the first problem found from the root down, or undefined when the directory is private.
 * @throws the `lstat`/`realpath` error other than ENOENT/ENOTDIR (a component that can't be inspected).
 */
export function privateDirectoryProblem(dir: string): PrivateDirectoryProblem | undefined {
  const above = privateLocationProblem(dir);
  if (above !== undefined) return above;
  const uid = process.getuid?.();
  const target = resolve(dir);
  const own = lstatOrMissing(target);
  if (uid === undefined || own === undefined) return undefined;
  if (own.isSymbolicLink()) return problem(target, 'symlink', own);
  if (!own.isDirectory()) return problem(target, 'not-a-directory', own);
  if (own.uid !== uid) return problem(target, 'foreign-owner', own);
  if ((own.mode & 0o022) !== 0) return problem(target, 'writable-by-others', own);
  return undefined;
}

/**
 * Whether only this user (and root) can change the file at `path` — for files whose content decides trust, such as
 * key files: the directories holding it pass {@link privateLocationProblem}; when `path` is a symlink, the link is
 * owned by this user or root and the file it leads to is judged the same way where it really lives (its directories
 * too); the file itself is a regular file owned by this user or root and not group/world-writable. A file that does
 * not exist is judged by its directories only (reading it then fails on its own).
 * @returns the first problem found, or undefined. Always undefined on Windows.
 * @throws the `lstat`/`realpath` error other than ENOENT/ENOTDIR (a component that can't be inspected).
 */
export function privateFileProblem(path: string): PrivateDirectoryProblem | undefined {
  const above = privateLocationProblem(path);
  if (above !== undefined) return above;
  const uid = process.getuid?.();
  const target = resolve(path);
  const own = lstatOrMissing(target);
  if (uid === undefined || own === undefined) return undefined;
  let file = target;
  let st = own;
  if (own.isSymbolicLink()) {
    if (own.uid !== uid && own.uid !== 0) return problem(target, 'foreign-owner', own);
    let real: string;
    try {
      real = realpathSync(target);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined; // dangling: reading it fails on its own
      throw e;
    }
    const there = privateLocationProblem(real);
    if (there !== undefined) return there;
    file = real;
    st = lstatSync(real);
  }
  if (!st.isFile()) return problem(file, 'not-a-regular-file', st);
  if (st.uid !== uid && st.uid !== 0) return problem(file, 'foreign-owner', st);
  if ((st.mode & 0o022) !== 0) return problem(file, 'writable-by-others', st);
  return undefined;
}
