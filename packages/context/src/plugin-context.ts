import { type AnyContextKey, PluginError, validatePluginName } from '@plugward/types';
import { ANY_KEY, type ContextChange, type ContextListener } from './context-change.js';
import { checkedKeyName } from './context-key.js';
import { type ContextPermissions, PluginContextView } from './context-view.js';
import { chargedBytes } from './value-size.js';

/** A bound on what plugins may store: entries they own and the bytes those hold. */
export interface ContextQuota {
  /** Most entries. */
  maxEntries: number;
  /** Most bytes (as {@link PluginContext.usageOf} counts them). */
  maxBytes: number;
}

/** What a plugin (or all plugins together) holds in the context. */
export interface ContextUsage {
  entries: number;
  bytes: number;
}

/** Options of a {@link PluginContext}. */
export interface PluginContextOptions {
  /**
   * Most keys the context holds. A host `set` of a new key beyond it fails with `ContextError`; plugins can never
   * take the host's share, because together they are held to {@link PluginContextOptions.pluginBudget}, which is
   * below this cap. Default 10 000.
   */
  maxEntries?: number;
  /**
   * Default quota of each plugin (entries it owns and their bytes); `forPlugin` may give one plugin another. Default
   * {@link DEFAULT_PLUGIN_CONTEXT_QUOTA}.
   */
  pluginQuota?: Partial<ContextQuota>;
  /**
   * What all plugins together may hold: a safety net under the global cap so that the host always keeps
   * `maxEntries − pluginBudget.maxEntries` keys for itself. Default: half of `maxEntries` and 256 MiB.
   */
  pluginBudget?: Partial<ContextQuota>;
}

/** Default {@link PluginContextOptions.maxEntries}. */
export const DEFAULT_MAX_CONTEXT_ENTRIES = 10_000;

/** Default per-plugin quota: 256 entries, 4 MiB. */
export const DEFAULT_PLUGIN_CONTEXT_QUOTA: Readonly<ContextQuota> = Object.freeze({
  maxEntries: 256,
  maxBytes: 4 * 1024 * 1024,
});

/** Default bytes of {@link PluginContextOptions.pluginBudget}: 256 MiB. */
export const DEFAULT_PLUGIN_CONTEXT_BUDGET_BYTES = 256 * 1024 * 1024;

interface Owned {
  owner: string;
  bytes: number;
}

function quotaOf(
  given: Partial<ContextQuota> | undefined,
  fallback: Readonly<ContextQuota>,
  what: string,
): ContextQuota {
  const out = { ...fallback, ...given };
  for (const field of ['maxEntries', 'maxBytes'] as const) {
    const v = out[field];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new PluginError(
        'InvalidArgument',
        `${what}.${field} must be a non-negative integer, got ${String(v)}`,
      );
    }
  }
  return out;
}

function validatorOf<T>(key: AnyContextKey<T>): ((value: unknown) => value is T) | undefined {
  return typeof key === 'string' ? undefined : key.validate;
}

/**
 * The host's shared key/value store. Keys are predefined (`Configuration`, `Logger`, …),
 * custom strings, or typed keys from `createContextKey<T>(name, validate?)` so `get` needs no cast. A missing key or a
 * value that fails the typed key's check is a `ContextError`, never a silent `undefined`.
 *
 * Plugins get permission-checked views from {@link PluginContext.forPlugin}. No Node imports.
 *
 * @example
 * ```ts
 * const Config = createContextKey<{ port: number }>('Configuration', isConfig);
 * const ctx = new PluginContext();
 * ctx.set(Config, { port: 8080 });
 * ctx.get(Config).port; // typed
 * ```
 */
export class PluginContext {
  readonly #values = new Map<string, unknown>();
  readonly #listeners = new Map<string, readonly ContextListener[]>();
  readonly #maxEntries: number;
  readonly #pluginQuota: ContextQuota;
  readonly #pluginBudget: ContextQuota;
  /** Owner and charge of every entry a plugin wrote last; an entry absent here belongs to the host. */
  readonly #owned = new Map<string, Owned>();
  readonly #usage = new Map<string, ContextUsage>();
  readonly #total: ContextUsage = { entries: 0, bytes: 0 };
  /** Each plugin's quota and live views; dropped by `releasePlugin`. */
  readonly #plugins = new Map<string, { quota: ContextQuota; views: Set<PluginContextView> }>();

  constructor(options: PluginContextOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_MAX_CONTEXT_ENTRIES;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new PluginError('InvalidArgument', `maxEntries must be a positive integer, got ${String(max)}`);
    }
    this.#maxEntries = max;
    this.#pluginQuota = quotaOf(options.pluginQuota, DEFAULT_PLUGIN_CONTEXT_QUOTA, 'pluginQuota');
    this.#pluginBudget = quotaOf(
      options.pluginBudget,
      { maxEntries: Math.floor(max / 2), maxBytes: DEFAULT_PLUGIN_CONTEXT_BUDGET_BYTES },
      'pluginBudget',
    );
    if (this.#pluginBudget.maxEntries >= max) {
      throw new PluginError(
        'InvalidArgument',
        `pluginBudget.maxEntries (${this.#pluginBudget.maxEntries}) must be below maxEntries (${max}): the rest is the host's`,
      );
    }
  }

  /**
   * Stores `value` under `key` and notifies subscribers. A typed key's validator checks the value first.
   * @throws PluginError `ContextError` (undefined value, failed validation, store full), `InvalidArgument` (bad key).
   */
  set<T>(key: AnyContextKey<T>, value: T): void {
    this.write(key, value, undefined);
  }

  /** @internal `set` on behalf of `writer` (a plugin view). */
  write<T>(key: AnyContextKey<T>, value: T, writer: string | undefined): void {
    const name = checkedKeyName(key);
    if (name === ANY_KEY) {
      throw new PluginError(
        'InvalidArgument',
        `"${ANY_KEY}" is reserved (it means every key) and can't be set`,
      );
    }
    if (value === undefined) {
      throw new PluginError('ContextError', `context key "${name}": undefined is not a value (use remove)`, {
        plugin: writer,
        details: { key: name },
      });
    }
    const validate = validatorOf(key);
    if (validate !== undefined && !validate(value)) {
      throw new PluginError('ContextError', `context key "${name}": value failed validation`, {
        plugin: writer,
        details: { key: name },
      });
    }
    const replaced = this.#values.has(name);
    const charge = writer === undefined ? undefined : this.#charge(name, value, writer);
    if (!replaced && this.#values.size >= this.#maxEntries) {
      throw new PluginError(
        'ContextError',
        `context is full (${this.#maxEntries} keys); "${name}" not stored`,
        {
          plugin: writer,
          details: { key: name, maxEntries: this.#maxEntries },
        },
      );
    }
    const previous = this.#values.get(name);
    this.#values.set(name, value);
    this.#uncharge(name);
    if (writer !== undefined && charge !== undefined) this.#book(name, writer, charge, 1);
    this.#emit({ type: 'set', key: name, value, replaced, previous, writer });
  }

  /**
   * What `writer` would pay for storing `value` under `name`, checked against its quota and the plugins' budget (an
   * entry it replaces is credited back first). @throws PluginError `QuotaExceeded`.
   */
  #charge(name: string, value: unknown, writer: string): number {
    const quota = this.#plugins.get(writer)?.quota ?? this.#pluginQuota;
    const mine = this.#usage.get(writer) ?? { entries: 0, bytes: 0 };
    const before = this.#owned.get(name);
    const creditOwn = before?.owner === writer ? before.bytes : 0;
    const creditAny = before?.bytes ?? 0;
    let bytes: number;
    try {
      bytes = chargedBytes(name.length, value, quota.maxBytes - mine.bytes + creditOwn);
    } catch {
      bytes = Number.POSITIVE_INFINITY; // a value whose walk throws (a hostile getter, a revoked proxy) is not stored
    }
    const entries = mine.entries + (before?.owner === writer ? 0 : 1);
    const over = (resource: string, used: number, limit: number, scope: 'plugin' | 'all plugins'): never => {
      throw new PluginError(
        'QuotaExceeded',
        `context ${resource} quota of ${scope === 'plugin' ? `plugin "${writer}"` : 'all plugins'} exceeded: ${resource === 'bytes' ? `${used} > ${limit} bytes` : `${used} > ${limit} entries`}; "${name}" not stored`,
        { plugin: writer, details: { key: name, resource: `context-${resource}`, used, limit, scope } },
      );
    };
    if (entries > quota.maxEntries) over('entries', entries, quota.maxEntries, 'plugin');
    const myBytes = mine.bytes - creditOwn + bytes;
    if (myBytes > quota.maxBytes) over('bytes', myBytes, quota.maxBytes, 'plugin');
    const allEntries = this.#total.entries + (before === undefined ? 1 : 0);
    if (allEntries > this.#pluginBudget.maxEntries)
      over('entries', allEntries, this.#pluginBudget.maxEntries, 'all plugins');
    const allBytes = this.#total.bytes - creditAny + bytes;
    if (allBytes > this.#pluginBudget.maxBytes)
      over('bytes', allBytes, this.#pluginBudget.maxBytes, 'all plugins');
    return bytes;
  }

  #book(name: string, owner: string, bytes: number, sign: 1 | -1): void {
    const u = this.#usage.get(owner) ?? { entries: 0, bytes: 0 };
    u.entries += sign;
    u.bytes += sign * bytes;
    this.#total.entries += sign;
    this.#total.bytes += sign * bytes;
    if (u.entries === 0) this.#usage.delete(owner);
    else this.#usage.set(owner, u);
    if (sign === 1) this.#owned.set(name, { owner, bytes });
    else this.#owned.delete(name);
  }

  /** Credits back the plugin that owned `name`'s value (the value is gone or now someone else's). */
  #uncharge(name: string): void {
    const before = this.#owned.get(name);
    if (before !== undefined) this.#book(name, before.owner, before.bytes, -1);
  }

  /**
   * The value under `key`, typed by the key.
   * @throws PluginError `ContextError` when the key is missing or its value fails the typed key's validator.
   */
  get<T>(key: AnyContextKey<T>): T {
    const name = checkedKeyName(key);
    if (!this.#values.has(name)) {
      throw new PluginError('ContextError', `context key "${name}" is not set`, { details: { key: name } });
    }
    return this.#checked(key, name, this.#values.get(name));
  }

  /** Like `get`, but `undefined` when the key is missing (a present value is still validated). */
  find<T>(key: AnyContextKey<T>): T | undefined {
    const name = checkedKeyName(key);
    if (!this.#values.has(name)) return undefined;
    return this.#checked(key, name, this.#values.get(name));
  }

  #checked<T>(key: AnyContextKey<T>, name: string, value: unknown): T {
    const validate = validatorOf(key);
    if (validate !== undefined && !validate(value)) {
      throw new PluginError('ContextError', `context key "${name}" holds a value of the wrong type`, {
        details: { key: name },
      });
    }
    // An untyped key carries no check: the caller's T is its claim, as with any string-keyed store.
    return value as T;
  }

  /** Removes `key`; true when it was there. */
  remove(key: AnyContextKey): boolean {
    return this.delete(key, undefined);
  }

  /** @internal `remove` on behalf of `writer`. */
  delete(key: AnyContextKey, writer: string | undefined): boolean {
    const name = checkedKeyName(key);
    if (!this.#values.has(name)) return false;
    const previous = this.#values.get(name);
    this.#values.delete(name);
    this.#uncharge(name);
    this.#emit({ type: 'remove', key: name, previous, writer });
    return true;
  }

  /** Whether `key` is set. */
  has(key: AnyContextKey): boolean {
    return this.#values.has(checkedKeyName(key));
  }

  /** Names of the keys set, in insertion order. */
  keys(): string[] {
    return [...this.#values.keys()];
  }

  /** Number of keys set. */
  get size(): number {
    return this.#values.size;
  }

  /**
   * Calls `listener` after each change of `key` (or of any key with `'*'`). Listeners run synchronously, after the
   * change is applied. Returns the unsubscribe function.
   */
  subscribe(key: AnyContextKey | typeof ANY_KEY, listener: ContextListener): () => void {
    const name = checkedKeyName(key);
    if (typeof listener !== 'function') {
      throw new PluginError('InvalidArgument', 'context listener must be a function');
    }
    // Arrays are replaced, never mutated, so a notification in progress keeps its snapshot.
    this.#listeners.set(name, [...(this.#listeners.get(name) ?? []), listener]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const rest = (this.#listeners.get(name) ?? []).filter((l) => l !== listener);
      if (rest.length === 0) this.#listeners.delete(name);
      else this.#listeners.set(name, rest);
    };
  }

  #emit(change: ContextChange): void {
    const frozen = Object.freeze(change);
    for (const name of [change.key, ANY_KEY]) {
      const list = this.#listeners.get(name);
      if (list === undefined) continue;
      for (const listener of list) {
        try {
          listener(frozen);
        } catch {
          // The write already happened; a subscriber's bug must not make it look failed.
        }
      }
    }
  }

  /**
   * A view for plugin `name` that allows reading only `read` keys and writing only `write` keys (`'*'` allows all).
   * Other keys fail with `PermissionDenied` naming the plugin and key. Writes are reported to subscribers with
   * `writer: name`.
   */
  forPlugin(name: string, permissions: ContextPermissions, quota?: Partial<ContextQuota>): PluginContextView {
    validatePluginName(name);
    const view = new PluginContextView(this, name, permissions);
    const q = quotaOf(quota, this.#pluginQuota, 'quota');
    const known = this.#plugins.get(name);
    if (known === undefined) this.#plugins.set(name, { quota: q, views: new Set([view]) });
    else {
      known.views.add(view);
      if (quota !== undefined) known.quota = q;
    }
    return view;
  }

  /** What plugin `name` holds now: the entries whose current value it wrote, and their charged bytes. */
  usageOf(name: string): ContextUsage {
    const u = this.#usage.get(name);
    return { entries: u?.entries ?? 0, bytes: u?.bytes ?? 0 };
  }

  /** What all plugins together hold now. */
  get pluginUsage(): ContextUsage {
    return { ...this.#total };
  }

  /**
   * Releases everything plugin `name` holds — call it when the plugin is unloaded or crashed (the registry does):
   * removes every entry whose current value the plugin wrote (subscribers see a `remove` with `writer: name`) —
   * including a key the host created and the plugin overwrote, since the value left is the plugin's — drops the
   * subscriptions made through its views, and revokes those views (a late call through one fails with
   * `PermissionDenied`). A later `forPlugin(name, …)` starts afresh. Returns the number of entries removed.
   */
  releasePlugin(name: string): number {
    const known = this.#plugins.get(name);
    this.#plugins.delete(name);
    for (const view of known?.views ?? []) view.revoke();
    let removed = 0;
    for (const [key, o] of [...this.#owned]) {
      if (o.owner === name && this.delete(key, name)) removed++;
    }
    return removed;
  }
}
