import { HandlerTimeout } from '@plugward/hooks';
import { type HookCallInfo, type HookHandler, PluginError } from '@plugward/types';
import type { CallBudget } from './call-budget.js';

/** Why an isolated handler was skipped. */
export type IsolatedFailure = 'error' | 'timeout' | 'bad-return';

/**
 * An untrusted plugin's handler, run so that its failure cannot fail the call for the trusted handlers around it: on
 * an error, a bad return or an overrun of `timeoutMs` the chain goes on with the handler's *input*, and `onFailure`
 * hears why. The budget is enforced here (not by the HookRegistry, whose timeout would reject the whole execution):
 * on overrun the handler's signal is aborted with a {@link HandlerTimeout}, which the out-of-process tier reads as
 * "end the plugin". With a `callBudget` shared by the plugin's handlers, the handler gets only what its siblings left
 * of it in this execution. With `isolate: false` (a grant with `failuresFailCall`) the budget is enforced the same way
 * but a failure is thrown to the chain, and a result is passed on for the HookRegistry to judge.
 */
export function isolatedHandler(
  handler: HookHandler,
  timeoutMs: number,
  onFailure: (error: unknown, kind: IsolatedFailure) => void,
  callBudget?: CallBudget,
  { isolate = true }: { isolate?: boolean } = {},
): HookHandler {
  return async (data, info) => {
    const controller = new AbortController();
    const outer = info.signal;
    const inner: HookCallInfo = { hookName: info.hookName, signal: controller.signal };
    const allowedMs = callBudget === undefined ? timeoutMs : Math.min(timeoutMs, callBudget.remaining(info));
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const started = performance.now();
    // Settles first when the budget runs out or the host cancels: a handler that ignores its signal can't hold the
    // chain past either.
    const stop = new Promise<never>((_, reject) => {
      const end = (reason: unknown): void => {
        controller.abort(reason);
        reject(reason);
      };
      onAbort = () => end(outer?.reason);
      if (outer?.aborted) onAbort();
      else outer?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(
        // Elapsed: the plugin's whole time in this call, its earlier handlers' included.
        () =>
          end(new HandlerTimeout(timeoutMs, Math.round(timeoutMs - allowedMs + performance.now() - started))),
        Math.max(0, allowedMs),
      );
    });
    try {
      // The plugin's earlier handlers spent its budget for this call: this one is an overrun before it starts.
      if (allowedMs <= 0) await stop;
      const out = await Promise.race([Promise.resolve().then(() => handler(data, inner)), stop]);
      if (out instanceof Uint8Array || !isolate) return out;
      onFailure(
        new PluginError(
          'HookError',
          `hook ${info.hookName}: handler returned something other than a Uint8Array`,
        ),
        'bad-return',
      );
      return data;
    } catch (error) {
      // The host's own cancellation is not the plugin's failure: let it through as the chain expects.
      if (outer?.aborted || !isolate) throw error;
      onFailure(error, error instanceof HandlerTimeout ? 'timeout' : 'error');
      return data;
    } finally {
      callBudget?.charge(info, performance.now() - started);
      if (timer !== undefined) clearTimeout(timer);
      if (onAbort) outer?.removeEventListener('abort', onAbort);
      stop.catch(() => {});
    }
  };
}
