import {
  type HookHandler,
  type HookRegistrar,
  isPluginError,
  isThenable,
  type LogLevel,
  MAX_HOOK_NAME_BYTES,
  type PluginContextApi,
  PluginError,
  type PluginRuntimeApi,
} from '@plugward/types';
import { copyFromNative, readCStringLossy, readCStringStrict } from './c-string.js';
import { type HostCallbackKind, libc, PwStatus, writeSize } from './native-abi.js';

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
const MAX_KEY_BYTES = 1024;
const MAX_LOG_BYTES = 64 * 1024;

const encoder = new TextEncoder();

/**
 * What the host callbacks reach of their native plugin. The getters are read on every call: the registrar exists only
 * during `register_hooks`, the context and runtime only between `init` and unload.
 */
export interface CallbackHost {
  /** The plugin's name, for error messages. */
  readonly name: string;
  readonly registrar: HookRegistrar | undefined;
  readonly context: PluginContextApi | undefined;
  readonly runtime: PluginRuntimeApi | undefined;
  /** Largest context value a plugin may set, bytes. */
  readonly maxContextValueBytes: number;
  /** Where log lines go while there is no runtime yet (before `init`). */
  log(level: LogLevel, message: string): void;
  /** The hook handler that calls the plugin's `call_hook` for `name`. */
  hookHandler(name: string): HookHandler;
  /** Waits for `value` if it is a promise (settled after the native call returns), then passes it to `onValue`. */
  track(value: unknown, onValue?: (v: unknown) => void): void;
  /** Keeps a hook registration for unload. */
  keepRegistration(registration: unknown): void;
  /** Records an error of a callback; the native call that made it then fails with it. */
  recordError(error: unknown): void;
}

/** A context operation refused (permission, missing key, bad input): answered with its status, not recorded. */
class ContextRefusal {
  constructor(readonly status: number) {}
}

/** Maps a context error to a pw_status. */
function contextStatus(e: unknown): number {
  if (isPluginError(e, 'PermissionDenied')) return PwStatus.PermissionDenied;
  if (isPluginError(e, 'NotFound') || isPluginError(e, 'ContextError')) return PwStatus.NotFound;
  if (isPluginError(e, 'InvalidArgument')) return PwStatus.InvalidArgument;
  return PwStatus.Generic;
}

/** Runs a context operation; a throw becomes the {@link ContextRefusal} of its status. */
function contextOp<T>(op: () => T): T {
  try {
    return op();
  } catch (e) {
    throw new ContextRefusal(contextStatus(e));
  }
}

function toBytes(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  return undefined;
}

/**
 * The one guard of every host callback. They are called synchronously from plugin code and must never throw into C
 * (koffi would hand the plugin a 0, which reads as success): a context refusal becomes its status; anything else is
 * recorded on the host (the native call then fails with it) and answered with `fallback`.
 */
function guarded<A extends unknown[]>(
  host: CallbackHost,
  fallback: number,
  fn: (...args: A) => number,
): (...args: A) => number {
  return (...args: A): number => {
    try {
      return fn(...args);
    } catch (e) {
      if (e instanceof ContextRefusal) return e.status;
      host.recordError(e);
      return fallback;
    }
  };
}

/** The C callbacks of the host API a native plugin gets (`pw_host_api`), bound to `host`, each behind the guard. */
export function hostCallbacks(host: CallbackHost): Record<HostCallbackKind, (...args: never[]) => unknown> {
  const key = (keyPtr: bigint | null): string =>
    readCStringStrict(keyPtr, MAX_KEY_BYTES, 'context key', host.name);

  const registerHook = guarded(
    host,
    PwStatus.InvalidArgument,
    (_hostData: unknown, namePtr: bigint | null, priority: number): number => {
      const registrar = host.registrar;
      if (registrar === undefined) return PwStatus.State;
      const name = readCStringStrict(namePtr, MAX_HOOK_NAME_BYTES, 'hook name', host.name);
      if (name.length === 0) {
        throw new PluginError('InvalidPlugin', `native plugin ${host.name}: empty hook name`, {
          plugin: host.name,
        });
      }
      host.track(registrar.register(name, priority, host.hookHandler(name)), (reg) =>
        host.keepRegistration(reg),
      );
      return PwStatus.Ok;
    },
  );

  const log = (_hostData: unknown, level: number, messagePtr: bigint | null): void => {
    try {
      const lvl = LOG_LEVELS[level] ?? 'info';
      const message = readCStringLossy(messagePtr, MAX_LOG_BYTES);
      if (host.runtime !== undefined) host.runtime.log(lvl, message);
      else host.log(lvl, message);
    } catch {
      // Logging must never fail the plugin: nothing is recorded.
    }
  };

  const contextGet = guarded(
    host,
    PwStatus.Generic,
    (
      _hostData: unknown,
      keyPtr: bigint | null,
      outPtr: bigint | null,
      outCap: number | bigint,
      outLenPtr: bigint | null,
    ): number => {
      const ctx = host.context;
      if (ctx === undefined) return PwStatus.State;
      const k = key(keyPtr);
      const value = contextOp(() => ctx.get(k));
      if (isThenable(value)) {
        // A C callback can't wait; an asynchronous (out-of-process proxy) context needs the runtime's sync cache.
        Promise.resolve(value).catch(() => undefined);
        return PwStatus.WouldBlock;
      }
      if (value === undefined) return PwStatus.NotFound;
      const bytes = toBytes(value);
      if (bytes === undefined) return PwStatus.Type;
      if (outLenPtr !== null && outLenPtr !== 0n) writeSize(outLenPtr, bytes.length);
      if (bytes.length > Number(outCap)) return PwStatus.BufferTooSmall;
      if (bytes.length > 0) {
        if (outPtr === null || outPtr === 0n) return PwStatus.InvalidArgument;
        libc().memcpy(outPtr, bytes, bytes.length);
      }
      return PwStatus.Ok;
    },
  );

  const contextSet = guarded(
    host,
    PwStatus.Generic,
    (_hostData: unknown, keyPtr: bigint | null, valuePtr: bigint | null, len: number | bigint): number => {
      const ctx = host.context;
      if (ctx === undefined) return PwStatus.State;
      const k = key(keyPtr);
      const n = Number(len);
      if (n > host.maxContextValueBytes) return PwStatus.InvalidArgument;
      if (n > 0 && (valuePtr === null || valuePtr === 0n)) return PwStatus.InvalidArgument;
      const bytes = n === 0 || valuePtr === null ? new Uint8Array(0) : copyFromNative(valuePtr, n);
      host.track(contextOp(() => ctx.set(k, bytes)));
      return PwStatus.Ok;
    },
  );

  const contextRemove = guarded(
    host,
    PwStatus.Generic,
    (_hostData: unknown, keyPtr: bigint | null): number => {
      const ctx = host.context;
      if (ctx === undefined) return PwStatus.State;
      const k = key(keyPtr);
      const removed = contextOp(() => ctx.remove(k));
      if (isThenable(removed)) {
        host.track(removed);
        return PwStatus.Ok;
      }
      return removed === false ? PwStatus.NotFound : PwStatus.Ok;
    },
  );

  return {
    register_hook: registerHook,
    log,
    context_get: contextGet,
    context_set: contextSet,
    context_remove: contextRemove,
  } as Record<HostCallbackKind, (...args: never[]) => unknown>;
}
