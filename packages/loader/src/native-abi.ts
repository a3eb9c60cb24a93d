// The C ABI of plugward.h as koffi types, declared once per thread on first use. Keep in sync with native/plugward.h.
import { createRequire } from 'node:module';
import { PLUGWARD_ABI_VERSION } from '@plugward/types';
import type koffiModule from 'koffi';
import type { LibraryHandle } from 'koffi';

type Koffi = typeof koffiModule;
type KoffiType = ReturnType<Koffi['struct']>;

let koffiLoaded: Koffi | undefined;

/**
 * koffi, loaded on first use — when a native plugin is loaded, never before: a thread that only runs JS plugins never
 * has koffi in it (a worker terminated while koffi runs in it aborts the whole process, so the worker runtime of a JS
 * plugin must not run koffi at all). Required, not imported: the same CommonJS entry the plugin runtime always used,
 * and no ES module loader started for it.
 */
function koffi(): Koffi {
  koffiLoaded ??= createRequire(import.meta.url)('koffi') as Koffi;
  return koffiLoaded;
}

/** dlopen()s `file` through koffi. */
export function loadLibrary(file: string): LibraryHandle {
  return koffi().load(file);
}

/** Status codes of plugward.h (`pw_status`). */
export const PwStatus = Object.freeze({
  Ok: 0,
  Generic: 1,
  InvalidArgument: 2,
  NotFound: 3,
  NoMemory: 4,
  PermissionDenied: 5,
  BufferTooSmall: 6,
  WouldBlock: 7,
  Type: 8,
  State: 9,
} as const);

/** Size of the host-owned error buffer handed to every fallible plugin call. */
export const ERROR_BUFFER_BYTES = 1024;

/** The koffi types of plugward.h: its structs, their sizes, and the function-pointer prototypes. */
export interface NativeAbi {
  /** `struct pw_plugin`. */
  PwPlugin: KoffiType;
  /** `struct pw_host_api`. */
  PwHostApi: KoffiType;
  /** The byte size of `pw_plugin` a plugin built against this header reports in `struct_size`. */
  pluginSize: number;
  /** The byte size of `pw_host_api`. */
  hostApiSize: number;
  protos: Record<FunctionField | HostCallbackKind | 'create', KoffiType>;
}

let abiCache: NativeAbi | undefined;

/** The C ABI as koffi types, declared on first use (koffi's type names are per thread and can be declared once). */
export function nativeAbi(): NativeAbi {
  abiCache ??= declareAbi(koffi());
  return abiCache;
}

function declareAbi(k: Koffi): NativeAbi {
  // Everything pointer-like is `void *` so koffi hands us BigInt addresses and we decide how to read them (strings are
  // validated as strict UTF-8 by us, not converted lossily by koffi).
  const PwLimits = k.struct('pw_limits', {
    max_heap_bytes: 'uint64_t',
    max_cpu_time_ms: 'uint64_t',
    max_file_descriptors: 'uint64_t',
    max_threads: 'uint64_t',
    max_connections: 'uint64_t',
    max_db_query_ms: 'uint64_t',
    max_external_api_ms: 'uint64_t',
  });
  const PwPlugin = k.struct('pw_plugin', {
    abi_version: 'uint32_t',
    struct_size: 'uint32_t',
    name: 'void *',
    version: 'void *',
    author: 'void *',
    description: 'void *',
    limits: PwLimits,
    state: 'void *',
    init: 'void *',
    register_hooks: 'void *',
    call_hook: 'void *',
    free_buffer: 'void *',
    shutdown: 'void *',
    destroy: 'void *',
  });
  const PwHostApi = k.struct('pw_host_api', {
    abi_version: 'uint32_t',
    struct_size: 'uint32_t',
    host_data: 'void *',
    register_hook: 'void *',
    log: 'void *',
    context_get: 'void *',
    context_set: 'void *',
    context_remove: 'void *',
  });
  // Function-pointer prototypes of plugward.h.
  const protos = {
    create: k.proto('void *pw_create_plugin_fn(void)'),
    init: k.proto('int32_t pw_init_fn(void *self, void *host, void *err, size_t err_cap)'),
    register_hooks: k.proto(
      'int32_t pw_register_hooks_fn(void *self, void *host, void *err, size_t err_cap)',
    ),
    call_hook: k.proto(
      'int32_t pw_call_hook_fn(void *self, void *hook_name, void *in, size_t in_len, void *out, void *out_len, void *err, size_t err_cap)',
    ),
    free_buffer: k.proto('void pw_free_buffer_fn(void *self, void *buffer, size_t len)'),
    shutdown: k.proto('int32_t pw_shutdown_fn(void *self, void *err, size_t err_cap)'),
    destroy: k.proto('void pw_destroy_fn(void *self)'),
    // Host callbacks.
    register_hook: k.proto(
      'int32_t pw_host_register_hook_fn(void *host_data, void *hook_name, int32_t priority)',
    ),
    log: k.proto('void pw_host_log_fn(void *host_data, int32_t level, void *message)'),
    context_get: k.proto(
      'int32_t pw_host_context_get_fn(void *host_data, void *key, void *out, size_t out_cap, void *out_len)',
    ),
    context_set: k.proto(
      'int32_t pw_host_context_set_fn(void *host_data, void *key, void *value, size_t len)',
    ),
    context_remove: k.proto('int32_t pw_host_context_remove_fn(void *host_data, void *key)'),
  };
  return { PwPlugin, PwHostApi, pluginSize: k.sizeof(PwPlugin), hostApiSize: k.sizeof(PwHostApi), protos };
}

/** The fields of `pw_plugin` that hold function pointers; none may be NULL. */
export const FUNCTION_FIELDS = [
  'init',
  'register_hooks',
  'call_hook',
  'free_buffer',
  'shutdown',
  'destroy',
] as const;
/** A function-pointer field of `pw_plugin`. */
export type FunctionField = (typeof FUNCTION_FIELDS)[number];

/** The decoded `pw_plugin` struct (addresses as BigInt, null for NULL). */
export interface RawPluginStruct {
  abi_version: number;
  struct_size: number;
  name: bigint | null;
  version: bigint | null;
  author: bigint | null;
  description: bigint | null;
  limits: Record<string, number | bigint>;
  state: bigint | null;
  init: bigint | null;
  register_hooks: bigint | null;
  call_hook: bigint | null;
  free_buffer: bigint | null;
  shutdown: bigint | null;
  destroy: bigint | null;
}

/** A pointer argument: an address, NULL, or JS memory koffi passes by address. */
export type PtrArg = bigint | null | Uint8Array | BigUint64Array;

/** Typed JS views of the plugin's entry points (decoded from the struct once, then called directly). */
export interface PluginFunctions {
  init(self: bigint, host: bigint, err: Uint8Array, errCap: number): number;
  register_hooks(self: bigint, host: bigint, err: Uint8Array, errCap: number): number;
  call_hook(
    self: bigint,
    hookName: Uint8Array,
    input: Uint8Array,
    inLen: number,
    out: BigUint64Array,
    outLen: BigUint64Array,
    err: Uint8Array,
    errCap: number,
  ): number;
  free_buffer(self: bigint, buffer: bigint, len: number): void;
  shutdown(self: bigint, err: Uint8Array, errCap: number): number;
  destroy(self: bigint): void;
}

// Decoded function objects keyed by prototype and address. Each koffi.decode() of a function pointer allocates native
// call data that is only reclaimed lazily (measured: ~3.5 KiB each, RSS +20 MiB over 1000 load cycles); a reloaded
// library usually lands at the same address, so reusing the decoded function is the same call. Bounded (LRU).
const DECODED_CACHE_LIMIT = 256;
const decoded = new Map<string, unknown>();

function decodeFunction(field: FunctionField | 'create', address: bigint): unknown {
  const key = `${field}@${address}`;
  let fn = decoded.get(key);
  if (fn !== undefined) {
    decoded.delete(key);
  } else {
    fn = koffi().decode(address, nativeAbi().protos[field]);
    if (decoded.size >= DECODED_CACHE_LIMIT) decoded.delete(decoded.keys().next().value as string);
  }
  decoded.set(key, fn);
  return fn;
}

/** Decodes the function pointers of a validated struct into callable functions (once per load, not per call). */
export function decodeFunctions(raw: RawPluginStruct): PluginFunctions {
  const out: Partial<Record<FunctionField, unknown>> = {};
  for (const field of FUNCTION_FIELDS) {
    out[field] = decodeFunction(field, raw[field] as bigint);
  }
  return out as unknown as PluginFunctions;
}

/** Host callback kinds, each with its koffi prototype. */
export type HostCallbackKind = 'register_hook' | 'log' | 'context_get' | 'context_set' | 'context_remove';

/** Registers a JS function as a C callback of `kind`; release it with {@link unregisterCallback}. */
// biome-ignore lint/complexity/noBannedTypes: koffi.register takes any JS function; the prototype fixes its shape.
export function registerCallback(kind: HostCallbackKind, fn: Function): bigint {
  return koffi().register(fn, koffi().pointer(nativeAbi().protos[kind]));
}

/** Releases a callback slot (koffi has 8192). */
export function unregisterCallback(ptr: bigint): void {
  koffi().unregister(ptr);
}

/** Number of koffi callbacks registered in this thread (for leak checks); 0 where no native plugin was ever loaded. */
export function registeredCallbackCount(): number {
  return koffiLoaded === undefined ? 0 : koffiLoaded.stats().callbacks;
}

/**
 * Looks up the constructor symbol in `lib` and returns it as a callable (decoded through the address cache, so
 * reloading a library does not allocate a new koffi function each time).
 * @throws Error from koffi when the symbol is missing (the caller maps it to SymbolNotFound).
 */
export function constructorOf(lib: LibraryHandle, symbol: string): () => bigint | null {
  const address = lib.symbol(symbol) as bigint;
  return decodeFunction('create', address) as () => bigint | null;
}

/** Decodes the struct at `ptr`. */
export function decodePluginStruct(ptr: bigint): RawPluginStruct {
  return koffi().decode(ptr, nativeAbi().PwPlugin) as RawPluginStruct;
}

/** Reads the first two u32 of the struct (abi_version, struct_size) without assuming the rest of the layout. */
export function readStructHeader(ptr: bigint): { abiVersion: number; structSize: number } {
  const k = koffi();
  return { abiVersion: k.decode.uint32(ptr), structSize: k.decode.uint32(ptr + 4n) };
}

/** Allocates and fills a `pw_host_api`; free it with {@link freeHostApi} after `destroy`. */
export function allocHostApi(callbacks: Record<HostCallbackKind, bigint>): bigint {
  const { PwHostApi, hostApiSize } = nativeAbi();
  const ptr = koffi().alloc(PwHostApi, 1) as bigint;
  koffi().encode(ptr, PwHostApi, {
    abi_version: PLUGWARD_ABI_VERSION,
    struct_size: hostApiSize,
    host_data: null,
    ...callbacks,
  });
  return ptr;
}

/** Frees a host API struct made by {@link allocHostApi}. */
export function freeHostApi(ptr: bigint): void {
  koffi().free(ptr);
}

/** Writes a `size_t` at `ptr`. */
export function writeSize(ptr: bigint, value: number): void {
  koffi().encode(ptr, 'size_t', value);
}

interface Libc {
  memcpy(dst: PtrArg, src: PtrArg, n: number): unknown;
  strnlen(s: bigint, max: number): number | bigint;
}

let libcCache: Libc | undefined;

/** memcpy/strnlen of the C library already mapped into this process (`dlopen(NULL)`). */
export function libc(): Libc {
  if (libcCache === undefined) {
    const self = koffi().load(null);
    libcCache = {
      memcpy: self.func('void *memcpy(void *dst, const void *src, size_t n)') as unknown as Libc['memcpy'],
      strnlen: self.func('size_t strnlen(const void *s, size_t maxlen)') as unknown as Libc['strnlen'],
    };
  }
  return libcCache;
}
