import {
  type Awaitable,
  checkHookName,
  type HookAbortListener,
  type HookCallInfo,
  type HookHandler,
  type HookPriority,
  type HookRegistrar,
  isThenable,
  PluginError,
  priorityBand,
} from '@plugward/types';
import type { HookCodec } from './codec.js';
import { type Deadline, DeadlineQueue } from './deadline-queue.js';
import { type HandlerStats, HookChain, type HookEntry } from './hook-chain.js';
import { abortedError, badReturn, ExecutionTimeout, HandlerTimeout, handlerError } from './hook-errors.js';
import { TypedHook } from './typed-hook.js';

/** Options of one registration. */
export interface RegisterOptions {
  /** Who owns the handler (a plugin name); `unregisterAll(owner)` removes it and errors name it. */
  owner?: string;
  /** Time budget of this handler per call, ms (overrides the hook's and the registry's default). */
  timeoutMs?: number;
  /**
   * Time, ms, this handler adds to the registry's whole-execution budget of every execution it is part of (default
   * 0). A host that bounds a handler by a budget of its own and skips it past that (an untrusted plugin's handler)
   * gives that budget here: handlers that each stay within their own budget then can't together use up the time of
   * the others, and the execution is still bounded (by the registry's budget plus the shares). An execution's own
   * `timeoutMs` is not extended.
   */
  budgetShareMs?: number;
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
   * many handlers, each within its own budget, still ends in bounded time. Default: none. With
   * {@link executionTimeoutPerHandlerMs}, the least budget of an execution (a short chain's).
   */
  executionTimeoutMs?: number;
  /**
   * Makes the whole-execution budget grow with the chain: an execution over `n` handlers gets
   * `max(executionTimeoutMs, n × executionTimeoutPerHandlerMs)`, at most {@link executionTimeoutMaxMs}. A long
   * chain of well-behaved handlers then isn't cut off for its length, and any chain still ends in bounded time.
   * Default: none (the budget is `executionTimeoutMs` whatever the chain's length).
   */
  executionTimeoutPerHandlerMs?: number;
  /** Ceiling of a growing whole-execution budget, ms (see {@link executionTimeoutPerHandlerMs}). Default 2³¹−1. */
  executionTimeoutMaxMs?: number;
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

/** The budget of one whole execution (made when an execution goes asynchronous or overruns). */
interface ExecutionBudget {
  ms: number;
  started: number;
  deadline: number;
}

/** How a registry sizes whole-execution budgets (see `HookRegistryOptions.executionTimeoutPerHandlerMs`). */
interface ExecutionBudgetRule {
  minMs: number;
  perHandlerMs: number | undefined;
  maxMs: number;
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
  /** The first timed call of this execution, which holds what they share (`HookCallInfo.execution`). */
  root: TimedCallInfo | undefined;
}

/** What a timed call makes only when asked (most calls never need any of it). */
interface TimedCallState {
  /** The object the timed calls of one execution share (kept by the execution's first timed call). */
  shared?: object;
  controller?: AbortController;
  onAbort?: () => void;
  /** Set when the budget fired before the handler asked for its signal: a signal made later is born aborted. */
  fired?: { reason: unknown };
}

/**
 * The `info` of a handler with a time budget, and the state of that one call: its `signal` is made on first read
 * (most handlers never read it, and an AbortController per call costs more than the call), and so is the `execution`
 * object the timed calls of one execution share (kept by the execution's first timed call). One small object per call;
 * everything else it may need sits in one state object made on demand.
 */
class TimedCallInfo implements HookCallInfo {
  readonly hookName: string;
  readonly #execution: AbortSignal | undefined;
  /** The execution's first timed call (undefined: this one is). */
  readonly #root: TimedCallInfo | undefined;
  #state: TimedCallState | undefined;
  /** Told when the budget fires (see `onAbort`): a field, not state made per call. */
  #listener: HookAbortListener | undefined;

  constructor(hookName: string, execution: AbortSignal | undefined, root: TimedCallInfo | undefined) {
    this.hookName = hookName;
    this.#execution = execution;
    this.#root = root;
    this.#state = undefined;
    this.#listener = undefined;
  }

  /**
   * One listener of the budget's firing, without a signal (an IPC request that ends at the handler's deadline: no
   * timer, controller or check of its own). Not when the call's signal follows the execution's (that needs the signal).
   */
  onAbort(listener: HookAbortListener): boolean {
    if (this.#listener !== undefined || this.#execution !== undefined || this.#state?.fired !== undefined)
      return false;
    this.#listener = listener;
    return true;
  }

  /** Shared by the timed handlers of one execution (see `HookCallInfo.execution`). */
  get execution(): object {
    const root = this.#root ?? this;
    root.#state ??= {};
    root.#state.shared ??= {};
    return root.#state.shared;
  }

  get signal(): AbortSignal {
    this.#state ??= {};
    const state = this.#state;
    if (state.controller !== undefined) return state.controller.signal;
    const controller = new AbortController();
    state.controller = controller;
    const execution = this.#execution;
    if (state.fired !== undefined) controller.abort(state.fired.reason);
    else if (execution !== undefined) {
      if (execution.aborted) controller.abort(execution.reason);
      else {
        state.onAbort = (): void => controller.abort(execution.reason);
        execution.addEventListener('abort', state.onAbort, { once: true });
      }
    }
    return controller.signal;
  }

  /** The budget fired: abort the handler's signal (now, or when it is made) and tell the listener. */
  abort(reason: unknown): void {
    this.#state ??= {};
    this.#state.fired = { reason };
    this.#state.controller?.abort(reason);
    const listener = this.#listener;
    if (listener !== undefined) {
      this.#listener = undefined;
      try {
        listener(reason, this);
      } catch {
        // A listener's failure must not change how the budget ends the call.
      }
    }
  }

  /** The call is over: stop listening to the execution's signal; no listener is told any more. */
  unlink(): void {
    this.#listener = undefined;
    const state = this.#state;
    if (state?.onAbort !== undefined) {
      this.#execution?.removeEventListener('abort', state.onAbort);
      state.onAbort = undefined;
    }
  }
}

/**
 * One awaited promise racing its deadline (a handler's own budget, or what is left of the execution's) and the
 * execution's signal: a queued {@link Deadline} of the registry's {@link DeadlineQueue} and the signal's listener
 * (`handleEvent`), one object — no timer, closure or controller of its own.
 */
class Race implements Deadline {
  at = 0;
  seq = 0;
  slot = -1;
  /** The awaited promise settled (or the race was decided otherwise): nothing more to do. */
  done = false;
  reject!: (error: unknown) => void;

  constructor(
    readonly queue: DeadlineQueue,
    readonly signal: AbortSignal | undefined,
    /** The timed call whose signal the deadline aborts. */
    readonly info: TimedCallInfo | undefined,
    /** Set when the deadline is the handler's own budget (a `HandlerTimeout`); else it is the execution's. */
    readonly timeoutMs: number | undefined,
    readonly executionBudgetMs: number | undefined,
  ) {}

  /** The awaited promise settled first. */
  settle(): void {
    this.done = true;
    this.queue.cancel(this);
    this.signal?.removeEventListener('abort', this);
    this.info?.unlink();
  }

  /** The deadline came first. */
  expire(): void {
    this.done = true;
    this.signal?.removeEventListener('abort', this);
    const error =
      this.timeoutMs !== undefined
        ? new HandlerTimeout(this.timeoutMs, this.timeoutMs)
        : new ExecutionTimeout(this.executionBudgetMs ?? 0);
    this.info?.abort(error);
    this.info?.unlink();
    this.reject(error);
  }

  /** The execution's signal fired first. */
  handleEvent(): void {
    this.done = true;
    this.queue.cancel(this);
    this.info?.unlink();
    this.reject(this.signal?.reason);
  }
}

/** What a {@link LastCall} reports to its registry (one object per registry, made once). */
interface LastCallHandlers {
  value(call: LastCall, out: unknown): void;
  error(call: LastCall, error: unknown): void;
  expire(call: LastCall): void;
}

const NOOP = (): void => {};
// Read once: a handler can't swap it for its promises' `then` (see `HookRegistry.#settleLastTimed`).
const promiseThen = Promise.prototype.then;

/**
 * The last handler of an execution without a signal, when a deadline bounds it (its own budget, the execution's, or
 * both): the handler's promise is settled into the execution's promise and raced against the deadline by this one
 * record — a queued {@link Deadline} of the registry's {@link DeadlineQueue}, with the promise's continuations — so a
 * budget costs no promise, closure or timer of its own until it fires (issue 17: the race and the settle were two
 * promises, four closures and an object per call). Records are reused: one goes back to the registry's pool only
 * once the race is decided *and* the handler's promise has settled (its continuations can fire no more: a native
 * promise calls one of them once); a record raced against another thenable is never reused.
 */
class LastCall implements Deadline {
  at = 0;
  seq = 0;
  slot = -1;
  chain: HookChain | undefined;
  entry: HookEntry | undefined;
  input: Uint8Array | undefined;
  isolated = false;
  /** The timed call whose signal the deadline aborts (undefined: the handler has no budget of its own). */
  info: TimedCallInfo | undefined;
  /** Set when the deadline is the handler's own budget (a `HandlerTimeout`); else it is the execution's. */
  timeoutMs: number | undefined;
  /** The execution's whole budget and its start (undefined: none). */
  budgetMs: number | undefined;
  started = 0;
  deadline = Number.POSITIVE_INFINITY;
  resolve: (value: Uint8Array) => void = NOOP;
  reject: (error: unknown) => void = NOOP;
  /** The outcome is given (the promise settled first, or the deadline came). */
  decided = false;
  /** The handler's promise settled (its continuations ran). */
  settled = false;
  /** The handler's promise is a native promise: the record may be reused once both flags are set. */
  poolable = false;
  readonly capture: (resolve: (value: Uint8Array) => void, reject: (error: unknown) => void) => void;
  readonly onValue: (out: unknown) => void;
  readonly onError: (error: unknown) => void;
  readonly expire: () => void;

  constructor(handlers: LastCallHandlers) {
    this.capture = (resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    };
    this.onValue = (out) => handlers.value(this, out);
    this.onError = (error) => handlers.error(this, error);
    this.expire = () => handlers.expire(this);
  }
}

/** Idle {@link LastCall} records a registry keeps. */
const LAST_CALL_POOL = 64;

/** The `HookTimeout` of an execution past its whole budget of `ms` (started at `started`). */
function executionOverrun(name: string, ms: number, started: number, cause?: unknown): PluginError {
  return new PluginError('HookTimeout', `hook "${name}": the whole execution exceeded its ${ms} ms budget`, {
    cause: cause ?? new ExecutionTimeout(ms),
    details: {
      hook: name,
      timeoutMs: ms,
      elapsedMs: Math.round(now() - started),
      scope: 'execution',
    },
  });
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

/** Each owner's registered entries, on every hook: what `unregisterAll(owner)` removes, without a scan of the others. */
type OwnedEntries = Map<string, Set<HookEntry>>;

/** Takes `entry` out of `chain` and out of its owner's entries; false when it was gone already. */
function removeEntry(owned: OwnedEntries, chain: HookChain, entry: HookEntry): boolean {
  if (!chain.remove(entry)) return false;
  const owner = entry.owner;
  if (owner !== undefined) {
    const mine = owned.get(owner);
    if (mine?.delete(entry) && mine.size === 0) owned.delete(owner);
  }
  return true;
}

/** A registration handle: one object, no closure. */
class HookRegistration implements Registration {
  readonly id: number;
  readonly #chain: HookChain;
  readonly #entry: HookEntry;
  readonly #owned: OwnedEntries;

  constructor(chain: HookChain, entry: HookEntry, owned: OwnedEntries) {
    this.#chain = chain;
    this.#entry = entry;
    this.#owned = owned;
    this.id = entry.id;
  }

  unregister(): boolean {
    return removeEntry(this.#owned, this.#chain, this.#entry);
  }
}

// Read once: `globalThis.performance` is a getter in Node, and a budget reads the clock on every call.
const clock = globalThis.performance;

function now(): number {
  return clock.now();
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
  /**
   * Each owner's entries: `unregisterAll(owner)` removes them one by one (a scan of each one's block), so unloading N
   * plugins on one hook costs O(N) block scans, not N rebuilds of the whole chain (issue 17: `close()` of 500).
   */
  readonly #owned: OwnedEntries = new Map();
  #lastChain: HookChain | undefined;
  /** The clock reading `callTimed` took when its handler returned synchronously (reused by the fast path). */
  #syncEnd = Number.NaN;
  #nextId = 1;
  #listeners: readonly HookFailureListener[] = [];
  readonly #defaultTimeoutMs: number | undefined;
  /** Whole-execution budgets (undefined: none unless an execution sets one). */
  readonly #executionBudget: ExecutionBudgetRule | undefined;
  /** Every deadline of this registry's awaited handlers, on one timer. */
  readonly #deadlines = new DeadlineQueue(now);
  /** Idle records of {@link LastCall}, reused call after call. */
  readonly #lastCalls: LastCall[] = [];
  readonly #lastCallHandlers: LastCallHandlers = {
    value: (call, out) => this.#lastValue(call, out),
    error: (call, error) => this.#lastError(call, error),
    expire: (call) => this.#lastExpired(call),
  };

  constructor(options: HookRegistryOptions = {}) {
    this.#defaultTimeoutMs = checkTimeout(options.defaultTimeoutMs, 'defaultTimeoutMs');
    const minMs = checkTimeout(options.executionTimeoutMs, 'executionTimeoutMs');
    const perHandlerMs = checkTimeout(options.executionTimeoutPerHandlerMs, 'executionTimeoutPerHandlerMs');
    const maxMs = checkTimeout(options.executionTimeoutMaxMs, 'executionTimeoutMaxMs');
    if (maxMs !== undefined && perHandlerMs === undefined) {
      throw new PluginError('InvalidArgument', 'executionTimeoutMaxMs needs executionTimeoutPerHandlerMs');
    }
    if (maxMs !== undefined && minMs !== undefined && maxMs < minMs) {
      throw new PluginError(
        'InvalidArgument',
        `executionTimeoutMaxMs (${maxMs}) is less than executionTimeoutMs (${minMs})`,
      );
    }
    this.#executionBudget =
      minMs === undefined && perHandlerMs === undefined
        ? undefined
        : { minMs: minMs ?? 0, perHandlerMs, maxMs: maxMs ?? MAX_TIMEOUT_MS };
    if (options.onFailure !== undefined) this.onFailure(options.onFailure);
  }

  /**
   * The registry's deadline queue: the budgets of its awaited handlers, on one timer (`performance.now()` ms). A
   * wrapper that enforces a budget of its own inside a handler (the registry's isolated untrusted handlers) queues its
   * deadlines here too, so that budget costs nothing until it fires either.
   */
  get deadlines(): DeadlineQueue {
    return this.#deadlines;
  }

  /** The registry's whole-execution budget for a chain of `n` handlers, ms (undefined: none). */
  #executionBudgetMs(n: number, sharesMs: number): number | undefined {
    const rule = this.#executionBudget;
    if (rule === undefined) return undefined;
    const per = rule.perHandlerMs;
    const base = per === undefined ? rule.minMs : Math.min(rule.maxMs, Math.max(rule.minMs, n * per));
    return Math.min(MAX_TIMEOUT_MS, base + sharesMs);
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
    const budgetShareMs = checkTimeout(options?.budgetShareMs, 'budgetShareMs') ?? 0;
    const stats = owner !== undefined && timeoutMs !== undefined ? this.#statsOf(owner) : undefined;
    const entry: HookEntry = {
      id: this.#nextId++,
      name,
      priority,
      handler,
      owner,
      timeoutMs,
      budgetShareMs,
      stats,
    };
    const chain = this.#chain(name);
    chain.insert(entry);
    if (owner !== undefined) {
      let mine = this.#owned.get(owner);
      if (mine === undefined) {
        mine = new Set();
        this.#owned.set(owner, mine);
      }
      mine.add(entry);
    }
    return new HookRegistration(chain, entry, this.#owned);
  }

  /** Removes the handler with registration id `id` (a scan; prefer `Registration.unregister`). False if none. */
  unregister(id: number): boolean {
    for (const chain of this.#chains.values()) {
      const entry = chain.find(id);
      if (entry !== undefined) return removeEntry(this.#owned, chain, entry);
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
    const mine = this.#owned.get(owner);
    if (mine !== undefined) {
      this.#owned.delete(owner);
      for (const entry of mine) {
        const chain = this.#chains.get(entry.name);
        if (chain?.remove(entry)) count++;
      }
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
    let budgetMs: number | undefined;
    if (options?.timeoutMs !== undefined) {
      try {
        budgetMs = checkTimeout(options.timeoutMs, 'timeoutMs');
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return this.#run(name, data, signal, budgetMs);
  }

  #run(
    name: string,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    explicitBudgetMs: number | undefined,
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
    const budgetMs = explicitBudgetMs ?? this.#executionBudgetMs(n, chain.budgetSharesMs);
    const info: HookCallInfo = signal === undefined ? chain.info : { hookName: name, signal };
    // Configuration is read once: a `configure` during the execution applies to the next one.
    const isolated = chain.isolateFailures;
    // Read once, as the general path does: a `configure` during the execution applies to the next one.
    const chainTimeout = chain.timed ? chain.timeoutMs : undefined;
    const timed = chain.timed;
    // The execution's first timed call holds what its timed handlers share (an owner charges its handlers' time to
    // one call budget), made only if one asks.
    let root: TimedCallInfo | undefined;
    // No timer or controller per call (they would cost more than a call): the deadline is checked between handlers
    // and at the end, and handed to the registry's deadline queue when a handler is awaited. The latest clock
    // reading is reused where nothing ran since: the execution's start is the first handler's start, and a timed
    // handler's end reading is the next deadline check's (one read per handler, not three).
    let clock = budgetMs === undefined ? Number.NaN : now();
    const started = clock;
    const deadline = budgetMs === undefined ? Number.POSITIVE_INFINITY : clock + budgetMs;
    let current = data;
    // The fast path: plain sync calls until a handler returns a promise. A handler with a time budget goes through
    // `callTimed`, which for a synchronous handler costs a clock read (no timer, no controller unless it asks for its
    // signal); the first promise hands over to the general path.
    for (let i = 0; i < n; i++) {
      const entry = entries[i]!;
      if (i > 0 && signal?.aborted) return Promise.reject(abortedError(name, signal));
      if (i > 0 && budgetMs !== undefined) {
        if (Number.isNaN(clock)) clock = now();
        if (clock >= deadline) return Promise.reject(executionOverrun(name, budgetMs, started));
      }
      const timeoutMs = timed ? (entry.timeoutMs ?? chainTimeout) : undefined;
      let result: Awaitable<Uint8Array> | PromiseLike<unknown>;
      let thenable: boolean;
      let call: TimedCallInfo | undefined;
      let at = 0;
      try {
        if (timeoutMs === undefined) {
          result = entry.handler(current, info);
          clock = Number.NaN;
        } else {
          // Made before the call, so the execution's first timed call holds what they share even if it throws.
          call = new TimedCallInfo(name, signal, root);
          root ??= call;
          at = Number.isNaN(clock) ? now() : clock;
          result = this.#invokeTimed(entry, current, call, timeoutMs, at);
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
        if (i === n - 1 && signal === undefined) {
          if (budgetMs === undefined && call === undefined) {
            return this.#settleLast(chain, entry, pending, current, isolated);
          }
          // Settled and raced against the nearer of its own deadline and the execution's by one pooled record.
          return this.#settleLastTimed(chain, entry, pending, current, isolated, call, timeoutMs, at, {
            budgetMs,
            started,
            deadline,
          });
        }
        // A timed handler's promise races its own budget and what is left of the execution's.
        return this.#runAsync({
          chain,
          entries,
          start: i,
          input: current,
          signal,
          info,
          isolated,
          pending:
            call === undefined
              ? pending
              : this.#raceTimed(pending, signal, call, timeoutMs as number, at, deadline, budgetMs),
          pendingRaced: call !== undefined,
          budget: budgetMs === undefined ? undefined : { ms: budgetMs, started, deadline },
          root,
        });
      }
      clock = Number.NaN;
      const stop = this.#fail(chain, entry, badReturn(result), signal, isolated);
      if (stop !== undefined) return Promise.reject(stop);
    }
    // A synchronous chain can't be pre-empted: its overrun of the execution budget shows when it returns.
    if (budgetMs !== undefined && (Number.isNaN(clock) ? now() : clock) > deadline)
      return Promise.reject(executionOverrun(name, budgetMs, started));
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
   * Settles the promise of the last handler of an execution without a signal when a deadline bounds it (the handler's
   * own budget, the execution's, or both): one pooled {@link LastCall} record takes the promise's outcome and is queued
   * as its deadline. The deadline's `HandlerTimeout` is the handler's failure (isolated or not, as any); the budget's
   * `ExecutionTimeout` becomes the execution's `HookTimeout`, and so does an answer that comes past its deadline.
   */
  #settleLastTimed(
    chain: HookChain,
    entry: HookEntry,
    pending: PromiseLike<unknown>,
    input: Uint8Array,
    isolated: boolean,
    info: TimedCallInfo | undefined,
    timeoutMs: number | undefined,
    at: number,
    budget: { budgetMs: number | undefined; started: number; deadline: number },
  ): Promise<Uint8Array> {
    const call = this.#lastCalls.pop() ?? new LastCall(this.#lastCallHandlers);
    call.chain = chain;
    call.entry = entry;
    call.input = input;
    call.isolated = isolated;
    call.info = info;
    call.budgetMs = budget.budgetMs;
    call.started = budget.started;
    call.deadline = budget.deadline;
    call.decided = false;
    call.settled = false;
    // The handler's own budget, or what is left of the execution's when that ends first.
    const own = info === undefined || timeoutMs === undefined ? Number.POSITIVE_INFINITY : at + timeoutMs;
    const ownFirst = own <= budget.deadline;
    call.timeoutMs = ownFirst ? timeoutMs : undefined;
    call.at = ownFirst ? own : budget.deadline;
    const promise = new Promise<Uint8Array>(call.capture);
    // A native promise calls one continuation once (its own `then` property is not consulted: the intrinsic is), so
    // the record can be reused once it settled; anything else gets its own `then` called, and the record is not reused.
    let native = false;
    if (pending instanceof Promise) {
      try {
        promiseThen.call(pending, call.onValue, call.onError);
        native = true;
      } catch {
        // Not a real promise after all (a Promise.prototype in its chain): treated as any thenable below.
      }
    }
    call.poolable = native;
    if (!native) {
      try {
        pending.then(call.onValue, call.onError);
      } catch (error) {
        // A thenable whose `then` throws.
        call.onError(error);
      }
    }
    // A thenable may have settled synchronously inside `then`.
    if (!call.decided) this.#deadlines.add(call);
    return promise;
  }

  /**
   * The last handler's promise settled: true when that decides the call (its deadline taken out of the queue), false
   * when it was decided already or this is a repeated call of a continuation (a thenable calling back twice).
   */
  #settledFirst(call: LastCall): boolean {
    if (call.settled) return false;
    call.settled = true;
    if (call.decided) return false;
    call.decided = true;
    this.#deadlines.cancel(call);
    call.info?.unlink();
    return true;
  }

  /** The last handler's promise fulfilled with `out`. */
  #lastValue(call: LastCall, out: unknown): void {
    if (call.settled) return;
    if (this.#settledFirst(call)) {
      const chain = call.chain as HookChain;
      let result = out;
      let stop: PluginError | undefined;
      if (!(result instanceof Uint8Array)) {
        stop = this.#fail(chain, call.entry as HookEntry, badReturn(result), undefined, call.isolated);
        result = call.input;
      }
      if (stop === undefined && call.budgetMs !== undefined && now() > call.deadline) {
        stop = executionOverrun(chain.name, call.budgetMs, call.started);
      }
      if (stop !== undefined) call.reject(stop);
      else call.resolve(result as Uint8Array);
    }
    this.#releaseLast(call);
  }

  /** The last handler's promise rejected with `error`. */
  #lastError(call: LastCall, error: unknown): void {
    if (call.settled) return;
    if (this.#settledFirst(call)) this.#lastFailed(call, error);
    this.#releaseLast(call);
  }

  /** The last handler's deadline came first: its signal is aborted, the execution settled with the timeout. */
  #lastExpired(call: LastCall): void {
    if (call.decided) return;
    call.decided = true;
    const error =
      call.timeoutMs !== undefined
        ? new HandlerTimeout(call.timeoutMs, call.timeoutMs)
        : new ExecutionTimeout(call.budgetMs ?? 0);
    call.info?.abort(error);
    call.info?.unlink();
    this.#lastFailed(call, error);
  }

  /** Settles the execution of a last handler that failed with `error` (skipped with its input when isolated). */
  #lastFailed(call: LastCall, error: unknown): void {
    const chain = call.chain as HookChain;
    const budgetMs = call.budgetMs;
    if (budgetMs !== undefined && error instanceof ExecutionTimeout) {
      call.reject(executionOverrun(chain.name, budgetMs, call.started, error));
      return;
    }
    const stop = this.#fail(chain, call.entry as HookEntry, error, undefined, call.isolated);
    if (stop !== undefined) call.reject(stop);
    else if (budgetMs !== undefined && now() > call.deadline)
      call.reject(executionOverrun(chain.name, budgetMs, call.started));
    else call.resolve(call.input as Uint8Array);
  }

  /** Back to the pool once nothing can reach the record any more (decided, and its promise settled). */
  #releaseLast(call: LastCall): void {
    if (!call.decided || !call.settled || !call.poolable) return;
    call.chain = undefined;
    call.entry = undefined;
    call.input = undefined;
    call.info = undefined;
    call.resolve = NOOP;
    call.reject = NOOP;
    if (this.#lastCalls.length < LAST_CALL_POOL) this.#lastCalls.push(call);
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
    const deadline = budget === undefined ? Number.POSITIVE_INFINITY : budget.deadline;
    const budgetMs = budget?.ms;
    // Read before the first await, so this is the configuration the execution started with.
    const chainTimeout = chain.timeoutMs;
    let root = run.root;
    try {
      for (let i = run.start; i < entries.length; i++) {
        const entry = entries[i]!;
        // The handler's start, read only when a budget needs it.
        let started = Number.NaN;
        if (waiting === undefined) {
          if (signal?.aborted) throw abortedError(chain.name, signal);
          if (budgetMs !== undefined) {
            started = now();
            if (started >= deadline) throw new ExecutionTimeout(budgetMs);
          }
        }
        const timeoutMs = entry.timeoutMs ?? chainTimeout;
        let out: unknown;
        try {
          if (waiting !== undefined) {
            const p = waiting;
            waiting = undefined;
            const alreadyRaced = raced;
            raced = false;
            out =
              alreadyRaced || (signal === undefined && budgetMs === undefined)
                ? await p
                : await this.#race(p, signal, undefined, undefined, deadline, budgetMs);
          } else if (timeoutMs !== undefined) {
            const call = new TimedCallInfo(chain.name, signal, root);
            root ??= call;
            const at = Number.isNaN(started) ? now() : started;
            const r = this.#callTimed(entry, current, signal, call, timeoutMs, deadline, budgetMs, at);
            out = r instanceof Uint8Array ? r : await r;
          } else {
            out = entry.handler(current, info);
            if (isThenable(out)) {
              out =
                signal === undefined && budgetMs === undefined
                  ? await out
                  : await this.#race(out, signal, undefined, undefined, deadline, budgetMs);
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
        ? executionOverrun(chain.name, budget.ms, budget.started, error)
        : error;
    }
    if (budget !== undefined && now() > budget.deadline)
      throw executionOverrun(chain.name, budget.ms, budget.started);
    return current;
  }

  /**
   * Calls a handler that has a time budget, with its own signal (aborted on timeout or on the execution's abort). The
   * signal's controller is made only when the handler reads `info.signal`: a handler that never looks at it costs no
   * controller and no listener; a synchronous one no deadline either (its overrun is detected when it returns), an
   * asynchronous one a deadline in the registry's queue (no timer of its own).
   */
  #callTimed(
    entry: HookEntry,
    data: Uint8Array,
    signal: AbortSignal | undefined,
    info: TimedCallInfo,
    timeoutMs: number,
    executionDeadline: number,
    executionBudgetMs: number | undefined,
    started: number,
  ): Uint8Array | Promise<unknown> {
    const result = this.#invokeTimed(entry, data, info, timeoutMs, started);
    if (result instanceof Uint8Array) return result;
    return this.#raceTimed(result, signal, info, timeoutMs, started, executionDeadline, executionBudgetMs);
  }

  /**
   * Runs a handler that has a time budget: its bytes (a synchronous overrun or bad return throws), or its promise, not
   * raced yet. Counts the call in its owner's statistics.
   */
  #invokeTimed(
    entry: HookEntry,
    data: Uint8Array,
    info: TimedCallInfo,
    timeoutMs: number,
    started: number,
  ): Uint8Array | PromiseLike<unknown> {
    let result: unknown;
    let thenable: boolean;
    try {
      result = entry.handler(data, info);
      // Bytes first, as on every other path: the common answer, and looking up `then` on a typed array (a miss
      // through three prototypes) cost more than the rest of a timed call's own work (issue 17).
      thenable = !(result instanceof Uint8Array) && isThenable(result);
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
    return result as PromiseLike<unknown>;
  }

  /** A timed handler's promise raced against the nearer of its own deadline and what is left of the execution's. */
  #raceTimed(
    pending: PromiseLike<unknown>,
    signal: AbortSignal | undefined,
    info: TimedCallInfo,
    timeoutMs: number,
    started: number,
    executionDeadline: number,
    executionBudgetMs: number | undefined,
  ): Promise<unknown> {
    const own = started + timeoutMs;
    const ownFirst = own <= executionDeadline;
    return this.#race(
      pending,
      signal,
      info,
      ownFirst ? timeoutMs : undefined,
      ownFirst ? own : executionDeadline,
      ownFirst ? undefined : executionBudgetMs,
    );
  }

  /**
   * Settles with `pending`, unless the execution is aborted or the deadline `at` passes first (a deadline only when
   * `timeoutMs` or `executionBudgetMs` says whose it is). The handler's late outcome is consumed either way, so it
   * never becomes an unhandled rejection. A timed call's `info` is unlinked from the execution's signal when the race
   * is decided.
   */
  #race(
    pending: PromiseLike<unknown>,
    signal: AbortSignal | undefined,
    info: TimedCallInfo | undefined,
    timeoutMs: number | undefined,
    at: number,
    executionBudgetMs: number | undefined,
  ): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const race = new Race(this.#deadlines, signal, info, timeoutMs, executionBudgetMs);
      race.reject = reject;
      // Attached first, so a late rejection of an abandoned handler is always handled.
      try {
        pending.then(
          (value) => {
            race.settle();
            resolve(value);
          },
          (error: unknown) => {
            race.settle();
            reject(error);
          },
        );
      } catch (error) {
        // A thenable whose `then` throws.
        race.settle();
        reject(error);
        return;
      }
      // A thenable may have settled synchronously inside `then`.
      if (race.done) return;
      if (timeoutMs !== undefined || executionBudgetMs !== undefined) {
        race.at = at;
        this.#deadlines.add(race);
      }
      if (signal !== undefined) {
        if (signal.aborted) race.handleEvent();
        else signal.addEventListener('abort', race, { once: true });
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
