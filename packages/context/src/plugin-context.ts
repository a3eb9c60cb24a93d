import { type AnyContextKey, PluginError, validatePluginName } from '@plugward/types';
import { ANY_KEY, type ContextChange, type ContextListener } from './context-change.js';
import { checkedKeyName } from './context-key.js';
import { type ContextPermissions, PluginContextView } from './context-view.js';

/** Options of a {@link PluginContext}. */
export interface PluginContextOptions {
  /** Most keys the context holds; a `set` of a new key beyond it fails with `ContextError`. Default 10 000. */
  maxEntries?: number;
}

/** Default {@link PluginContextOptions.maxEntries}. */
export const DEFAULT_MAX_CONTEXT_ENTRIES = 10_000;

function validatorOf<T>(key: AnyContextKey<T>): ((value: unknown) => value is T) | undefined {
  return typeof key === 'string' ? undefined : key.validate;
}

/**
 * The host's shared key/value store (the seed's `PluginContext`). Keys are predefined (`Configuration`, `Logger`, …),
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
  private readonly values = new Map<string, unknown>();
  private readonly listeners = new Map<string, readonly ContextListener[]>();
  private readonly maxEntries: number;

  constructor(options: PluginContextOptions = {}) {
    const max = options.maxEntries ?? DEFAULT_MAX_CONTEXT_ENTRIES;
    if (!Number.isSafeInteger(max) || max <= 0) {
      throw new PluginError('InvalidArgument', `maxEntries must be a positive integer, got ${String(max)}`);
    }
    this.maxEntries = max;
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
        ...(writer === undefined ? {} : { plugin: writer }),
        details: { key: name },
      });
    }
    const validate = validatorOf(key);
    if (validate !== undefined && !validate(value)) {
      throw new PluginError('ContextError', `context key "${name}": value failed validation`, {
        ...(writer === undefined ? {} : { plugin: writer }),
        details: { key: name },
      });
    }
    const replaced = this.values.has(name);
    if (!replaced && this.values.size >= this.maxEntries) {
      throw new PluginError(
        'ContextError',
        `context is full (${this.maxEntries} keys); "${name}" not stored`,
        {
          ...(writer === undefined ? {} : { plugin: writer }),
          details: { key: name, maxEntries: this.maxEntries },
        },
      );
    }
    const previous = this.values.get(name);
    this.values.set(name, value);
    this.emit({ type: 'set', key: name, value, replaced, previous, writer });
  }

  /**
   * The value under `key`, typed by the key.
   * @throws PluginError `ContextError` when the key is missing or its value fails the typed key's validator.
   */
  get<T>(key: AnyContextKey<T>): T {
    const name = checkedKeyName(key);
    if (!this.values.has(name)) {
      throw new PluginError('ContextError', `context key "${name}" is not set`, { details: { key: name } });
    }
    return this.checked(key, name, this.values.get(name));
  }

  /** Like `get`, but `undefined` when the key is missing (a present value is still validated). */
  find<T>(key: AnyContextKey<T>): T | undefined {
    const name = checkedKeyName(key);
    if (!this.values.has(name)) return undefined;
    return this.checked(key, name, this.values.get(name));
  }

  private checked<T>(key: AnyContextKey<T>, name: string, value: unknown): T {
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
    if (!this.values.has(name)) return false;
    const previous = this.values.get(name);
    this.values.delete(name);
    this.emit({ type: 'remove', key: name, previous, writer });
    return true;
  }

  /** Whether `key` is set. */
  has(key: AnyContextKey): boolean {
    return this.values.has(checkedKeyName(key));
  }

  /** Names of the keys set, in insertion order. */
  keys(): string[] {
    return [...this.values.keys()];
  }

  /** Number of keys set. */
  get size(): number {
    return this.values.size;
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
    this.listeners.set(name, [...(this.listeners.get(name) ?? []), listener]);
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      const rest = (this.listeners.get(name) ?? []).filter((l) => l !== listener);
      if (rest.length === 0) this.listeners.delete(name);
      else this.listeners.set(name, rest);
    };
  }

  private emit(change: ContextChange): void {
    const frozen = Object.freeze(change);
    for (const name of [change.key, ANY_KEY]) {
      const list = this.listeners.get(name);
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
  forPlugin(name: string, permissions: ContextPermissions): PluginContextView {
    validatePluginName(name);
    return new PluginContextView(this, name, permissions);
  }
}
