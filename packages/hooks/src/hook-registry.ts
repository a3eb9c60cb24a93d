import {
  type Awaitable,
  checkHookName,
  type HookCallInfo,
  type HookHandler,
  type HookPriority,
  type HookRegistrar,
  isThenable,
  PluginError,
  priorityBand,
} from '@plugward/types';
import type { HookCodec } from './codec.js';
import { type HandlerStats, HookChain, type HookEntry } from './hook-chain.js';
import { abortedError, badReturn, ExecutionTimeout, HandlerTimeout, handlerError } from './hook-errors.js';
import { TypedHook } from './typed-hook.js';

/** Options of one registration. */
export interface RegisterOptions {
  /** Who owns the handler (a plugin name); `unregisterAll(owner)` removes it and errors name it. */
  owner?: string;
  /** Time budget of this handler per call, ms (overrides the hook's and the registry's default). */
  timeoutMs?: number;
}

/** Options of one execution. */
export interface ExecuteOptions {
  /** Cancels the whole execution: it rejects with `Aborted` and handlers see the signal in `info.signal`. */
  signal?: AbortSignal;
  /**
   * Time budget of the whole execution, all handlers together, ms; overrides the registry's `executionTimeoutMs`.
   * Past it the running handler's signal is aborted (with an {@link ExecutionTimeout}) and the execution rejects with
   * `HookTimeout` (`details.scope: 'execution'`); a synchronous chain's overrun is detected when it returns.
   */
  timeoutMs?: number;
}

/** A handle on one registration. */
export interface Registration {
  /** Unique within the registry; ids only grow. */
  readonly id: number;
  /** Removes this handler. True the first time, false once it is gone. Running executions are unaffected. */
  unregister(): boolean;
}

/** A registered handler as `getHooks` lists it. */
export interface RegisteredHook {
  readonly id: number;
  readonly name: string;
  readonly priority: number;
  /** The priority band (`Critical`, `High`, `Normal`, `Low`, `Cleanup`). */
  readonly band: keyof typeof HookPriority;
  readonly owner: string | undefined;
  /** The handler's own budget, if it has one. */
  readonly timeoutMs: number | undefined;
  readonly handler: HookHandler;
}

/** Per-hook behaviour, set with {@link HookRegistry.configure}. */
export interface HookConfig {
  /**
   * When true, a handler that throws, rejects, times out or returns something other than bytes is skipped (the next
   * handler receives the previous output) and reported to the failure listeners; the chain goes on. Default false:
   * the first failure stops the chain and the execution rejects.
   */
  isolateFailures?: boolean;
  /** Time budget, ms, of this hook's handlers that have none of their own; `undefined` restores the registry default. */
  timeoutMs?: number | undefined;
}

/** A handler failure, as failure listeners receive it. */
export interface HookFailure {
  readonly hookName: string;
  readonly handlerId: number;
  readonly owner: string | undefined;
  readonly priority: number;
  /** `HookError` or `HookTimeout`, naming the hook and the owner, with the original error as `cause`. */
  readonly error: PluginError;
  /** True when the chain skipped the handler and went on; false when the failure stopped the execution. */
  readonly isolated: boolean;
}

/** Listener of handler failures. What it throws is dropped so a bad listener can't break a chain. */
export type HookFailureListener = (failure: HookFailure) => void;

/** Options of a {@link HookRegistry}. */
export interface HookRegistryOptions {
  /** Time budget, ms, of every handler that has none of its own and whose hook sets none. */
  defaultTimeoutMs?: number;
  /**
   * Time budget, ms, of every whole execution (all its handlers together) that sets none itself — so a chain of
   * many handlers, each within its own budget, still ends in bounded time. Default: none.
   */
  executionTimeoutMs?: number;
  /** A first failure listener (same as calling `onFailure`). */
  onFailure?: HookFailureListener;
}

/** A registrar bound to one owner (a plugin); what `forOwner` returns. */
export interface OwnerHookRegistrar extends HookRegistrar {
  readonly owner: string;
  /** Registers with `owner` set to this registrar's owner (an `owner` in options is ignored). */
  register(name: string, priority: number, handler: HookHandler, options?: RegisterOptions): Registration;
  /** A typed hook whose registrations carry this owner. */
  define<T>(name: string, codec: HookCodec<T>): TypedHook<T>;
  /** Removes every handler of this owner. */
  unregisterAll(): number;
}

// setTimeout's largest delay; beyond it timers fire at once.
const MAX_TIMEOUT_MS = 2_147_483_647;

/** The budget of one whole execution. */
interface ExecutionBudget {
  ms: number;
  started: number;
  deadline: number;
}

/** An execution handed from the sync fast path to the general path (`#runAsync`) at handler `start`. */
interface AsyncRun {
  chain: HookChain;
  entries: readonly HookEntry[];
  start: number;
  /** Handler `start`'s input. */
  input: Uint8Array;
  signal: AbortSignal | undefined;
  info: HookCallInfo;
  /** `chain.isolateFailures` when the execution started. */
  isolated: boolean;
  /** The promise handler `start` already returned. */
  pending: PromiseLike<unknown>;
  /** `pending` already races the handler's own budget and what is left of the execution's (a timed handler's). */
  pendingRaced: boolean;
  budget: ExecutionBudget | undefined;
  /** What the timed handlers of this execution share (an owner charges its handlers' time to one call budget). */
  execution: object | undefined;
}

/**
 * The `info` of a handler with a time budget, and the state of that one call: its `signal` is made on first read
 * (most handlers never read it, and an AbortController per call costs more than the call); one object per call.
 */
class TimedCallInfo implements HookCallInfo {
  readonly hookName: string;
  readonly #execution: AbortSignal | undefined;
  #controller: AbortController | undefined;
  #onAbort: (() => void) | undefined;
  /** Set when the budget fired before the handler asked for its signal: a signal made later is born aborted. */
  #fired: { reason: unknown } | undefined;

  /** Shared by the timed handlers of one execution (see `HookCallInfo.execution`). */
  readonly execution: object | undefined;

  constructor(hookName: string, execution: AbortSignal | undefined, shared?: object) {
    this.hookName = hookName;
    this.#execution = execution;
    this.execution = shared;
  }

  get signal(): AbortSignal {
    if (this.#controller !== undefined) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    const execution = this.#execution;
    if (this.#fired !== undefined) controller.abort(this.#fired.reason);
    else if (execution !== undefined) {
      if (execution.aborted) controller.abort(execution.reason);
      else {
        this.#onAbort = (): void => controller.abort(execution.reason);
        execution.addEventListener('abort', this.#onAbort, { once: true });
      }
    }
    return controller.signal;
  }

  /** The budget fired: abort the handler's signal (now, or when it is made). */
  abort(reason: unknown): void {
    this.#fired = { reason };
    this.#controller?.abort(reason);
  }

  /** The call is over: stop listening to the execution's signal. */
  unlink(): void {
    if (this.#onAbort !== undefined) this.#execution?.removeEventListener('abort', this.#onAbort);
    this.#onAbort = undefined;
  }
}

/** The `HookTimeout` of an execution past its whole budget. */
function executionOverrun(name: string, budget: ExecutionBudget, cause?: unknown): PluginError {
  return new PluginError(
    'HookTimeout',
    `hook "${name}": the whole execution exceeded its ${budget.ms} ms budget`,
    {
      cause: cause ?? new ExecutionTimeout(budget.ms),
      details: {
        hook: name,
        timeoutMs: budget.ms,
        elapsedMs: Math.round(now() - budget.started),
        scope: 'execution',
      },
    },
  );
}

function checkTimeout(value: unknown, what: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_MS) {
    throw new PluginError('InvalidArgument', `${what} must be a positive number of ms, got ${String(value)}`);
  }
  return value;
}

// Owners are plugin names (at most MAX_PLUGIN_NAME_LENGTH) or a host's own labels.
const MAX_OWNER_LENGTH = 256;

function checkOwner(owner: unknown): string | undefined {
  if (owner === undefined) return undefined;
  if (typeof owner !== 'string' || owner.length === 0 || owner.length > MAX_OWNER_LENGTH) {
    throw new PluginError('InvalidArgument', 'owner must be a non-empty string');
  }
  return owner;
}

/** A registration handle: one object, no closure. */
class HookRegistration implements Registration {
  readonly id: number;
  readonly #chain: HookChain;
  readonly #entry: HookEntry;

  constructor(chain: HookChain, entry: HookEntry) {
    this.#chain = chain;
    this.#entry = entry;
    this.id = entry.id;
  }

  unregister(): boolean {
    return this.#chain.remove(this.#entry);
  }
}

function now(): number {
  return performance.now();
}

/**
 * Priority-ordered waterfall hook chains over bytes.
 *
 * - Lower priority runs first; equal priorities run in registration order.
 * - Each handler receives the previous handler's output; with no handlers `execute` resolves to the input.
 * - Sync handlers run back to back without an `await` between them; only a handler that returns a promise makes the
 *   execution asynchronous from that point on.
 * - A failure stops the chain with a `HookError` (or `HookTimeout`) naming the hook and the handler's owner, unless
 *   the hook is configured with `isolateFailures`.
 * - An execution works on a snapshot: handlers registered or removed while it runs don't affect it.
 *
 * No Node imports: runs in browsers and workers.
 *
 * @example
 * ```ts
 * const hooks = new HookRegistry();
 * hooks.register('on_request', HookPriority.High, (data) => data, { owner: 'auth' });
 * const out = await hooks.execute('on_request', new TextEncoder().encode('hi'));
 * ```
 */
export class HookRegistry implements HookRegistrar {
  readonly #chains = new Map<string, HookChain>();
  /** Call statistics by owner (see `handlerStats`). */
  readonly #ownerStats = new Map<string, HandlerStats>();
  #lastChain: HookChain | undefined;
  /** The clock reading `callTimed` took when its handler returned synchronously (reused by the fast path). */
  #syncEnd = Number.NaN;
  #nextId = 1;
  #listeners: readonly HookFailureListener[] = [];
  readonly #defaultTimeoutMs: number | undefined;
  readonly #executionTimeoutMs: number | undefined;

  constructor(options: HookRegistryOptions = {}) {
    this.#defaultTimeoutMs = checkTimeout(options.defaultTimeoutMs, 'defaultTimeoutMs');
    this.#executionTimeoutMs = checkTimeout(options.executionTimeoutMs, 'executionTimeoutMs');
    if (options.onFailure !== undefined) this.onFailure(options.onFailure);
  }

  #chain(name: string): HookChain {
    let chain = this.#chains.get(name);
    if (chain === undefined) {
      chain = new HookChain(name);
      chain.timeoutMs = this.#defaultTimeoutMs;
      this.#chains.set(name, chain);
    }
    return chain;
  }

  /**
   * Registers `handler` on hook `name`. Lower `priority` runs first (see `HookPriority`); equal priorities keep
   * registration order. O(log n) search plus one splice.
   * @throws PluginError `InvalidArgument` for a bad name, priority, handler or option.
   */
  register(name: string, priority: number, handler: HookHandler, options?: RegisterOptions): Registration {
    checkHookName(name);
    if (typeof priority !== 'number' || !Number.isFinite(priority)) {
      throw new PluginError(
        'InvalidArgument',
        `hook priority must be a finite number, got ${String(priority)}`,
      );
    }
    if (typeof handler !== 'function') {
      throw new PluginError('InvalidArgument', `hook handler must be a function, got ${typeof handler}`);
    }
    const owner = checkOwner(options?.owner);
    const timeoutMs = checkTimeout(options?.timeoutMs, 'timeoutMs');
    const stats = owner !== undefined && timeoutMs !== undefined ? this.#statsOf(owner) : undefined;
    const entry: HookEntry = { id: this.#nextId++, name, priority, handler, owner, timeoutMs, stats };
    const chain = this.#chain(name);
    chain.insert(entry);
    return new HookRegistration(chain, entry);
  }

  /** Removes the handler with registration id `id` (a scan; prefer `Registration.unregister`). False if none. */
  unregister(id: number): boolean {
    for (const chain of this.#chains.values()) {
      const entry = chain.find(id);
      if (entry !== undefined) return chain.remove(entry);
    }
    return false;
  }

  /**
   * Removes every handler registered with `owner` (on every hook); returns how many. Running executions finish with
   * their snapshot. @throws PluginError `InvalidArgument` for a missing or empty owner.
   */
  unregisterAll(owner: string): number {
    // Without this check, `unregisterAll(undefined)` would remove every handler that has no owner.
    if (checkOwner(owner) === undefined)
      throw new PluginError('InvalidArgument', 'owner must be a non-empty string');
    let count = 0;
    for (const chain of this.#chains.values()) {
      count += chain.removeOwner(owner).length;
    }
    this.#ownerStats.delete(owner);
    return count;
  }

  /**
   * Calls into `owner`'s timed handlers (those registered with an owner and a `timeoutMs`, as a plugin's are) and the
   * milliseconds they held the calling thread: a synchronous handler's whole run, an asynchronous one's until it
   * returned its promise. Counted on every call from the clock reads the time budget takes anyway (an asynchronous
   * handler costs one more). `undefined` when the owner has none; reset by `unregisterAll(owner)`.
   */
  handlerStats(owner: string): Readonly<HandlerStats> | undefined {
    const s = this.#ownerStats.get(owner);
    return s === undefined ? undefined : { calls: s.calls, timeMs: s.timeMs };
  }

  #statsOf(owner: string): HandlerStats {
    let s = this.#ownerStats.get(owner);
    if (s === undefined) {
      s = { calls: 0, timeMs: 0 };
      this.#ownerStats.set(owner, s);
    }
    return s;
  }

  /** A registrar whose registrations carry `owner`: hand it to a plugin's `registerHooks`. */
  forOwner(owner: string): OwnerHookRegistrar {
    const checked = checkOwner(owner);
    if (checked === undefined) throw new PluginError('InvalidArgument', 'owner must be a non-empty string');
    const registerOwned = (
      name: string,
      priority: number,
      handler: HookHandler,
      options?: RegisterOptions,
    ): Registration => this.register(name, priority, handler, { ...options, owner: checked });
    return Object.freeze({
      owner: checked,
      register: registerOwned,
      define: <T>(name: string, codec: HookCodec<T>): TypedHook<T> =>
        new TypedHook<T>(name, codec, registerOwned, this.execute.bind(this)),
      unregisterAll: (): number => this.unregisterAll(checked),
    });
  }

  /**
   * A typed view of hook `name`: handlers take and return `T`, the wire stays bytes.
   * @example `const onRequest = hooks.define<Req>('on_request', jsonCodec);`
   */
  define<T>(name: string, codec: HookCodec<T>): TypedHook<T> {
    checkHookName(name);
    return new TypedHook<T>(name, codec, this.register.bind(this), this.execute.bind(this));
  }

  /** Sets per-hook behaviour (failure isolation, default budget). Applies to executions that start afterwards. */
  configure(name: string, config: HookConfig): void {
    checkHookName(name);
    const chain = this.#chain(name);
    if (config.isolateFailures !== undefined) {
      if (typeof config.isolateFailures !== 'boolean') {
        throw new PluginError('InvalidArgument', 'isolateFailures must be a boolean');
      }
      chain.isolateFailures = config.isolateFailures;
    }
    if ('timeoutMs' in config) {
      chain.timeoutMs = checkTimeout(config.timeoutMs, 'timeoutMs') ?? this.#defaultTimeoutMs;
    }
  }

  /** Subscribes to handler failures (isolated or not). Returns the unsubscribe function. */
  onFailure(listener: HookFailureListener): () => void {
    if (typeof listener !== 'function') {
      throw new PluginError('InvalidArgument', 'failure listener must be a function');
    }
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /** The handlers of `name` in execution order. */
  getHooks(name: string): RegisteredHook[] {
    const chain = this.#chains.get(name);
    if (chain === undefined) return [];
    return chain.entries().map((e) =>
      Object.freeze({
        id: e.id,
        name: e.name,
        priority: e.priority,
        band: priorityBand(e.priority),
        owner: e.owner,
        timeoutMs: e.timeoutMs,
        handler: e.handler,
      }),
    );
  }

  /** Names of hooks that have at least one handler. */
  hookNames(): string[] {
    const out: string[] = [];
    for (const [name, chain] of this.#chains) if (chain.size > 0) out.push(name);
    return out;
  }

  /** Whether hook `name` has a handler. */
  has(name: string): boolean {
    const chain = this.#chains.get(name);
    return chain !== undefined && chain.size > 0;
  }

  /** Number of handlers, on `name` or on every hook. */
  count(name?: string): number {
    if (name !== undefined) return this.#chains.get(name)?.size ?? 0;
    let total = 0;
    for (const chain of this.#chains.values()) total += chain.size;
    return total;
  }

  /**
   * Runs the handlers of `name` in order, each on the previous one's output; resolves to the last output (the input
   * when there are no handlers).
   *
   * Rejects with `HookError` (a handler threw, rejected or returned something other than a `Uint8Array`),
   * `HookTimeout` (a handler spent its budget; sync handlers can't be pre-empted, so their overrun is detected when
   * they return), `Aborted` (the signal fired) or `InvalidArgument` (bad input).
   */
  execute(name: string, data: Uint8Array, options?: ExecuteOptions): Promise<Uint8Array> {
    if (!(data instanceof Uint8Array)) {
      return Promise.reject(
        new PluginError('InvalidArgument', `hook "${String(name)}": data must be a Uint8Array`),
      );
    }
    const signal = options?.signal;
    if (signal?.aborted) return Promise.reject(abortedError(name, signal));
    let budget = this.#executionTimeoutMs;
    if (options?.timeoutMs !== undefined) {
      try {
        budget = checkTimeout(options.timeoutMs, 'timeoutMs');
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (budget === undefined) return this.#run(name, data, signal, undefined);
    // No timer or controller per call (they would cost more than a call): the deadline is checked between handlers
    // and at the end, and folded into the timers that awaited handlers get anyway.
    const started = now();
    return this.#run(name, data, signal, { ms: budget, started, deadline: started + budget });
  }

  #run(
    name: string,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    budget: ExecutionBudget | undefined,
  ): Promise<Uint8Array> {
    // Hosts tend to execute one hook over and over: skip the map lookup for a repeat.
    let chain = this.#lastChain;
    if (chain === undefined || chain.name !== name) {
      chain = this.#chains.get(name);
      if (chain === undefined) return Promise.resolve(data);
      this.#lastChain = chain;
    }
    const entries = chain.entries();
    const n = entries.length;
    if (n === 0) return Promise.resolve(data);
    const info: HookCallInfo = signal === undefined ? chain.info : { hookName: name, signal };
    // Configuration is read once: a `configure` during the execution applies to the next one.
    const isolated = chain.isolateFailures;
    // Read once, as the general path does: a `configure` during the execution applies to the next one.
    const chainTimeout = chain.timed ? chain.timeoutMs : undefined;
    const timed = chain.timed;
    // What the timed handlers of this execution share (an owner charges its handlers' time to one call budget).
    const execution = timed ? {} : undefined;
    // The latest clock reading, reused where nothing ran since: the execution's start is the first handler's start,
    // and a timed handler's end reading is the next deadline check's (one read per handler, not three).
    let clock = budget === undefined ? Number.NaN : budget.started;
    let current = data;
    // The fast path: plain sync calls until a handler returns a promise. A handler with a time budget goes through
    // `callTimed`, which for a synchronous handler costs a clock read (no timer, no controller unless it asks for its
    // signal); the first promise hands over to the general path.
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      if (i > 0 && signal?.aborted) return Promise.reject(abortedError(name, signal));
      if (i > 0 && budget !== undefined) {
        if (Number.isNaN(clock)) clock = now();
        if (clock >= budget.deadline) return Promise.reject(executionOverrun(name, budget));
      }
      const timeoutMs = timed ? (entry.timeoutMs ?? chainTimeout) : undefined;
      let result: Awaitable<Uint8Array> | Promise<unknown>;
      let thenable: boolean;
      try {
        if (timeoutMs === undefined) {
          result = entry.handler(current, info);
          clock = Number.NaN;
        } else {
          const started = Number.isNaN(clock) ? now() : clock;
          result = this.#callTimed(
            entry,
            current,
            signal,
            timeoutMs,
            budget === undefined ? Number.POSITIVE_INFINITY : budget.deadline - started,
            budget?.ms,
            execution,
            started,
          );
          clock = this.#syncEnd;
        }
        if (result instanceof Uint8Array) {
          current = result;
          continue;
        }
        // Inside the try: a hostile result can throw from a `then` getter.
        thenable = isThenable(result);
      } catch (error) {
        clock = Number.NaN;
        const stop = this.#fail(chain, entry, error, signal, isolated);
        if (stop !== undefined) return Promise.reject(stop);
        continue;
      }
      if (thenable) {
        const pending = result as PromiseLike<unknown>;
        // The last handler: one `.then` is cheaper than entering an async function.
        if (i === n - 1 && signal === undefined && budget === undefined)
          return this.#settleLast(chain, entry, pending, current, isolated);
        // A timed handler's promise already races its own budget and what is left of the execution's.
        return this.#runAsync({
          chain,
          entries,
          start: i,
          input: current,
          signal,
          info,
          isolated,
          pending,
          pendingRaced: timeoutMs !== undefined,
          budget,
          execution,
        });
      }
      clock = Number.NaN;
      const stop = this.#fail(chain, entry, badReturn(result), signal, isolated);
      if (stop !== undefined) return Promise.reject(stop);
    }
    // A synchronous chain can't be pre-empted: its overrun of the execution budget shows when it returns.
    if (budget !== undefined && (Number.isNaN(clock) ? now() : clock) > budget.deadline)
      return Promise.reject(executionOverrun(name, budget));
    return Promise.resolve(current);
  }

  /** Settles the promise of the last handler of an execution without a signal. */
  #settleLast(
    chain: HookChain,
    entry: HookEntry,
    pending: PromiseLike<unknown>,
    input: Uint8Array,
    isolated: boolean,
  ): Promise<Uint8Array> {
    const promise = pending instanceof Promise ? pending : Promise.resolve(pending);
    if (!isolated) {
      // Without isolation the continuations need no per-call state: made once per handler, reused.
      let settle = entry.settle;
      if (settle === undefined) {
        settle = {
          ok: (out: unknown): Uint8Array => {
            if (out instanceof Uint8Array) return out;
            throw this.#fail(chain, entry, badReturn(out), undefined, false);
          },
          err: (error: unknown): never => {
            throw this.#fail(chain, entry, error, undefined, false);
          },
        };
        entry.settle = settle;
      }
      return promise.then(settle.ok, settle.err);
    }
    return promise.then(
      (out) => {
        if (out instanceof Uint8Array) return out;
        this.#fail(chain, entry, badReturn(out), undefined, true);
        return input;
      },
      (error: unknown) => {
        this.#fail(chain, entry, error, undefined, true);
        return input;
      },
    );
  }

  /**
   * The general path, from handler `run.start` on (whose promise is `run.pending`). Sync results still go on without
   * an await; only promises are awaited. Under a whole-execution budget, its `ExecutionTimeout` becomes the
   * execution's `HookTimeout`, and a run that ends past the deadline is one too.
   */
  async #runAsync(run: AsyncRun): Promise<Uint8Array> {
    const { chain, entries, signal, info, isolated, budget } = run;
    let current = run.input;
    let waiting: PromiseLike<unknown> | undefined = run.pending;
    let raced = run.pendingRaced;
    const deadline = budget?.deadline;
    const budgetMs = budget?.ms;
    const left = (): number => (deadline === undefined ? Number.POSITIVE_INFINITY : deadline - now());
    // Read before the first await, so this is the configuration the execution started with.
    const chainTimeout = chain.timeoutMs;
    const execution = run.execution ?? {};
    try {
      for (let i = run.start; i < entries.length; i++) {
        const entry = entries[i]!;
        if (waiting === undefined && signal?.aborted) throw abortedError(chain.name, signal);
        if (budgetMs !== undefined && waiting === undefined && left() <= 0)
          throw new ExecutionTimeout(budgetMs);
        const timeoutMs = entry.timeoutMs ?? chainTimeout;
        let out: unknown;
        try {
          if (waiting !== undefined) {
            const p = waiting;
            waiting = undefined;
            const alreadyRaced = raced;
            raced = false;
            out =
              alreadyRaced || (signal === undefined && deadline === undefined)
                ? await p
                : await this.#race(p, signal, undefined, undefined, Math.max(0, left()), budgetMs);
          } else if (timeoutMs !== undefined) {
            const r = this.#callTimed(entry, current, signal, timeoutMs, left(), budgetMs, execution);
            out = r instanceof Uint8Array ? r : await r;
          } else {
            out = entry.handler(current, info);
            if (isThenable(out)) {
              out =
                signal === undefined && deadline === undefined
                  ? await out
                  : await this.#race(out, signal, undefined, undefined, Math.max(0, left()), budgetMs);
            }
          }
          if (!(out instanceof Uint8Array)) throw badReturn(out);
        } catch (error) {
          // The whole execution's budget is not this handler's failure: never isolated, never reported as one.
          if (error instanceof ExecutionTimeout) throw error;
          const stop = this.#fail(chain, entry, error, signal, isolated);
          if (stop !== undefined) throw stop;
          continue;
        }
        current = out;
      }
    } catch (error) {
      throw budget !== undefined && error instanceof ExecutionTimeout
        ? executionOverrun(chain.name, budget, error)
        : error;
    }
    if (budget !== undefined && now() > budget.deadline) throw executionOverrun(chain.name, budget);
    return current;
  }

  /**
   * Calls a handler that has a time budget, with its own signal (aborted on timeout or on the execution's abort). The
   * signal's controller is made only when the handler reads `info.signal`: a handler that never looks at it costs no
   * controller and no listener, and a synchronous one no timer either (its overrun is detected when it returns).
   */
  #callTimed(
    entry: HookEntry,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    timeoutMs: number,
    executionLeftMs = Number.POSITIVE_INFINITY,
    executionBudgetMs?: number,
    execution?: object,
    started = now(),
  ): Uint8Array | Promise<unknown> {
    const info = new TimedCallInfo(entry.name, signal, execution);
    let result: unknown;
    let thenable: boolean;
    try {
      result = entry.handler(data, info);
      thenable = isThenable(result);
    } catch (error) {
      info.unlink();
      throw error;
    }
    const stats = entry.stats;
    if (!thenable) {
      info.unlink();
      const end = now();
      this.#syncEnd = end;
      const elapsed = end - started;
      if (stats !== undefined) {
        stats.calls++;
        stats.timeMs += elapsed;
      }
      if (elapsed > timeoutMs) throw new HandlerTimeout(timeoutMs, elapsed);
      if (!(result instanceof Uint8Array)) throw badReturn(result);
      return result;
    }
    if (stats !== undefined) {
      stats.calls++;
      stats.timeMs += now() - started;
    }
    const remaining = Math.max(0, timeoutMs - (now() - started));
    // The handler's own budget, or what is left of the execution's when that ends first.
    const ownFirst = remaining <= executionLeftMs - (now() - started);
    return this.#race(
      result as PromiseLike<unknown>,
      signal,
      info,
      ownFirst ? timeoutMs : undefined,
      ownFirst ? remaining : Math.max(0, executionLeftMs - (now() - started)),
      ownFirst ? undefined : executionBudgetMs,
    ).finally(() => info.unlink());
  }

  /**
   * Settles with `pending`, unless the execution is aborted or the handler's budget runs out first. The handler's
   * late outcome is consumed either way, so it never becomes an unhandled rejection.
   */
  #race(
    pending: PromiseLike<unknown>,
    signal: AbortSignal | undefined,
    controller: Pick<AbortController, 'abort'> | undefined,
    timeoutMs: number | undefined,
    remainingMs: number,
    executionBudgetMs?: number,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (timeoutMs !== undefined || executionBudgetMs !== undefined) {
        timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          const error =
            timeoutMs !== undefined
              ? new HandlerTimeout(timeoutMs, timeoutMs)
              : new ExecutionTimeout(executionBudgetMs ?? 0);
          controller?.abort(error);
          reject(error);
        }, remainingMs);
      }
      // Attached first, so a late rejection of an abandoned handler is always handled.
      try {
        pending.then(
          (value) => {
            cleanup();
            resolve(value);
          },
          (error: unknown) => {
            cleanup();
            reject(error);
          },
        );
      } catch (error) {
        // A thenable whose `then` throws.
        cleanup();
        reject(error);
        return;
      }
      if (signal !== undefined) {
        if (signal.aborted) onAbort();
        else signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /**
   * Classifies a handler failure. Returns the error that stops the execution, or undefined when the hook isolates
   * failures and the chain goes on.
   */
  #fail(
    chain: HookChain,
    entry: HookEntry,
    cause: unknown,
    signal: AbortSignal | undefined,
    isolated: boolean,
  ): PluginError | undefined {
    // Cancellation is the caller's decision, not the handler's failure: never isolated, never reported.
    if (signal?.aborted) return abortedError(chain.name, signal);
    const error = handlerError(entry, cause);
    const listeners = this.#listeners;
    if (listeners.length > 0) {
      const failure: HookFailure = Object.freeze({
        hookName: entry.name,
        handlerId: entry.id,
        owner: entry.owner,
        priority: entry.priority,
        error,
        isolated,
      });
      for (const listener of listeners) {
        try {
          listener(failure);
        } catch {
          // A listener's own bug must not change the outcome of the chain.
        }
      }
    }
    return isolated ? undefined : error;
  }
}
