import { type AnyContextKey, type PluginContextApi, PluginError } from '@plugward/types';
import { ANY_KEY, type ContextListener } from './context-change.js';
import { checkedKeyName } from './context-key.js';
import type { PluginContext } from './plugin-context.js';

/** Keys a plugin may read and write. `'*'` in a list allows every key. */
export interface ContextPermissions {
  read: readonly string[];
  write: readonly string[];
}

function toSet(list: unknown, what: string): ReadonlySet<string> | 'all' {
  if (!Array.isArray(list)) {
    throw new PluginError('InvalidArgument', `context permissions: "${what}" must be an array of key names`);
  }
  const out = new Set<string>();
  for (const k of list) {
    if (k === ANY_KEY) return 'all';
    out.add(checkedKeyName(k));
  }
  return out;
}

/**
 * A plugin's permission-checked view of a {@link PluginContext}; what `forPlugin` returns and plugins receive in
 * `init`. Implements `PluginContextApi`.
 */
export class PluginContextView implements PluginContextApi {
  readonly #readable: ReadonlySet<string> | 'all';
  readonly #writable: ReadonlySet<string> | 'all';
  #revoked = false;
  readonly #unsubscribes = new Set<() => void>();
  readonly #context: PluginContext;

  /** @internal use `PluginContext.forPlugin`. */
  constructor(
    context: PluginContext,
    /** The plugin this view belongs to. */
    readonly plugin: string,
    permissions: ContextPermissions,
  ) {
    this.#context = context;
    if (permissions === null || typeof permissions !== 'object') {
      throw new PluginError('InvalidArgument', 'context permissions must be an object { read, write }');
    }
    this.#readable = toSet(permissions.read, 'read');
    this.#writable = toSet(permissions.write, 'write');
  }

  /** Whether this plugin may read `key`. */
  canRead(key: AnyContextKey): boolean {
    return this.#readable === 'all' || this.#readable.has(checkedKeyName(key));
  }

  /** Whether this plugin may write (set or remove) `key`. */
  canWrite(key: AnyContextKey): boolean {
    return this.#writable === 'all' || this.#writable.has(checkedKeyName(key));
  }

  /** @internal `PluginContext.releasePlugin`: ends this view's subscriptions; later calls are refused. */
  revoke(): void {
    this.#revoked = true;
    for (const u of this.#unsubscribes) u();
    this.#unsubscribes.clear();
  }

  #alive(): void {
    if (this.#revoked) {
      throw new PluginError(
        'PermissionDenied',
        `plugin "${this.plugin}" was released: its context view is closed`,
        {
          plugin: this.plugin,
        },
      );
    }
  }

  #deny(key: AnyContextKey, access: 'read' | 'write'): never {
    const name = checkedKeyName(key);
    throw new PluginError(
      'PermissionDenied',
      `plugin "${this.plugin}" may not ${access} context key "${name}" (not in its declared ${access} keys)`,
      { plugin: this.plugin, details: { key: name, access } },
    );
  }

  /** @throws PluginError `PermissionDenied`, or `ContextError` (missing key, failed validation). */
  get<T>(key: AnyContextKey<T>): T {
    this.#alive();
    if (!this.canRead(key)) this.#deny(key, 'read');
    try {
      return this.#context.get(key);
    } catch (e) {
      throw this.#attribute(e);
    }
  }

  /**
   * @throws PluginError `PermissionDenied`, `QuotaExceeded` (this plugin's quota or all plugins' budget), or
   *   `ContextError` (undefined value, failed validation, store full).
   */
  set<T>(key: AnyContextKey<T>, value: T): void {
    this.#alive();
    if (!this.canWrite(key)) this.#deny(key, 'write');
    this.#context.write(key, value, this.plugin);
  }

  /** @throws PluginError `PermissionDenied`. */
  remove(key: AnyContextKey): boolean {
    this.#alive();
    if (!this.canWrite(key)) this.#deny(key, 'write');
    return this.#context.delete(key, this.plugin);
  }

  /** @throws PluginError `PermissionDenied`. */
  has(key: AnyContextKey): boolean {
    this.#alive();
    if (!this.canRead(key)) this.#deny(key, 'read');
    return this.#context.has(key);
  }

  /** The set keys this plugin may read (others stay invisible). */
  keys(): string[] {
    this.#alive();
    const all = this.#context.keys();
    const readable = this.#readable;
    return readable === 'all' ? all : all.filter((k) => readable.has(k));
  }

  /** Subscribes to changes of a readable key. @throws PluginError `PermissionDenied`. */
  subscribe(key: AnyContextKey, listener: ContextListener): () => void {
    this.#alive();
    if (!this.canRead(key)) this.#deny(key, 'read');
    const off = this.#context.subscribe(key, listener);
    const unsubscribe = (): void => {
      this.#unsubscribes.delete(unsubscribe);
      off();
    };
    this.#unsubscribes.add(unsubscribe);
    return unsubscribe;
  }

  #attribute(e: unknown): unknown {
    if (e instanceof PluginError && e.plugin === undefined) {
      return new PluginError(e.code, e.message, { plugin: this.plugin, cause: e.cause, details: e.details });
    }
    return e;
  }
}
