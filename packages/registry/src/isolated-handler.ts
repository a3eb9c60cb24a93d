import { HandlerTimeout } from '@plugward/hooks';
import type { HookCallInfo, HookHandler } from '@plugward/types';

/**
 * An untrusted plugin's handler, run so that its failure cannot fail the call for the trusted handlers around it: on
 * an error, a bad return or an overrun of `timeoutMs` the chain goes on with the handler's *input*, and `onFailure`
 * hears why. The budget is enforced here (not by the HookRegistry, whose timeout would reject the whole execution):
 * on overrun the handler's signal is aborted with a {@link HandlerTimeout}, which the out-of-process tier reads as
 * "end the plugin".
 */
export function isolatedHandler(
  handler: HookHandler,
  timeoutMs: number,
  onFailure: (error: unknown, info: HookCallInfo) => void,
): HookHandler {
  return async (data, info) => {
    const controller = new AbortController();
    const outer = info.signal;
    const onAbort = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    else outer?.addEventListener('abort', onAbort, { once: true });
    const inner: HookCallInfo = { hookName: info.hookName, signal: controller.signal };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const started = performance.now();
    try {
      const out = await Promise.race([
        Promise.resolve().then(() => handler(data, inner)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new HandlerTimeout(timeoutMs, Math.round(performance.now() - started));
            controller.abort(error);
            reject(error);
          }, timeoutMs);
        }),
      ]);
      if (!(out instanceof Uint8Array))
        throw new TypeError('handler returned something other than a Uint8Array');
      return out;
    } catch (error) {
      // The host's own cancellation is not the plugin's failure: let it through as the chain expects.
      if (outer?.aborted) throw error;
      onFailure(error, inner);
      return data;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      outer?.removeEventListener('abort', onAbort);
    }
  };
}
