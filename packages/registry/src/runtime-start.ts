// The entry of every plugin process and sandbox (not of workers): it starts the plugin runtime (`runtime.cjs` beside
// it) from a V8 code cache the host made and named in its arguments, or — without one, or when the cache or the
// runtime is not the one named — exactly as `node runtime.cjs` would. It runs after a sandbox's lockdown (the
// bubblewrap preload, the Landlock launcher) like the runtime did, and loads no plugin code itself.
import fs from 'node:fs';
import Module, { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';
import {
  buildDigest,
  CACHED_RUNTIME_NAME,
  CODE_CACHE_ARG,
  MAKE_CODE_CACHE_ARG,
  MAX_CODE_CACHE_BYTES,
  RUNTIME_START,
  type RuntimeStart,
  sha256Hex,
} from './code-cache-protocol.js';

const runtime = path.join(__dirname, 'runtime.cjs');

/**
 * The cache named by the host, when its bytes hash to the digest the host gave and `source` and this starter are the
 * build it was made from (V8 checks only the source's length: a cache of another build would run that build's
 * bytecode). A file another user or a plugin could have swapped, truncated or grown fails these checks: the plain
 * start follows.
 */
function readCache(file: string, digest: string, bundle: string, source: Buffer): Buffer | undefined {
  try {
    if (buildDigest(source, fs.readFileSync(__filename)) !== bundle) return undefined;
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile() || st.size > MAX_CODE_CACHE_BYTES) return undefined;
      const data = Buffer.alloc(st.size);
      if (fs.readSync(fd, data, 0, st.size, 0) !== st.size) return undefined;
      return sha256Hex(data) === digest ? data : undefined;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
}

function start(): void {
  const args = process.argv.slice(2);
  const make = args[0] === MAKE_CODE_CACHE_ARG ? args.splice(0, 2)[1] : undefined;
  const named = args[0] === CODE_CACHE_ARG ? args.splice(0, 4).slice(1) : undefined;
  // The runtime reads its arguments where `node runtime.cjs …` puts them (the maker's: only its flag).
  if (make !== undefined) args.unshift(MAKE_CODE_CACHE_ARG);
  process.argv.splice(1, Number.POSITIVE_INFINITY, runtime, ...args);
  const source = fs.readFileSync(runtime);
  const cachedData =
    named !== undefined && named.length === 3
      ? readCache(named[0] as string, named[1] as string, named[2] as string, source)
      : undefined;
  if (cachedData === undefined && make === undefined) {
    require(runtime);
    return;
  }
  const script = new vm.Script(Module.wrap(source.toString('utf8')), {
    filename: CACHED_RUNTIME_NAME,
    ...(cachedData === undefined ? {} : { cachedData }),
  });
  const handed: RuntimeStart = {
    importModule: (specifier) => import(specifier),
    cache: cachedData === undefined ? 'none' : script.cachedDataRejected === true ? 'rejected' : 'used',
    ...(make === undefined
      ? {}
      : {
          cacheReady: () => {
            fs.writeFileSync(make, script.createCachedData(), { flag: 'wx', mode: 0o600 });
            process.exit(0);
          },
        }),
  };
  (globalThis as Record<symbol, unknown>)[RUNTIME_START] = handed;
  const mod = new Module(runtime, module);
  mod.filename = runtime;
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  wrapper.call(mod.exports, mod.exports, createRequire(runtime), mod, runtime, __dirname);
}

start();
