import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  assertPrivateHostState,
  hostTag,
  isOwnDirectory,
  type MovedPath,
  NeutralPaths,
  NOT_RUNTIME_FILE,
} from '@plugward/sandbox-common';
import { PluginError } from '@plugward/types';

/**
 * A store folder is `plugward-rt-<first 32 hex digits of its content's SHA-256>` (on a host that is not root:
 * `plugward-rt-u<uid>-<digest>`, so users sharing a temporary directory don't claim each other's). Where something this
 * user can't remove holds that name, the store is `<that name>-<16 random hex digits>`.
 */
export const STORE_PREFIX = 'plugward-rt-';

/** Most files and bytes one store holds (the runtime bundle and koffi hold ≈ 20 files, ≈ 4 MiB). */
export const STORE_LIMITS = Object.freeze({ files: 4096, bytes: 128 * 1024 * 1024 });

/** One entry of a store: its path inside the store (from `/`), and what it is. */
type Entry =
  | { kind: 'dir'; at: string }
  | { kind: 'file'; at: string; content: Buffer; executable: boolean }
  | { kind: 'symlink'; at: string; link: string };

/** The shared paths' place in the store and their content. */
interface Plan {
  entries: Entry[];
  moved: MovedPath[];
  digest: string;
}

const plans = new Map<string, { root: string; moved: MovedPath[] }>();
const swept = new Set<string>();

/**
 * A store no spawn used for this long is removed by the next host's first spawn (each spawn marks its store used): one
 * is made per runtime version and per other set of shared paths, so they would pile up.
 */
export const STORE_MAX_IDLE_MS = 24 * 60 * 60 * 1000;

/**
 * Landlock has no mount namespace, so what the sandbox reads can only appear at a neutral path if it is there on the
 * host: the shared read-only paths of a spawn (the runtime bundle, koffi) are copied once into a content-addressed
 * store `<base>/plugward-rt-<digest>` laid out by {@link NeutralPaths} (the runtime at `0/`, packages under
 * `node_modules/`), so `process.argv`, `/proc/self/maps` and stack traces name the store, never the host's checkout.
 * Files not needed at run time ({@link NOT_RUNTIME_FILE}) are left out. A store another host made is used only after its
 * owner and permissions pass {@link assertPrivateHostState} and its content hashes to its name (once per process);
 * otherwise it is made again. Written into a temporary folder and renamed, so a store is whole or absent. Returns the
 * store's path and the `[host path, store path]` pairs to relocate arguments with.
 */
export function runtimeStore(paths: readonly string[], base: string): { root: string; moved: MovedPath[] } {
  sweepIdleStoresOnce(base);
  const key = `${base}\0${paths.join('\0')}`;
  const hit = plans.get(key);
  if (hit !== undefined && markUsed(hit.root)) return hit;
  // The plan holds the files' bytes (≈ 4 MiB for the runtime and koffi) only until the store is checked or made.
  const plan = planStore(paths);
  const uid = process.getuid?.() ?? 0;
  const named = path.join(base, `${STORE_PREFIX}${uid === 0 ? '' : `u${uid}-`}${plan.digest.slice(0, 32)}`);
  let root = named;
  if (!(fs.existsSync(root) && storeIsSound(root, plan))) {
    // The name is predictable (the runtime's content is public): in a shared temporary folder another user may hold
    // it (a folder or symlink this user can't remove). Then this host's store gets a name of its own instead of failing.
    if (removeEntry(named)) root = writeStore(base, named, plan);
    else root = soundFallback(base, named, plan) ?? writeStore(base, uniqueStoreName(named), plan);
  }
  markUsed(root);
  const moved = plan.moved.map(([host, inside]): MovedPath => [host, path.join(root, inside)]);
  const result = { root, moved };
  plans.set(key, result);
  return result;
}

/** Marks the store used now (its modification time); false when it is gone (swept by another host: made again). */
function markUsed(root: string): boolean {
  try {
    const now = new Date();
    fs.utimesSync(root, now, now);
    return true;
  } catch {
    return false;
  }
}

/**
 * Removes a store of this user's at `at`; false when something is still there. What another user put there (a folder,
 * a link) is never touched: removing a folder whose owner swaps its subfolders for links meanwhile would delete this
 * user's files elsewhere.
 */
function removeEntry(at: string): boolean {
  try {
    if (isOwnDirectory(at)) fs.rmSync(at, { recursive: true, force: true });
  } catch {
    // Checked below.
  }
  try {
    fs.lstatSync(at);
    return false;
  } catch {
    return true;
  }
}

/**
 * A store of this user's made before under a name of its own (`<named>-<16 hex>`) that still holds the planned content:
 * used again, so a squatted name costs one extra store per user, not one per host process.
 */
function soundFallback(base: string, named: string, plan: Plan): string | undefined {
  const prefix = `${path.basename(named)}-`;
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !/^[0-9a-f]{16}$/.test(name.slice(prefix.length))) continue;
    const at = path.join(base, name);
    if (isOwnDirectory(at) && storeIsSound(at, plan)) return at;
  }
  return undefined;
}

/** `<named>-<random>`: a store name nobody else holds (swept like the others once idle). */
function uniqueStoreName(named: string): string {
  return `${named}-${randomBytes(8).toString('hex')}`;
}

function sweepIdleStoresOnce(base: string): void {
  if (swept.has(base)) return;
  swept.add(base);
  let names: string[];
  try {
    names = fs.readdirSync(base);
  } catch {
    return;
  }
  const oldest = Date.now() - STORE_MAX_IDLE_MS;
  const uid = process.getuid?.() ?? 0;
  for (const name of names) {
    if (!name.startsWith(STORE_PREFIX)) continue;
    const store = path.join(base, name);
    try {
      // Only this user's own stores: another user's (in a shared temporary folder) are theirs to sweep.
      const st = fs.lstatSync(store);
      if (st.isDirectory() && st.uid === uid && st.mtimeMs < oldest)
        fs.rmSync(store, { recursive: true, force: true });
    } catch {
      // Best effort: the next host tries again.
    }
  }
}

/**
 * Forgets which stores this process checked and where it swept (tests: the next use does both again). Not part of the
 * package's API.
 */
export function forgetCheckedStores(): void {
  plans.clear();
  swept.clear();
}

function planStore(paths: readonly string[]): Plan {
  const neutral = new NeutralPaths('/');
  const entries: Entry[] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  const add = (e: Entry): void => {
    if (entries.length >= STORE_LIMITS.files) {
      throw new PluginError(
        'InvalidArgument',
        `more than ${STORE_LIMITS.files} files to copy for the sandbox`,
      );
    }
    entries.push(e);
    hash.update(`${e.kind}\0${e.at}\0`);
    if (e.kind === 'symlink') hash.update(`${e.link}\0`);
    if (e.kind === 'file') {
      bytes += e.content.length;
      if (bytes > STORE_LIMITS.bytes) {
        throw new PluginError(
          'InvalidArgument',
          `more than ${STORE_LIMITS.bytes} bytes to copy for the sandbox`,
        );
      }
      hash.update(`${e.executable ? 'x' : '-'}\0${e.content.length}\0`);
      hash.update(e.content);
    }
  };
  const dirs = new Set<string>();
  for (const p of paths) {
    const real = fs.realpathSync(p);
    const inside = neutral.place(p);
    // The folders above a placement (`node_modules`, a scope, a file's slot) are entries too: the store holds nothing else.
    const above: string[] = [];
    for (let d = path.dirname(inside); d !== '/'; d = path.dirname(d)) above.unshift(d);
    for (const d of above) {
      if (dirs.has(d)) continue;
      dirs.add(d);
      add({ kind: 'dir', at: d });
    }
    const visit = (src: string, at: string, top: boolean): void => {
      const st = fs.lstatSync(src);
      if (st.isSymbolicLink()) {
        const link = fs.readlinkSync(src);
        const to = path.resolve(path.dirname(src), link);
        // A link out of the copied tree would lead to the host's path (or nowhere): it is left out.
        if (!path.isAbsolute(link) && (to === real || to.startsWith(`${real}/`)))
          add({ kind: 'symlink', at, link });
      } else if (st.isDirectory()) {
        dirs.add(at);
        add({ kind: 'dir', at });
        for (const name of fs.readdirSync(src).sort())
          visit(path.join(src, name), path.join(at, name), false);
      } else if (st.isFile() && (top || !NOT_RUNTIME_FILE.test(src))) {
        add({ kind: 'file', at, content: fs.readFileSync(src), executable: (st.mode & 0o100) !== 0 });
      }
    };
    visit(real, inside, true);
  }
  return { entries, moved: neutral.moved(), digest: hash.digest('hex') };
}

/** The store at `root` is this host's kind of private folder and holds exactly the planned content. */
function storeIsSound(root: string, plan: Plan): boolean {
  try {
    assertPrivateHostState(root, 'directory', 'the runtime store');
    const seen = new Set<string>();
    for (const e of plan.entries) {
      const at = path.join(root, e.at);
      seen.add(at);
      const st = fs.lstatSync(at);
      if ((st.mode & 0o022) !== 0 || st.uid !== (process.getuid?.() ?? st.uid)) return false;
      if (e.kind === 'dir' && !st.isDirectory()) return false;
      if (e.kind === 'symlink' && (!st.isSymbolicLink() || fs.readlinkSync(at) !== e.link)) return false;
      if (e.kind === 'file') {
        if (!st.isFile()) return false;
        if (!fs.readFileSync(at).equals(e.content)) return false;
      }
    }
    const count = (dir: string): number =>
      fs
        .readdirSync(dir, { withFileTypes: true })
        .reduce((n, d) => n + 1 + (d.isDirectory() ? count(path.join(dir, d.name)) : 0), 0);
    // Nothing besides.
    return count(root) === seen.size;
  } catch {
    return false;
  }
}

/** Writes the store and renames it to `root`; @returns where it is (another name when `root` was taken meanwhile). */
function writeStore(base: string, root: string, plan: Plan): string {
  // Named after this host until renamed: a host killed meanwhile leaves it to the per-sandbox folders' sweep.
  const tmp = path.join(base, `plugward-ll-${hostTag()}-rt-${randomBytes(6).toString('hex')}`);
  fs.mkdirSync(tmp, { mode: 0o700 });
  try {
    const dirs: string[] = [];
    for (const e of plan.entries) {
      const at = path.join(tmp, e.at);
      fs.mkdirSync(path.dirname(at), { recursive: true, mode: 0o755 });
      if (e.kind === 'dir') {
        fs.mkdirSync(at, { recursive: true, mode: 0o755 });
        dirs.push(at);
      } else if (e.kind === 'symlink') fs.symlinkSync(e.link, at);
      else {
        // The bytes read (and hashed) once: a file swapped meanwhile changes nothing.
        fs.writeFileSync(at, e.content, { mode: 0o600 });
        fs.chmodSync(at, e.executable ? 0o555 : 0o444);
      }
    }
    // The sandbox's uid reads it (root hosts: a leased uid), nobody writes it.
    for (const d of walkDirs(tmp)) fs.chmodSync(d, 0o755);
    try {
      fs.renameSync(tmp, root);
      return root;
    } catch (cause) {
      // Another host made the same store meanwhile: theirs is used if it is sound; else (someone else's folder took the
      // name meanwhile) this one gets a name of its own.
      if (fs.existsSync(root) && storeIsSound(root, plan)) return root;
      const own = uniqueStoreName(root);
      try {
        fs.renameSync(tmp, own);
        return own;
      } catch {
        throw new PluginError('SandboxUnavailable', `could not make the runtime store ${root}`, { cause });
      }
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function walkDirs(dir: string): string[] {
  const out = [dir];
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (d.isDirectory()) out.push(...walkDirs(path.join(dir, d.name)));
  }
  return out;
}
