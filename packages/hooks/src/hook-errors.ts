import { PluginError } from '@plugward/types';
import type { HookEntry } from './hook-chain.js';

/**
 * The reason a handler's `info.signal` is aborted with when it spends its time budget (the execution itself rejects
 * with a `HookTimeout` PluginError whose cause is this).
 */
export class HandlerTimeout extends Error {
  constructor(
    readonly timeoutMs: number,
    readonly elapsedMs: number,
  ) {
    super(`handler exceeded its ${timeoutMs} ms budget`);
    this.name = 'HandlerTimeout';
  }
}

/**
 * The reason a handler's `info.signal` is aborted with when the whole execution spends its budget (`executionTimeoutMs`
 * or `ExecuteOptions.timeoutMs`): not the running handler's fault, so not a {@link HandlerTimeout}.
 */
export class ExecutionTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`the hook execution exceeded its ${timeoutMs} ms budget`);
    this.name = 'ExecutionTimeout';
  }
}

/** The cause used when a handler returns something that is neither bytes nor a promise of bytes. */
export function badReturn(value: unknown): PluginError {
  const what = value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
  return new PluginError('InvalidArgument', `handler returned ${what}, expected a Uint8Array`);
}

function who(entry: HookEntry): string {
  return entry.owner === undefined ? `handler #${entry.id}` : `handler #${entry.id} of "${entry.owner}"`;
}

function detailsOf(entry: HookEntry): Record<string, unknown> {
  return { hook: entry.name, owner: entry.owner, handlerId: entry.id, priority: entry.priority };
}

/** The PluginError for a failed handler: `HookTimeout` for a spent budget, `HookError` for anything else. */
export function handlerError(entry: HookEntry, cause: unknown): PluginError {
  const options = entry.owner === undefined ? {} : { plugin: entry.owner };
  if (cause instanceof HandlerTimeout) {
    return new PluginError(
      'HookTimeout',
      `hook "${entry.name}": ${who(entry)} timed out after ${cause.timeoutMs} ms`,
      {
        ...options,
        cause,
        details: { ...detailsOf(entry), timeoutMs: cause.timeoutMs, elapsedMs: cause.elapsedMs },
      },
    );
  }
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new PluginError('HookError', `hook "${entry.name}": ${who(entry)} failed: ${reason}`, {
    ...options,
    cause,
    details: detailsOf(entry),
  });
}

/** The PluginError of an execution cancelled through its AbortSignal. */
export function abortedError(hookName: string, signal: AbortSignal): PluginError {
  return new PluginError('Aborted', `hook "${hookName}": execution aborted`, {
    cause: signal.reason,
    details: { hook: hookName },
  });
}
