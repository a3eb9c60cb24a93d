import {
  type HookRegistrar,
  isPluginError,
  isThenable,
  type LogLevel,
  MAX_PLUGIN_NAME_LENGTH,
  MINIMAL_REQUIREMENTS,
  PLUGIN_CONSTRUCTOR_SYMBOL,
  PLUGWARD_ABI_VERSION,
  type PluginContextApi,
  PluginError,
  type PluginErrorCode,
  type PluginRuntimeApi,
  type ResourceLimits,
  type TrustLevel,
  validatePartialLimits,
} from '@plugward/types';
import type { LibraryHandle } from 'koffi';
import { copyFromNative, errorBufferText, readCStringStrict } from './c-string.js';
import { type Admission, type LoadedPlugin, LoadedPluginFields, type PluginMeta } from './loaded-plugin.js';
import {
  allocHostApi,
  constructorOf,
  decodeFunctions,
  decodePluginStruct,
  ERROR_BUFFER_BYTES,
  FUNCTION_FIELDS,
  freeHostApi,
  type HostCallbackKind,
  loadLibrary,
  nativeAbi,
  type PluginFunctions,
  PwStatus,
  type RawPluginStruct,
  readStructHeader,
  registerCallback,
  unregisterCallback,
} from './native-abi.js';
import { type CallbackHost, hostCallbacks } from './native-callbacks.js';
import { writePrivateCopy } from './private-copy.js';
import type { VerifiedArtifact } from './verified-artifact.js';

/** Options of the native loader (set through PluginLoaderOptions). */
export interface NativeLoadOptions {
  tmpDir?: string;
  /** dlopen `artifact.artifactPath` itself instead of a private copy (it is on a read-only mount nobody can change). */
  inPlace?: boolean;
  maxHookOutputBytes: number;
  maxContextValueBytes: number;
  /** Where plugin log lines go before `init` gave the plugin a runtime. */
  log: (level: LogLevel, message: string, plugin: string) => void;
}

const MAX_VERSION_BYTES = 257;
const MAX_AUTHOR_BYTES = 1024;
const MAX_DESCRIPTION_BYTES = 64 * 1024;

// ResourceLimits field of each pw_limits member.
const LIMIT_FIELDS: ReadonlyArray<readonly [string, keyof ResourceLimits]> = [
  ['max_heap_bytes', 'maxHeapBytes'],
  ['max_cpu_time_ms', 'maxCpuTimeMs'],
  ['max_file_descriptors', 'maxFileDescriptors'],
  ['max_threads', 'maxThreads'],
  ['max_connections', 'maxConnections'],
  ['max_db_query_ms', 'maxDbQueryMs'],
  ['max_external_api_ms', 'maxExternalApiMs'],
];

type State = 'loaded' | 'initialized' | 'shutdown' | 'unloaded';

interface Unregistrable {
  unregister(): unknown;
}

function isUnregistrable(v: unknown): v is Unregistrable {
  return typeof v === 'object' && v !== null && typeof (v as Unregistrable).unregister === 'function';
}

const encoder = new TextEncoder();

function toNumber(v: number | bigint): number {
  return typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : Number.NaN) : v;
}

/** Validates the struct's header, function pointers and metadata against the signed manifest. */
function readMetadata(ptr: bigint, artifact: VerifiedArtifact): { raw: RawPluginStruct; meta: PluginMeta } {
  const label = artifact.manifest.name;
  const { abiVersion, structSize } = readStructHeader(ptr);
  if (abiVersion !== PLUGWARD_ABI_VERSION) {
    throw new PluginError(
      'AbiIncompatible',
      `native plugin ${label} was built for plugward ABI ${abiVersion}; this loader speaks ABI ${PLUGWARD_ABI_VERSION} (rebuild it against this plugward.h)`,
      { plugin: label, details: { abiVersion, expected: PLUGWARD_ABI_VERSION } },
    );
  }
  const expected = nativeAbi().pluginSize;
  if (structSize < expected) {
    throw new PluginError(
      'AbiIncompatible',
      `native plugin ${label}: pw_plugin.struct_size is ${structSize}, expected at least ${expected}`,
      { plugin: label, details: { structSize, expected } },
    );
  }
  const raw = decodePluginStruct(ptr);
  for (const field of FUNCTION_FIELDS) {
    const fp = raw[field];
    if (fp === null || fp === 0n) {
      throw new PluginError(
        'InvalidPlugin',
        `native plugin ${label}: function pointer pw_plugin.${field} is NULL`,
        {
          plugin: label,
          details: { field },
        },
      );
    }
  }
  const name = readCStringStrict(raw.name, MAX_PLUGIN_NAME_LENGTH + 1, 'pw_plugin.name', label);
  const version = readCStringStrict(raw.version, MAX_VERSION_BYTES, 'pw_plugin.version', label);
  const author = readCStringStrict(raw.author, MAX_AUTHOR_BYTES, 'pw_plugin.author', label);
  const description =
    raw.description === null || raw.description === 0n
      ? undefined
      : readCStringStrict(raw.description, MAX_DESCRIPTION_BYTES, 'pw_plugin.description', label);
  if (name !== artifact.manifest.name || version !== artifact.manifest.version) {
    throw new PluginError(
      'InvalidPlugin',
      `native plugin identifies as ${name}@${version} but its signed manifest says ${artifact.manifest.name}@${artifact.manifest.version}`,
      { plugin: label, details: { name, version } },
    );
  }
  const limits: Record<string, number> = {};
  for (const [cField, tsField] of LIMIT_FIELDS) {
    const v = raw.limits[cField];
    if (v === undefined || v === 0 || v === 0n) continue;
    limits[tsField] = toNumber(v);
  }
  const declaredLimits = validatePartialLimits(limits, `native plugin ${label} limits`);
  const requirements = artifact.manifest.requirements ?? MINIMAL_REQUIREMENTS;
  return {
    raw,
    meta: {
      name,
      version,
      author,
      description: description ?? artifact.manifest.description,
      declaredLimits,
      requirements,
    },
  };
}

/**
 * Loads a verified native plugin: writes the verified bytes to a private copy, dlopen()s it, calls `create_plugin`,
 * checks ABI/struct/metadata, decodes the entry points once and registers the host callbacks.
 */
export async function loadNativePlugin(
  artifact: VerifiedArtifact,
  admission: { trustLevel: TrustLevel; signatureVerified: boolean },
  options: NativeLoadOptions,
): Promise<NativePlugin> {
  const label = artifact.manifest.name;
  const copy = options.inPlace
    ? { file: artifact.artifactPath, remove: async () => undefined }
    : await writePrivateCopy(artifact.bytes, 'plugin.so', options.tmpDir);
  let lib: LibraryHandle;
  try {
    try {
      lib = loadLibrary(copy.file);
    } catch (e) {
      throw new PluginError('LoadError', `cannot load native plugin ${label}: ${(e as Error).message}`, {
        plugin: label,
        cause: e,
      });
    }
  } finally {
    // The mapping survives the unlink; nothing is left on disk for anyone to swap or reuse.
    await copy.remove();
  }
  let destroy: ((self: bigint) => void) | undefined;
  let self: bigint | null = null;
  try {
    let create: () => bigint | null;
    try {
      create = constructorOf(lib, PLUGIN_CONSTRUCTOR_SYMBOL);
    } catch (e) {
      throw new PluginError(
        'SymbolNotFound',
        `native plugin ${label} does not export ${PLUGIN_CONSTRUCTOR_SYMBOL} (build it against plugward.h): ${(e as Error).message}`,
        { plugin: label, cause: e, details: { symbol: PLUGIN_CONSTRUCTOR_SYMBOL } },
      );
    }
    self = create();
    if (self === null || self === 0n) {
      throw new PluginError(
        'InvalidPlugin',
        `native plugin ${label}: ${PLUGIN_CONSTRUCTOR_SYMBOL}() returned NULL`,
        {
          plugin: label,
        },
      );
    }
    const { raw, meta } = readMetadata(self, artifact);
    const fns = decodeFunctions(raw);
    destroy = fns.destroy;
    return new NativePlugin(lib, self, fns, meta, artifact, admission, options);
  } catch (e) {
    // A struct that passed the ABI check and has a destroy pointer gets to release what it allocated.
    if (destroy !== undefined && self !== null) destroy(self);
    lib.unload();
    throw e;
  }
}

/**
 * What a NativePlugin keeps of its loaded library (koffi's `LibraryHandle`): only this, so the package's public
 * declarations don't import koffi's types (a CommonJS consumer type-checking them under node16 would get TS1479).
 */
interface NativeLibrary {
  unload(): void;
}

/** A loaded native plugin (see {@link LoadedPlugin}). Created by the loader only. */
export class NativePlugin extends LoadedPluginFields implements LoadedPlugin {
  readonly kind = 'native' as const;
  readonly mustSandbox = false;

  #state: State = 'loaded';
  #lib: NativeLibrary | undefined;
  #self: bigint;
  #fns: PluginFunctions | undefined;
  #options: NativeLoadOptions;
  #callbacks: bigint[] = [];
  #hostApi = 0n;
  #context: PluginContextApi | undefined;
  #runtime: PluginRuntimeApi | undefined;
  #registrar: HookRegistrar | undefined;
  #registrations: unknown[] = [];
  #pending: Promise<unknown>[] = [];
  #callbackErrors: unknown[] = [];
  #hookNames = new Map<string, Uint8Array>();
  #depth = 0;
  // Reused per top-level call; nested calls (a context subscriber re-entering) allocate their own.
  #err = new Uint8Array(ERROR_BUFFER_BYTES);
  #slots = new BigUint64Array(2);
  #lenSlot = this.#slots.subarray(1);
  #unloading: Promise<void> | undefined;

  /** @internal */
  constructor(
    lib: NativeLibrary,
    self: bigint,
    fns: PluginFunctions,
    meta: PluginMeta,
    artifact: VerifiedArtifact,
    admission: Admission,
    options: NativeLoadOptions,
  ) {
    super(meta, admission, artifact);
    this.#lib = lib;
    this.#self = self;
    this.#fns = fns;
    this.#options = options;
    try {
      const callbacks = hostCallbacks(this.#callbackHost());
      const cbs = {} as Record<HostCallbackKind, bigint>;
      for (const kind of Object.keys(callbacks) as HostCallbackKind[]) {
        const ptr = registerCallback(kind, callbacks[kind]);
        this.#callbacks.push(ptr);
        cbs[kind] = ptr;
      }
      this.#hostApi = allocHostApi(cbs);
    } catch (e) {
      // koffi has 8192 callback slots per process; give back the ones taken before failing.
      for (const cb of this.#callbacks.splice(0)) unregisterCallback(cb);
      throw new PluginError('LoadError', `native plugin ${this.name}: cannot register host callbacks`, {
        plugin: this.name,
        cause: e,
      });
    }
  }

  /** True once `unload` ran. */
  get unloaded(): boolean {
    return this.#state === 'unloaded';
  }

  /** What the host callbacks (native-callbacks.ts) reach of this plugin. */
  #callbackHost(): CallbackHost {
    const plugin = this;
    return {
      name: this.name,
      get registrar() {
        return plugin.#registrar;
      },
      get context() {
        return plugin.#context;
      },
      get runtime() {
        return plugin.#runtime;
      },
      maxContextValueBytes: this.#options.maxContextValueBytes,
      log: (level, message) => this.#options.log(level, message, this.name),
      hookHandler: (name) => {
        let bytes = this.#hookNames.get(name);
        if (bytes === undefined) {
          bytes = encoder.encode(`${name}\0`);
          this.#hookNames.set(name, bytes);
        }
        const nameBytes = bytes;
        return (data) => this.#callHook(name, nameBytes, data);
      },
      track: (value, onValue) => this.#track(value, onValue),
      keepRegistration: (registration) => {
        this.#registrations.push(registration);
      },
      recordError: (error) => {
        this.#callbackErrors.push(error);
      },
    };
  }

  #live(what: string): PluginFunctions {
    if (this.#fns === undefined || this.#state === 'unloaded') {
      throw new PluginError('LoadError', `native plugin ${this.name} is unloaded; cannot ${what}`, {
        plugin: this.name,
      });
    }
    return this.#fns;
  }

  #fail(
    code: PluginErrorCode,
    what: string,
    rc: number,
    err: Uint8Array,
    details: Record<string, unknown> = {},
  ) {
    const message = errorBufferText(err) || 'no message';
    return new PluginError(code, `native plugin ${this.name}: ${what} failed with code ${rc}: ${message}`, {
      plugin: this.name,
      details: { ...details, code: rc, message },
    });
  }

  /** Awaits context writes queued by callbacks during the last native call, and surfaces callback errors. */
  async #settle(): Promise<void> {
    const pending = this.#pending.splice(0);
    const results = await Promise.allSettled(pending);
    const errors = this.#callbackErrors.splice(0);
    for (const r of results) if (r.status === 'rejected') errors.push(r.reason);
    if (errors.length > 0) {
      const first = errors[0];
      if (isPluginError(first)) throw first;
      throw new PluginError(
        'ContextError',
        `native plugin ${this.name}: ${String((first as Error)?.message ?? first)}`,
        {
          plugin: this.name,
          cause: first,
        },
      );
    }
  }

  #track(value: unknown, onValue?: (v: unknown) => void): void {
    if (isThenable(value)) {
      const p = Promise.resolve(value).then(onValue);
      // Marked handled now; #settle() still sees the rejection.
      p.catch(() => undefined);
      this.#pending.push(p);
    } else {
      onValue?.(value);
    }
  }

  async init(context: PluginContextApi, runtime: PluginRuntimeApi): Promise<void> {
    const fns = this.#live('init');
    if (this.#state !== 'loaded') {
      throw new PluginError('InitializationError', `native plugin ${this.name} is already initialised`, {
        plugin: this.name,
      });
    }
    this.#context = context;
    this.#runtime = runtime;
    const err = this.#err;
    err[0] = 0;
    const rc = fns.init(this.#self, this.#hostApi, err, err.length);
    if (rc !== PwStatus.Ok) {
      const e = this.#fail('InitializationError', 'init', rc, err);
      await this.#settle().catch(() => undefined);
      throw e;
    }
    this.#state = 'initialized';
    await this.#settle();
  }

  async registerHooks(hooks: HookRegistrar): Promise<void> {
    const fns = this.#live('register hooks');
    if (this.#state !== 'initialized') {
      throw new PluginError('InitializationError', `native plugin ${this.name}: registerHooks before init`, {
        plugin: this.name,
      });
    }
    const err = this.#err;
    err[0] = 0;
    this.#registrar = hooks;
    let rc: number;
    try {
      rc = fns.register_hooks(this.#self, this.#hostApi, err, err.length);
    } finally {
      this.#registrar = undefined;
    }
    if (rc !== PwStatus.Ok) {
      const e = this.#fail('InitializationError', 'register_hooks', rc, err);
      await this.#settle().catch(() => undefined);
      throw e;
    }
    await this.#settle();
  }

  async shutdown(): Promise<void> {
    if (this.#state !== 'initialized') return;
    const fns = this.#live('shut down');
    const err = this.#err;
    err[0] = 0;
    const rc = fns.shutdown(this.#self, err, err.length);
    this.#state = 'shutdown';
    if (rc !== PwStatus.Ok) {
      const e = this.#fail('LoadError', 'shutdown', rc, err);
      await this.#settle().catch(() => undefined);
      throw e;
    }
    await this.#settle();
  }

  unload(): Promise<void> {
    this.#unloading ??= this.#unload();
    return this.#unloading;
  }

  async #unload(): Promise<void> {
    // Order matters: after lib.unload() any call into the library crashes the process, so first make every path to
    // it unreachable: handlers refuse (state), registrations are removed, destroy runs, callbacks are released.
    // The awaits below also guarantee that an unload() requested from inside a host callback (native frames still
    // on the stack) only reaches destroy/dlclose after that native call has returned: microtasks can't run earlier.
    this.#state = 'unloaded';
    const registrations = this.#registrations.splice(0);
    const errors: unknown[] = [];
    for (const reg of registrations) {
      try {
        if (isUnregistrable(reg)) await reg.unregister();
      } catch (e) {
        errors.push(e);
      }
    }
    this.#hookNames.clear();
    await Promise.allSettled(this.#pending.splice(0));
    const fns = this.#fns;
    this.#fns = undefined;
    if (fns !== undefined) fns.destroy(this.#self);
    for (const cb of this.#callbacks.splice(0)) unregisterCallback(cb);
    freeHostApi(this.#hostApi);
    this.#hostApi = 0n;
    this.#context = undefined;
    this.#runtime = undefined;
    this.#lib?.unload();
    this.#lib = undefined;
    if (errors.length > 0) {
      throw new PluginError('LoadError', `native plugin ${this.name}: removing its hooks failed`, {
        plugin: this.name,
        cause: errors[0],
      });
    }
  }

  #callHook(hookName: string, nameBytes: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array> {
    const fns = this.#fns;
    if (fns === undefined || this.#state !== 'initialized') {
      throw new PluginError(
        'HookError',
        `native plugin ${this.name} is ${this.#state === 'unloaded' ? 'unloaded' : 'not running'}; hook ${hookName} not called`,
        { plugin: this.name, details: { hook: hookName } },
      );
    }
    if (!(data instanceof Uint8Array)) {
      throw new PluginError('InvalidArgument', `hook ${hookName}: payload must be a Uint8Array`, {
        plugin: this.name,
      });
    }
    const nested = this.#depth > 0;
    const slots = nested ? new BigUint64Array(2) : this.#slots;
    const lenSlot = nested ? slots.subarray(1) : this.#lenSlot;
    const err = nested ? new Uint8Array(ERROR_BUFFER_BYTES) : this.#err;
    slots[0] = 0n;
    slots[1] = 0n;
    err[0] = 0;
    this.#depth++;
    let rc: number;
    try {
      rc = fns.call_hook(this.#self, nameBytes, data, data.length, slots, lenSlot, err, err.length);
    } finally {
      this.#depth--;
    }
    if (rc !== PwStatus.Ok) {
      throw this.#fail('HookError', `hook "${hookName}"`, rc, err, { hook: hookName });
    }
    const ptr = slots[0]!;
    const len = slots[1]!;
    let result: Uint8Array;
    if (ptr === 0n) {
      if (len !== 0n) {
        throw new PluginError(
          'HookError',
          `native plugin ${this.name}: hook "${hookName}" returned NULL with length ${len}`,
          {
            plugin: this.name,
            details: { hook: hookName },
          },
        );
      }
      result = new Uint8Array(0);
    } else if (len > BigInt(this.#options.maxHookOutputBytes)) {
      fns.free_buffer(this.#self, ptr, Number(len));
      throw new PluginError(
        'HookError',
        `native plugin ${this.name}: hook "${hookName}" returned ${len} bytes, more than the ${this.#options.maxHookOutputBytes}-byte limit`,
        { plugin: this.name, details: { hook: hookName, bytes: Number(len) } },
      );
    } else {
      // koffi views don't copy: copy before the plugin frees its buffer.
      result = copyFromNative(ptr, Number(len));
      fns.free_buffer(this.#self, ptr, Number(len));
    }
    if (this.#pending.length > 0 || this.#callbackErrors.length > 0) return this.#settle().then(() => result);
    return result;
  }
}
