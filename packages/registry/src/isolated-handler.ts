import { type Deadline, DeadlineQueue, HandlerTimeout } from '@plugward/hooks';
import { type HookCallInfo, type HookHandler, isThenable, PluginError } from '@plugward/types';
import type { CallBudget } from './call-budget.js';

/** Why an isolated handler was skipped. */
export type IsolatedFailure = 'error' | 'timeout' | 'bad-return';

/** Options of {@link isolatedHandler}. */
export interface IsolatedHandlerOptions {
  /** False (a grant with `failuresFailCall`): a failure is thrown to the chain instead of skipped. Default true. */
  isolate?: boolean;
  /**
   * Where the budgets are queued: the `HookRegistry` the handler is registered with (`hooks.deadlines`), so that one
   * timer serves the registry's budgets and these. Default: one queue shared by handlers wrapped without one.
   */
  deadlines?: DeadlineQueue;
}

/** What every call of one wrapped handler shares. */
interface Wrapped {
  readonly handler: HookHandler;
  readonly timeoutMs: number;
  readonly onFailure: (error: unknown, kind: IsolatedFailure) => void;
  readonly callBudget: CallBudget | undefined;
  readonly isolate: boolean;
  readonly queue: DeadlineQueue;
}

let sharedQueue: DeadlineQueue | undefined;

/** The queue of handlers wrapped without a registry's. */
function defaultQueue(): DeadlineQueue {
  sharedQueue ??= new DeadlineQueue(() => performance.now());
  return sharedQueue;
}

/**
 * Whether `info.signal` is a plain value. A signal made on first read (the HookRegistry's, a getter) is not read
 * unless needed: making it costs the AbortController this wrapper exists to avoid, and the registry checks its
 * execution's signal before every handler it calls.
 */
function plainSignal(info: HookCallInfo): boolean {
  return Object.hasOwn(info, 'signal');
}

/**
 * One call of an isolated handler: its deadline in the queue, the `info` its handler gets (whose `signal` is made on
 * first read, born aborted if the budget already fired) and the listener on the host's signal once that signal was
 * asked for — one object, no timer, controller or closure of its own unless the handler asks for its signal.
 */
class IsolatedCall implements Deadline, HookCallInfo {
  at = 0;
  seq = 0;
  slot = -1;
  readonly hookName: string;
  #done = false;
  #controller: AbortController | undefined;
  /** The budget ran out (the reason a signal made later is born aborted with). */
  #fired: HandlerTimeout | undefined;
  /** The host's signal this call listens to (only once its handler asked for its own). */
  #linked: AbortSignal | undefined;
  #resolve!: (value: Uint8Array) => void;
  #reject!: (error: unknown) => void;

  constructor(
    readonly w: Wrapped,
    readonly outer: HookCallInfo,
    readonly data: Uint8Array,
    readonly started: number,
    readonly allowedMs: number,
  ) {
    this.hookName = outer.hookName;
  }

  run(): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
      // The plugin's earlier handlers spent its budget for this call: this one is an overrun before it starts.
      if (this.allowedMs <= 0) {
        this.failed(new HandlerTimeout(this.w.timeoutMs, Math.round(this.w.timeoutMs - this.allowedMs)));
        return;
      }
      try {
        const out = this.w.handler(this.data, this);
        // Attached at once: a late outcome of a handler that overran is consumed, never an unhandled rejection.
        if (isThenable(out)) {
          out.then(
            (value) => this.answered(value),
            (error: unknown) => this.failed(error),
          );
        } else this.answered(out);
      } catch (error) {
        // A sync throw, or a hostile `then` getter.
        this.failed(error);
      }
      // Still running: its budget joins the queue (a handler that answered at once never touched it).
      if (!this.#done) {
        this.at = this.started + this.allowedMs;
        this.w.queue.add(this);
      }
    });
  }

  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#fired !== undefined) controller.abort(this.#fired);
    else if (!this.#done) {
      // From now on the host's cancellation reaches the handler (and settles the call first).
      const outer = this.outer.signal;
      if (outer?.aborted) this.#hostCancelled(outer.reason);
      else if (outer !== undefined) {
        this.#linked = outer;
        outer.addEventListener('abort', this, { once: true });
      }
    }
    return controller.signal;
  }

  /** The host's signal fired (a listener object: no closure per call). */
  handleEvent(): void {
    const outer = this.#linked;
    this.#linked = undefined;
    this.#hostCancelled(outer?.reason);
  }

  /** The budget ran out first. */
  expire(): void {
    if (this.#done) return;
    // A host cancellation that came while nobody listened (the handler never asked for its signal) is the host's.
    const outer = this.#outerSignal();
    if (outer?.aborted) {
      this.#hostCancelled(outer.reason);
      return;
    }
    // Elapsed: the plugin's whole time in this call, its earlier handlers' included.
    const error = new HandlerTimeout(
      this.w.timeoutMs,
      Math.round(this.w.timeoutMs - this.allowedMs + performance.now() - this.started),
    );
    this.#fired = error;
    this.#controller?.abort(error);
    this.failed(error);
  }

  #hostCancelled(reason: unknown): void {
    this.#controller?.abort(reason);
    this.failed(reason);
  }

  /** The host's signal, read now (made, if it is made on first read: only on a failure or an expiry). */
  #outerSignal(): AbortSignal | undefined {
    return this.#linked ?? this.outer.signal;
  }

  #finish(): void {
    this.#done = true;
    this.w.queue.cancel(this);
    if (this.#linked !== undefined) {
      this.#linked.removeEventListener('abort', this);
      this.#linked = undefined;
    }
    this.w.callBudget?.charge(this.outer, performance.now() - this.started);
  }

  failed(error: unknown): void {
    if (this.#done) return;
    const linked = this.#linked;
    this.#finish();
    // The host's own cancellation is not the plugin's failure: let it through as the chain expects.
    if (!this.w.isolate || (linked ?? this.outer.signal)?.aborted) {
      this.#reject(error);
      return;
    }
    this.w.onFailure(error, error instanceof HandlerTimeout ? 'timeout' : 'error');
    this.#resolve(this.data);
  }

  answered(out: unknown): void {
    if (this.#done) return;
    this.#finish();
    if (out instanceof Uint8Array || !this.w.isolate) {
      this.#resolve(out as Uint8Array);
      return;
    }
    this.w.onFailure(
      new PluginError(
        'HookError',
        `hook ${this.hookName}: handler returned something other than a Uint8Array`,
      ),
      'bad-return',
    );
    this.#resolve(this.data);
  }
}

/**
 * An untrusted plugin's handler, run so that its failure cannot fail the call for the trusted handlers around it: on
 * an error, a bad return or an overrun of `timeoutMs` the chain goes on with the handler's *input*, and `onFailure`
 * hears why. The budget is enforced here (not by the HookRegistry, whose timeout would reject the whole execution):
 * on overrun the handler's signal is aborted with a {@link HandlerTimeout}, which the out-of-process tier reads as
 * "end the plugin". With a `callBudget` shared by the plugin's handlers, the handler gets only what its siblings left
 * of it in this execution. With `isolate: false` (a grant with `failuresFailCall`) the budget is enforced the same way
 * but a failure is thrown to the chain, and a result is passed on for the HookRegistry to judge.
 *
 * A budget costs nothing until it fires: a call is one object queued in `deadlines` (the registry's deadline queue,
 * one timer for all), and its handler's signal is made only if the handler asks for it. The host's cancellation
 * reaches a handler that asked for its signal at once (and settles the call); one that never asked is told by the
 * HookRegistry's own race on the execution's signal, and its call settles when it answers or its budget runs out.
 */
export function isolatedHandler(
  handler: HookHandler,
  timeoutMs: number,
  onFailure: (error: unknown, kind: IsolatedFailure) => void,
  callBudget?: CallBudget,
  { isolate = true, deadlines }: IsolatedHandlerOptions = {},
): HookHandler {
  const wrapped: Wrapped = {
    handler,
    timeoutMs,
    onFailure,
    callBudget,
    isolate,
    queue: deadlines ?? defaultQueue(),
  };
  return (data, info) => {
    // The host cancelled before the call: the handler is not called, and this is not the plugin's failure.
    if (plainSignal(info) && info.signal?.aborted) return Promise.reject(info.signal.reason);
    const allowedMs = callBudget === undefined ? timeoutMs : Math.min(timeoutMs, callBudget.remaining(info));
    return new IsolatedCall(wrapped, info, data, performance.now(), allowedMs).run();
  };
}
