import { HandlerTimeout } from '@plugward/hooks';
import { type HookHandler, isThenable, PluginError } from '@plugward/types';
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
  // Per call: one controller (the handler's signal, which the out-of-process tier hands to its IPC request), one timer
  // and one promise — no race of promises, no deferred start: a call is on the hot path of every untrusted plugin.
  return (data, info) => {
    const outer = info.signal;
    // The host cancelled before the call: the handler is not called, and this is not the plugin's failure.
    if (outer?.aborted) return Promise.reject(outer.reason);
    const allowedMs = callBudget === undefined ? timeoutMs : Math.min(timeoutMs, callBudget.remaining(info));
    const started = performance.now();
    return new Promise<Uint8Array>((resolve, reject) => {
      let done = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finish = (): void => {
        done = true;
        if (timer !== undefined) clearTimeout(timer);
        outer?.removeEventListener('abort', onAbort);
        callBudget?.charge(info, performance.now() - started);
      };
      const failed = (error: unknown): void => {
        if (done) return;
        finish();
        // The host's own cancellation is not the plugin's failure: let it through as the chain expects.
        if (outer?.aborted || !isolate) {
          reject(error);
          return;
        }
        onFailure(error, error instanceof HandlerTimeout ? 'timeout' : 'error');
        resolve(data);
      };
      const answered = (out: unknown): void => {
        if (done) return;
        finish();
        if (out instanceof Uint8Array || !isolate) {
          resolve(out as Uint8Array);
          return;
        }
        onFailure(
          new PluginError(
            'HookError',
            `hook ${info.hookName}: handler returned something other than a Uint8Array`,
          ),
          'bad-return',
        );
        resolve(data);
      };
      // The plugin's earlier handlers spent its budget for this call: this one is an overrun before it starts.
      if (allowedMs <= 0) {
        failed(new HandlerTimeout(timeoutMs, Math.round(timeoutMs - allowedMs)));
        return;
      }
      const controller = new AbortController();
      // Settles the call first when the budget runs out or the host cancels (aborting the handler's signal): a
      // handler that ignores its signal can't hold the chain past either.
      function onAbort(): void {
        if (done) return;
        controller.abort(outer?.reason);
        failed(outer?.reason);
      }
      outer?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => {
        if (done) return;
        // Elapsed: the plugin's whole time in this call, its earlier handlers' included.
        const error = new HandlerTimeout(
          timeoutMs,
          Math.round(timeoutMs - allowedMs + performance.now() - started),
        );
        controller.abort(error);
        failed(error);
      }, allowedMs);
      try {
        const out = handler(data, { hookName: info.hookName, signal: controller.signal });
        // Attached at once: a late outcome of a handler that overran is consumed, never an unhandled rejection.
        if (isThenable(out)) out.then(answered, failed);
        else answered(out);
      } catch (error) {
        // A sync throw, or a hostile `then` getter.
        failed(error);
      }
    });
  };
}
