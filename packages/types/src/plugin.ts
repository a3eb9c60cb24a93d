import { MAX_PLUGIN_NAME_LENGTH, PLUGIN_NAME_PATTERN } from './constants.js';
import { PluginError } from './errors.js';
import type { FetchRequest, FetchResponse } from './ipc.js';
import { RESOURCE_LIMIT_FIELDS, type ResourceLimits } from './limits.js';
import type { PluginRequirements } from './requirements.js';
import type { IsolationTier } from './status.js';
import { PluginVersion } from './version.js';

/** A value or a promise of it: plugin-facing APIs are awaitable so one plugin runs in and out of process. */
export type Awaitable<T> = T | Promise<T>;

/** Information passed to a hook handler alongside the payload. */
export interface HookCallInfo {
  /** The hook being executed. */
  hookName: string;
  /** Aborted when the execution is cancelled or the handler's time budget is spent. */
  signal?: AbortSignal;
  /**
   * The same object for every handler one execution of the hook calls, and a new one per execution: lets an owner of
   * several handlers charge them to one per-call budget. Set for handlers with a time budget.
   */
  execution?: object;
  /**
   * Calls `listener` once, with the reason and this object, when `signal` would abort — without making the signal (an
   * AbortSignal and its listener cost more than a fast call). Returns false when it can't (another listener is set, it
   * already fired, or the call's signal follows the execution's): read `signal` then. A forwarder that must stop work
   * of its own at the handler's deadline (an IPC request) uses it, so the hook registry's deadline is the only one.
   */
  onAbort?(listener: HookAbortListener): boolean;
}

/** What {@link HookCallInfo.onAbort} calls: the abort reason, and the `HookCallInfo` it was registered on. */
export type HookAbortListener = (reason: unknown, info: HookCallInfo) => void;

/**
 * A hook handler: bytes in, bytes out. It may be sync (fast path) or async. Returning the input unchanged is fine.
 */
export type HookHandler = (data: Uint8Array, info: HookCallInfo) => Awaitable<Uint8Array>;

/** The part of the hook registry a plugin sees in `registerHooks`. */
export interface HookRegistrar {
  /** Registers `handler` on `name`; lower `priority` runs first (see HookPriority). */
  register(name: string, priority: number, handler: HookHandler): Awaitable<unknown>;
}

/**
 * A plugin's hooks: hook name → the payload type its handler decodes (with a codec such as `jsonCodec` from
 * @plugward/hooks). Give it to {@link definePlugin} so a misspelt hook name fails to compile.
 */
export type HookMap = Record<string, unknown>;

/**
 * The registrar `registerHooks` receives, with names checked against the plugin's {@link HookMap} at compile time (at
 * run time it is the host's `HookRegistrar`).
 */
export interface PluginHookRegistrar<H extends object = HookMap> {
  /** Registers `handler` on `name` (a key of the hook map); lower `priority` runs first (see HookPriority). */
  register<K extends keyof H & string>(name: K, priority: number, handler: HookHandler): Awaitable<unknown>;
}

/**
 * The five context keys the Rust API reference predefines. Any string is a key ({@link ContextKey}); these names are
 * listed so editors offer them.
 */
export type PredefinedContextKey =
  | 'DatabaseConnection'
  | 'Configuration'
  | 'Logger'
  | 'HttpClient'
  | 'CacheManager';

/** A context key: predefined or any custom string. */
export type ContextKey = PredefinedContextKey | (string & {});

/** A context key that carries its value type, made with {@link createContextKey}. */
export interface TypedContextKey<T> {
  readonly name: string;
  /** Checks a stored value; a failing check makes `get` throw `ContextError` instead of returning a wrong type. */
  readonly validate?: (value: unknown) => value is T;
  /** Phantom field for type inference; never set. */
  readonly __type?: T;
}

/** A string key or a typed key. */
export type AnyContextKey<T = unknown> = ContextKey | TypedContextKey<T>;

/** Creates a typed context key: `const Config = createContextKey<AppConfig>('Configuration', isAppConfig)`. */
export function createContextKey<T>(
  name: string,
  validate?: (value: unknown) => value is T,
): TypedContextKey<T> {
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) {
    throw new PluginError(
      'InvalidArgument',
      'context key name must be a non-empty string of at most 256 characters',
    );
  }
  return Object.freeze(validate === undefined ? { name } : { name, validate });
}

/** The name of a string or typed key. */
export function contextKeyName(key: AnyContextKey): string {
  return typeof key === 'string' ? key : key.name;
}

/**
 * The context a plugin sees in `init`. In process it is a permission-checked view of the host's PluginContext; out of
 * process it is a proxy over IPC. Always `await` its results.
 */
export interface PluginContextApi {
  get<T>(key: AnyContextKey<T>): Awaitable<T>;
  set<T>(key: AnyContextKey<T>, value: T): Awaitable<void>;
  remove(key: AnyContextKey): Awaitable<boolean>;
  has(key: AnyContextKey): Awaitable<boolean>;
  keys(): Awaitable<string[]>;
}

/** Log levels, as in the C ABI (`PW_LOG_*`). */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Host services passed to `init` next to the context. */
export interface PluginRuntimeApi {
  /** The tier the plugin runs at. */
  readonly tier: IsolationTier;
  /** Logs through the host (the only output channel of a sandboxed plugin). */
  log(level: LogLevel, message: string): void;
  /**
   * Brokered HTTP for plugins whose signed manifest asks for `restricted` network: the host performs the request after
   * checking the allow-list against the resolved address. Absent at tiers/modes where it is not granted.
   */
  fetch?(request: FetchRequest): Promise<FetchResponse>;
}

/**
 * What a plugin author writes: the counterpart of the Rust API reference's `make_plugin!`. `H` names the plugin's hooks
 * (see {@link HookMap}); without it any hook name is accepted.
 */
export interface PluginDefinition<H extends object = HookMap> {
  /** Unique name, see PLUGIN_NAME_PATTERN. */
  name: string;
  /** Strict semver. */
  version: string;
  author: string;
  /** Markdown. */
  description?: string;
  /** Limits the plugin asks for; the host caps them. */
  resourceLimits?(): Partial<ResourceLimits> | undefined;
  /** Network, filesystem and context access it needs; minimal when absent. */
  requirements?(): PluginRequirements;
  init(context: PluginContextApi, runtime: PluginRuntimeApi): Awaitable<void>;
  shutdown?(): Awaitable<void>;
  registerHooks(hooks: PluginHookRegistrar<H>): Awaitable<void>;
}

/** A validated plugin (what {@link definePlugin} returns). */
export interface Plugin extends Readonly<Omit<PluginDefinition, 'shutdown'>> {
  shutdown(): Awaitable<void>;
  /** Marks the object as made by definePlugin. */
  readonly __plugward: 1;
}

/** Checks a plugin name. @throws PluginError `InvalidPlugin`. */
export function validatePluginName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PluginError('InvalidPlugin', 'plugin name must be a non-empty string');
  }
  if (name.length > MAX_PLUGIN_NAME_LENGTH || !PLUGIN_NAME_PATTERN.test(name)) {
    throw new PluginError(
      'InvalidPlugin',
      `invalid plugin name ${JSON.stringify(name.slice(0, 64))}: use lowercase letters, digits, ".", "-", "_" (max ${MAX_PLUGIN_NAME_LENGTH})`,
    );
  }
}

function checkFunction(def: Record<string, unknown>, field: string, required: boolean, name: string): void {
  const v = def[field];
  if (v === undefined && !required) return;
  if (typeof v !== 'function') {
    throw new PluginError('InvalidPlugin', `plugin ${name}: "${field}" must be a function, got ${typeof v}`, {
      plugin: name,
      details: { field },
    });
  }
}

/**
 * Validates a plugin definition at definition time and returns the plugin. A JS plugin file's default export.
 * With a hook map (`definePlugin<{ on_request: string }>(…)`), registering a hook not in the map fails to compile.
 *
 * @example
 * ```ts
 * export default definePlugin<{ on_request: Uint8Array }>({
 *   name: 'hello', version: '1.0.0', author: 'me',
 *   init() {},
 *   registerHooks(hooks) { hooks.register('on_request', 200, (data) => data); },
 * });
 * ```
 * @throws PluginError `InvalidPlugin` (bad name, missing/non-function members) or `InvalidVersion` (bad semver).
 */
export function definePlugin<H extends object = HookMap>(def: PluginDefinition<H>): Plugin {
  if (def === null || typeof def !== 'object') {
    throw new PluginError('InvalidPlugin', 'definePlugin expects an object');
  }
  const raw = def as unknown as Record<string, unknown>;
  validatePluginName(raw.name);
  const name = raw.name;
  try {
    PluginVersion.parse(raw.version as string);
  } catch (e) {
    throw new PluginError('InvalidVersion', `plugin ${name}: ${(e as Error).message}`, {
      plugin: name,
      cause: e,
    });
  }
  if (typeof raw.author !== 'string') {
    throw new PluginError('InvalidPlugin', `plugin ${name}: "author" must be a string`, { plugin: name });
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    throw new PluginError('InvalidPlugin', `plugin ${name}: "description" must be a string`, {
      plugin: name,
    });
  }
  checkFunction(raw, 'init', true, name);
  checkFunction(raw, 'registerHooks', true, name);
  checkFunction(raw, 'shutdown', false, name);
  checkFunction(raw, 'resourceLimits', false, name);
  checkFunction(raw, 'requirements', false, name);
  const shutdown = def.shutdown === undefined ? () => undefined : def.shutdown.bind(def);
  return Object.freeze({ ...def, shutdown, __plugward: 1 as const });
}

/** True when `value` looks like a plugin made by {@link definePlugin} (or an equivalent object). */
export function isPlugin(value: unknown): value is Plugin {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.name === 'string' && typeof v.init === 'function' && typeof v.registerHooks === 'function';
}

/**
 * Validates partial limits declared by a plugin or a manifest: known fields only, positive safe integers.
 * @throws PluginError `InvalidResourceLimits` naming the field.
 */
export function validatePartialLimits(value: unknown, what = 'resource limits'): Partial<ResourceLimits> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new PluginError('InvalidResourceLimits', `${what} must be an object`);
  }
  const out: Partial<ResourceLimits> = {};
  const known = new Set<string>(RESOURCE_LIMIT_FIELDS);
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) {
      throw new PluginError('InvalidResourceLimits', `${what}: unknown field "${k}"`, {
        details: { field: k },
      });
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw new PluginError(
        'InvalidResourceLimits',
        `${what}: "${k}" must be a positive integer, got ${String(v)}`,
        {
          details: { field: k, value: v },
        },
      );
    }
    out[k as keyof ResourceLimits] = v;
  }
  return out;
}
