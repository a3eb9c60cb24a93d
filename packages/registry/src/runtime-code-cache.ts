import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertPrivateHostState } from '@plugward/sandbox-common';
import { buildDigest, MAKE_CODE_CACHE_ARG, MAX_CODE_CACHE_BYTES, sha256Hex } from './code-cache-protocol.js';

/** A code cache of the plugin runtime the starter may use: the file, its SHA-256, and the build it is of (buildDigest). */
export interface RuntimeCodeCache {
  readonly file: string;
  readonly digest: string;
  readonly bundle: string;
}

/**
 * The host's cache folder: `plugward/` in the user's cache directory (`$XDG_CACHE_HOME`, else `~/.cache`) — kept
 * across host processes and test runs, so the cache is made once per node binary and runtime build, not per process.
 */
export function codeCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'plugward');
}

/** A cache of another runtime build or node not used (found) for this long is removed by the next host that looks. */
const STALE_CACHE_MS = 7 * 24 * 60 * 60 * 1000;

/** How long the maker may take before the host gives up on a cache for this process (a loaded machine is slow). */
const MAKE_TIMEOUT_MS = 60_000;

const MAKING_PREFIX = '.making-';

interface State {
  cache?: RuntimeCodeCache;
  /** Settles once this process found a cache on disk, made one, or gave up (never tried twice). */
  ready?: Promise<void>;
}

const states = new Map<string, State>();

/** A host's way out (and the benchmarks' A/B switch): `PLUGWARD_CODE_CACHE=0`, read on every start. */
function disabled(): boolean {
  return process.env.PLUGWARD_CODE_CACHE === '0';
}

/**
 * The V8 code cache of `runtime` (issue 17: a plugin process compiled ≈ 300 KB of runtime on every start), or
 * undefined while there is none yet — then the plugin starts as it always did, and this call starts the making in
 * the background, once per process. The cache is made by the host, never inside a sandbox: a child of this very node
 * binary ({@link MAKE_CODE_CACHE_ARG}) runs the runtime's own warm-up (its constant no-op plugin, no plugin of
 * anyone's) and writes what V8 compiled. It is kept in a folder only this user can change (checked, with every folder
 * above it) under a name keyed by `process.version`, `process.arch`, the runtime build's SHA-256 (runtime and starter) and the
 * cache's own, which
 * a later host checks before using it. Sandboxes read it read-only; the starter checks both digests again before
 * handing the bytes to V8 (which itself refuses a cache of another V8 version or flag set), and falls back to the plain
 * start on any mismatch.
 */
export function runtimeCodeCache(
  starter: string,
  runtime: string,
  env: Record<string, string>,
): RuntimeCodeCache | undefined {
  if (disabled()) return undefined;
  const state = prepare(starter, runtime, env);
  // Removed since (someone cleaned the cache folder): a sandbox must not be told to bind a missing file. The next
  // start looks again (and makes a new one if none is there).
  if (state.cache !== undefined && !fs.existsSync(state.cache.file)) {
    states.delete(runtime);
    return undefined;
  }
  return state.cache;
}

/** Resolves once {@link runtimeCodeCache} has its answer for this process: the cache, or undefined for none. */
export async function whenRuntimeCodeCache(
  starter: string,
  runtime: string,
  env: Record<string, string>,
): Promise<RuntimeCodeCache | undefined> {
  if (disabled()) return undefined;
  const state = prepare(starter, runtime, env);
  await state.ready;
  return state.cache;
}

function prepare(starter: string, runtime: string, env: Record<string, string>): State {
  let state = states.get(runtime);
  if (state !== undefined) return state;
  state = {};
  states.set(runtime, state);
  try {
    const bundle = buildDigest(fs.readFileSync(runtime), fs.readFileSync(starter));
    const dir = codeCacheDir();
    fs.mkdirSync(dir, { mode: 0o755, recursive: true });
    assertPrivateHostState(dir, 'directory', 'the code cache folder');
    const prefix = `runtime-${process.version}-${process.arch}-${bundle.slice(0, 32)}-`;
    const found = findCache(dir, prefix, bundle);
    if (found !== undefined) state.cache = found;
    else state.ready = makeCache(state, starter, dir, prefix, bundle, env);
  } catch {
    // No cache: plain starts.
  }
  return state;
}

/**
 * A cache on disk whose content hashes to the digest in its name (a torn or altered file is removed). The one found is
 * touched; other runtime builds' caches untouched for {@link STALE_CACHE_MS} are removed.
 */
function findCache(dir: string, prefix: string, bundle: string): RuntimeCodeCache | undefined {
  let found: RuntimeCodeCache | undefined;
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (name.startsWith(MAKING_PREFIX)) {
      // A maker's output its host never collected (the host was killed).
      if (Date.now() - fs.lstatSync(file).mtimeMs > MAKE_TIMEOUT_MS * 2) fs.rmSync(file, { force: true });
      continue;
    }
    if (!name.startsWith('runtime-') || !name.endsWith('.cache')) continue;
    const st = fs.lstatSync(file);
    if (!name.startsWith(prefix)) {
      if (Date.now() - st.mtimeMs > STALE_CACHE_MS) fs.rmSync(file, { force: true });
      continue;
    }
    const digest = name.slice(prefix.length, -'.cache'.length);
    if (
      found === undefined &&
      st.isFile() &&
      st.size <= MAX_CODE_CACHE_BYTES &&
      sha256Hex(fs.readFileSync(file)) === digest
    ) {
      const now = new Date();
      fs.utimesSync(file, now, now);
      found = { file, digest, bundle };
    } else if (found === undefined) fs.rmSync(file, { force: true });
  }
  return found;
}

function makeCache(
  state: State,
  starter: string,
  dir: string,
  prefix: string,
  bundle: string,
  env: Record<string, string>,
): Promise<void> {
  const out = path.join(dir, `${MAKING_PREFIX}${randomBytes(8).toString('hex')}`);
  const child = spawn(process.execPath, [starter, MAKE_CODE_CACHE_ARG, out], {
    stdio: 'ignore',
    env,
    timeout: MAKE_TIMEOUT_MS,
    killSignal: 'SIGKILL',
  });
  child.unref();
  const done = (ok: boolean): void => {
    try {
      if (ok) {
        const data = fs.readFileSync(out);
        if (data.length > 0 && data.length <= MAX_CODE_CACHE_BYTES) {
          const digest = sha256Hex(data);
          const file = path.join(dir, `${prefix}${digest}.cache`);
          fs.chmodSync(out, 0o444);
          fs.renameSync(out, file);
          state.cache = { file, digest, bundle };
        }
      }
    } catch {
      // No cache for this process.
    } finally {
      fs.rmSync(out, { force: true });
    }
  };
  return new Promise((resolve) => {
    child.once('error', () => resolve(done(false)));
    child.once('exit', (code) => resolve(done(code === 0)));
  });
}
