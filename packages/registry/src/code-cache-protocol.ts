import { createHash } from 'node:crypto';

/**
 * What the plugin runtime's starter (`runtime-start.ts`, `dist/runtime/start.cjs`), the runtime and the host agree on
 * for the runtime's V8 code cache (see `runtime-code-cache.ts`).
 */

/** Starter arguments `<flag> <cache file> <its SHA-256> <buildDigest>`: start from that code cache. */
export const CODE_CACHE_ARG = '--plugward-code-cache';

/** Starter arguments `<flag> <new file>` of the host's cache maker: run the runtime's own warm-up, write its cache. */
export const MAKE_CODE_CACHE_ARG = '--plugward-make-code-cache';

/** Largest code cache a starter reads or the host accepts from its maker, bytes (the runtime's is ≈ 0.1–0.5 MiB). */
export const MAX_CODE_CACHE_BYTES = 16 * 1024 * 1024;

/**
 * The script name the runtime is compiled under when it starts from (or for) a code cache. Node 20's V8 keeps the name
 * a cache was made with, whatever the consuming script is called: the host's path would show in every sandboxed
 * plugin's stack traces. One fixed name that says nothing of any host, for the maker and every start.
 */
export const CACHED_RUNTIME_NAME = 'plugward:runtime.cjs';

/** Global slot where the starter leaves {@link RuntimeStart} for the runtime, which takes and deletes it first thing. */
export const RUNTIME_START = Symbol.for('plugward.runtime-start');

/** What the starter hands the runtime it compiled. */
export interface RuntimeStart {
  /** `import()` compiled outside the cached script (a script compiled from a code cache has none on Node 20). */
  importModule(specifier: string): Promise<unknown>;
  /** The cache maker's: called once the runtime's warm-up ran, to write the cache of everything compiled so far. */
  cacheReady?: () => void;
  /** Whether the script was compiled from the cache (`used`) or V8 refused it (`rejected`: compiled from source). */
  cache: 'used' | 'rejected' | 'none';
}

/** SHA-256 of the runtime and the starter (which decides how the runtime is compiled) together: what a cache is of. */
export function buildDigest(runtimeSource: Uint8Array, starterSource: Uint8Array): string {
  return createHash('sha256').update(runtimeSource).update(starterSource).digest('hex');
}

/** Hex SHA-256 of `bytes` (how caches are named and checked). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
