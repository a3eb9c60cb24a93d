import { type AnyContextKey, contextKeyName, type PluginContextApi, PluginError } from '@plugward/types';
import { expectResponse, type IpcChannel } from './channel.js';
import { ipcError } from './errors.js';

/** Options of a {@link ContextProxy}. */
export interface ContextProxyOptions {
  /** Timeout of each context call, ms; defaults to the channel's. */
  timeoutMs?: number;
}

/**
 * The plugin's `PluginContextApi` out of process: `get/set/remove/has/keys` travel over the channel to the host, which
 * serves them against that plugin's permission-checked view of its `PluginContext`. Values are bytes (`Uint8Array`)
 * or plain data (objects, arrays, strings, numbers, booleans, null, Date); a host error keeps its code
 * (`PermissionDenied`, `ContextError`, …). A typed key's `validate` is applied to what arrives.
 */
export class ContextProxy implements PluginContextApi {
  readonly #channel: IpcChannel;
  readonly #timeoutMs: number | undefined;

  constructor(channel: IpcChannel, options: ContextProxyOptions = {}) {
    this.#channel = channel;
    this.#timeoutMs = options.timeoutMs;
  }

  #opts(): { timeoutMs?: number } {
    return this.#timeoutMs === undefined ? {} : { timeoutMs: this.#timeoutMs };
  }

  async get<T>(key: AnyContextKey<T>): Promise<T> {
    const name = contextKeyName(key);
    const res = expectResponse(
      await this.#channel.sendRequest({ kind: 'ContextGet', key: name }, this.#opts()),
      'Success',
    );
    const value = res.value;
    if (typeof key !== 'string' && key.validate !== undefined && !key.validate(value)) {
      throw new PluginError('ContextError', `context value of "${name}" failed its key's validation`, {
        details: { key: name },
      });
    }
    return value as T;
  }

  async set<T>(key: AnyContextKey<T>, value: T): Promise<void> {
    const name = contextKeyName(key);
    if (typeof key !== 'string' && key.validate !== undefined && !key.validate(value)) {
      throw new PluginError('ContextError', `value for "${name}" failed its key's validation`, {
        details: { key: name },
      });
    }
    expectResponse(
      await this.#channel.sendRequest({ kind: 'ContextSet', key: name, value }, this.#opts()),
      'Success',
    );
  }

  async remove(key: AnyContextKey): Promise<boolean> {
    return this.#boolean(
      await this.#channel.sendRequest({ kind: 'ContextRemove', key: contextKeyName(key) }, this.#opts()),
    );
  }

  async has(key: AnyContextKey): Promise<boolean> {
    return this.#boolean(
      await this.#channel.sendRequest({ kind: 'ContextHas', key: contextKeyName(key) }, this.#opts()),
    );
  }

  async keys(): Promise<string[]> {
    const { value } = expectResponse(
      await this.#channel.sendRequest({ kind: 'ContextKeys' }, this.#opts()),
      'Success',
    );
    if (!Array.isArray(value) || !value.every((k) => typeof k === 'string')) {
      throw ipcError('MalformedPayload', 'ContextKeys answer is not a list of strings');
    }
    return value as string[];
  }

  #boolean(res: Parameters<typeof expectResponse>[0]): boolean {
    const { value } = expectResponse(res, 'Success');
    if (typeof value !== 'boolean') throw ipcError('MalformedPayload', 'expected a boolean answer');
    return value;
  }
}
