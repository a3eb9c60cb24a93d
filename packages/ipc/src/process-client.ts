import { setTimeout as sleep } from 'node:timers/promises';
import {
  type FetchRequest,
  type FetchResponse,
  type HookCallInfo,
  type HookRegistrar,
  type InitializeConfig,
  type IpcRequest,
  type IpcResponse,
  isPluginError,
  type LogLevel,
  type PluginContextApi,
  PluginError,
  type PluginMetrics,
} from '@plugward/types';
import { expectResponse, type IpcChannel } from './channel.js';
import { ipcError } from './errors.js';
import { DEFAULT_LOG_BUDGET, type LogBudget, LogLimiter } from './log-budget.js';
import type { ExecuteHookRequest } from './protocol.js';
import { DEFAULT_REQUEST_RATE, RequestPacer, type RequestRate } from './request-rate.js';

/** The part of a `ChildProcess` the client watches (so a worker or sandbox wrapper can stand in). */
export interface WatchedProcess {
  readonly pid?: number | undefined;
  /** Set once exited (as on `ChildProcess`): a process that died before the client was made is still reported. */
  readonly exitCode?: number | null;
  readonly signalCode?: NodeJS.Signals | null;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

/** Options of a {@link PluginProcessClient}. */
export interface PluginProcessClientOptions {
  /** The plugin's name (log prefix, error messages, hook owner). */
  pluginName: string;
  /** Where the plugin's hooks go: usually the host's `HookRegistry.forOwner(pluginName)`. */
  hooks: HookRegistrar;
  /** The plugin's permission-checked context view (`PluginContext.forPlugin(name, grants)`). */
  context: PluginContextApi;
  /** Receives the plugin's log lines; default: one line on stderr. */
  log?: (level: LogLevel, message: string) => void;
  /** Brokered network (sandbox `restricted` mode). Absent: `Fetch` is refused with `PermissionDenied`. */
  fetch?: (request: FetchRequest, signal: AbortSignal) => Promise<FetchResponse>;
  /** Most hook registrations accepted from the plugin. Default 1024. */
  maxHooks?: number;
  /** Time budget of one forwarded hook call, ms; default the channel's request timeout. */
  hookTimeoutMs?: number;
  /** The plugin's process: its exit (code, signal) is reported in {@link PluginProcessClient.exited}. */
  process?: WatchedProcess;
  /**
   * How much the plugin may log (default {@link DEFAULT_LOG_BUDGET}). Lines over it are dropped and answered with
   * `QuotaExceeded`; the first of a run gives one notice in the log and one call of `onQuotaExceeded`, and the count
   * of dropped lines is logged when lines flow again.
   */
  logBudget?: Partial<LogBudget>;
  /**
   * How fast the plugin's own requests (context, fetch, registrations; log lines have their own budget) are served (default
   * {@link DEFAULT_REQUEST_RATE}: 2000/s, burst 10 000). Past it they wait their turn, so a plugin asking in a loop
   * costs the host a bounded share of its CPU; the first wait of a run is logged once.
   */
  requestRate?: Partial<RequestRate>;
  /**
   * Log lines past the log budget this plugin may have dropped; past it its channel ends with `TooManyRequests` (a
   * dropped line still costs the host a read, a decode and an answer, at whatever rate the plugin writes them). A
   * dropped line counts once per 4 KiB (4096 UTF-16 code units) of its message begun: one megabyte-long line is 256
   * lines here. Default: no limit — the registry sets {@link DEFAULT_DROPPED_LOG_RATE} for untrusted plugins.
   */
  droppedLogRate?: Partial<RequestRate>;
  /** Called when the plugin goes past a quota this client enforces (its log budget); the registry records a violation. */
  onQuotaExceeded?: (error: PluginError) => void;
}

/** How a plugin process ended. */
export interface PluginProcessExit {
  /** Why the channel ended. */
  error: PluginError;
  /** Exit code, when a process was watched and exited normally. */
  exitCode: number | null;
  /** Terminating signal (`SIGSEGV`, `SIGKILL`…), when a process was watched and was killed. */
  signal: NodeJS.Signals | null;
  /**
   * True unless the plugin was shut down on request and its process (if watched) exited with code 0 — or, after it
   * answered its Shutdown, ended on `SIGKILL` (the plugin runtime ends itself so once its answer has left, and the
   * registry ends a process at once after the answer).
   */
  crashed: boolean;
}

/** One hook the plugin registered through the client. */
export interface ForwardedHook {
  name: string;
  priority: number;
  /** Index among this plugin's handlers of `name`, sent back with each ExecuteHook. */
  handlerIndex: number;
}

/**
 * The registry's {@link PluginProcessClientOptions.droppedLogRate} for untrusted plugins: 256 dropped lines a second,
 * 5000 at once (on top of the lines the log budget passes: the default budget's burst is 2000 lines) — each line
 * counted per 4 KiB of it begun, so at most ≈ 1 MiB/s and 20 MiB at once of dropped messages.
 */
export const DEFAULT_DROPPED_LOG_RATE: Readonly<RequestRate> = Object.freeze({ perSecond: 256, burst: 5000 });

/** A dropped log line counts once per this many UTF-16 code units of its message begun. */
const DROPPED_LOG_UNIT_CHARS = 4096;

/** Counts one dropped line of `chars` code units against the dropped-line rate: true once it is past it. */
function pastDropRate(drops: RequestPacer, chars: number): boolean {
  drops.debit(Math.max(1, Math.ceil(chars / DROPPED_LOG_UNIT_CHARS)) - 1);
  return drops.take() > 0;
}

const DROPPED_LOG: IpcResponse = Object.freeze({
  kind: 'Error',
  code: 'QuotaExceeded',
  message: 'log budget exceeded: line dropped',
});

/** What a request refused with `PermissionDenied` costs of the plugin's request pace (a plain one costs 1). */
const DENIED_REQUEST_TOKENS = 20;

function defaultLog(plugin: string): (level: LogLevel, message: string) => void {
  return (level, message) => {
    process.stderr.write(`[plugin ${plugin}] ${level}: ${message.replaceAll('\n', '\n  ')}\n`);
  };
}

/**
 * The host's side of one plugin process: sends `Initialize`/`ExecuteHook`/`GetMetrics`/`Shutdown`, and serves the
 * plugin's requests — `RegisterHook` becomes a registration on the host's registrar whose handler forwards
 * `ExecuteHook` over the channel; context calls go to the plugin's permission-checked `PluginContextApi`; `Log` to
 * the log sink; `Fetch` to the broker. When the channel ends (crash, hostile frame, exit) every pending call fails
 * with `IpcError`, the forwarded hooks are unregistered, and {@link PluginProcessClient.exited} resolves.
 */
export class PluginProcessClient {
  /** Resolves once the plugin is gone: its channel ended and, if a process is watched, the process exited. */
  readonly exited: Promise<PluginProcessExit>;
  readonly pluginName: string;
  readonly #channel: IpcChannel;
  readonly #options: PluginProcessClientOptions;
  readonly #log: (level: LogLevel, message: string) => void;
  readonly #hooks: ForwardedHook[] = [];
  readonly #registrations: unknown[] = [];
  readonly #countByName = new Map<string, number>();
  #shutdownRequested = false;
  #shutdownAnswered = false;
  readonly #logLimiter: LogLimiter;
  readonly #pacer: RequestPacer;
  #paced = false;
  /** Log lines dropped over the budget, when they are limited (`droppedLogRate`). */
  readonly #drops: RequestPacer | undefined;

  constructor(channel: IpcChannel, options: PluginProcessClientOptions) {
    this.#channel = channel;
    this.#options = options;
    this.pluginName = options.pluginName;
    this.#log = options.log ?? defaultLog(options.pluginName);
    this.#logLimiter = new LogLimiter(options.logBudget ?? DEFAULT_LOG_BUDGET);
    this.#pacer = new RequestPacer(options.requestRate ?? DEFAULT_REQUEST_RATE);
    this.#drops = options.droppedLogRate && new RequestPacer(options.droppedLogRate);
    channel.setRequestHandler((request, info) => this.#serve(request, info.signal));
    const processExit = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | undefined>(
      (resolve) => {
        if (options.process === undefined) {
          resolve(undefined);
          return;
        }
        const watched = options.process;
        const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
          // A dead process can't answer: its pending calls fail, naming the signal — once the channel has read what
          // it wrote before it went (its last answers and log lines may still be on their way to this thread).
          channel.peerGone(
            ipcError(
              'PeerClosed',
              `plugin ${this.pluginName} process exited (${signal ?? `code ${String(code)}`})`,
            ),
          );
          resolve({ code, signal });
        };
        if ((watched.exitCode ?? null) !== null || (watched.signalCode ?? null) !== null) {
          onExit(watched.exitCode ?? null, watched.signalCode ?? null);
        } else {
          watched.once('exit', onExit);
        }
      },
    );
    this.exited = Promise.all([channel.closed, processExit]).then(([error, exit]) => {
      this.#unregisterAll();
      const exitCode = exit?.code ?? null;
      const signal = exit?.signal ?? null;
      const clean =
        this.#shutdownRequested &&
        (signal === null
          ? exit === undefined || exitCode === 0
          : signal === 'SIGKILL' && this.#shutdownAnswered);
      return { error, exitCode, signal, crashed: !clean };
    });
  }

  /** Hooks the plugin registered so far. */
  get registeredHooks(): readonly ForwardedHook[] {
    return this.#hooks;
  }

  /**
   * Sends `Initialize`; resolves once the plugin ran `init` and registered its hooks, with what the plugin process
   * reports its code declares (`{ requirements, limits }` from `servePlugin`; untrusted input: validate before use).
   */
  async initialize(config: InitializeConfig, options: { timeoutMs?: number } = {}): Promise<unknown> {
    return expectResponse(
      await this.#channel.sendRequest({ kind: 'Initialize', config }, options),
      'Success',
      this.pluginName,
      this.pluginName,
    ).value;
  }

  /** Runs one of the plugin's hook handlers (`handlerIndex` among its handlers of `hookName`). */
  async executeHook(
    hookName: string,
    data: Uint8Array,
    options: { handlerIndex?: number; signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<Uint8Array> {
    const request: ExecuteHookRequest = { kind: 'ExecuteHook', hookName, data };
    if (options.handlerIndex !== undefined && options.handlerIndex !== 0)
      request.handlerIndex = options.handlerIndex;
    const res = await this.#channel.sendRequest(request, {
      signal: options.signal,
      timeoutMs: options.timeoutMs ?? this.#options.hookTimeoutMs,
    });
    return expectResponse(res, 'HookResult', this.pluginName, this.pluginName).data;
  }

  /**
   * A registered hook's call: like {@link executeHook}, but the call's signal is read from `info` only if the call is
   * still running at the channel's next check (a hook call's signal costs an AbortController; most calls end first).
   */
  async #forward(
    hookName: string,
    data: Uint8Array,
    handlerIndex: number,
    info: HookCallInfo,
  ): Promise<Uint8Array> {
    const request: ExecuteHookRequest = { kind: 'ExecuteHook', hookName, data };
    if (handlerIndex !== 0) request.handlerIndex = handlerIndex;
    const res = await this.#channel.sendRequest(request, {
      signalSource: info,
      timeoutMs: this.#options.hookTimeoutMs,
    });
    return expectResponse(res, 'HookResult', this.pluginName, this.pluginName).data;
  }

  /**
   * Tells the plugin process that context key `key` changed: set to `update.value`, or removed. The frame is written
   * before this returns, so a request sent afterwards (an `ExecuteHook`) reaches the plugin after the update — call it
   * from inside the context write (a `PluginContext.subscribe` listener) and the plugin's copy is current for every
   * later hook call. Nothing to await: when the plugin is already gone this does nothing, and when the update can't be
   * delivered (the value can't be encoded or is larger than a frame, the plugin stopped reading, or it answered with
   * an error) the plugin would go on with a stale copy, so its channel is ended instead and {@link exited} reports
   * why — never a silent divergence.
   */
  pushContext(key: string, update: { removed: true } | { removed: false; value: unknown }): void {
    if (this.#channel.isClosed) return;
    const request: IpcRequest = update.removed
      ? { kind: 'ContextChanged', key, removed: true }
      : { kind: 'ContextChanged', key, removed: false, value: update.value };
    let sent: Promise<IpcResponse>;
    try {
      // No timeout: a plugin that stops answering is caught by the hook budget of its next call.
      sent = this.#channel.trySendRequest(request, { timeoutMs: 0 });
    } catch (e) {
      this.#undelivered(key, e);
      return;
    }
    sent.then(
      (res) => {
        try {
          expectResponse(res, 'Success', this.pluginName, this.pluginName);
        } catch (e) {
          this.#undelivered(key, e);
        }
      },
      () => undefined, // the channel ended: its reason is reported by `exited`
    );
  }

  #undelivered(key: string, e: unknown): void {
    if (this.#channel.isClosed) return;
    const reason = e instanceof Error ? e.message : String(e);
    this.#log(
      'error',
      `context key "${key}" changed but the update could not reach the plugin (${reason}); ending it`,
    );
    this.#channel.destroy(
      ipcError(
        'SendRefused',
        `plugin ${this.pluginName}: the update of context key "${key}" could not be delivered (${reason})`,
        e,
      ),
    );
  }

  /** Asks the plugin process for its metrics. */
  async getMetrics(options: { timeoutMs?: number } = {}): Promise<PluginMetrics> {
    return expectResponse(
      await this.#channel.sendRequest({ kind: 'GetMetrics' }, options),
      'Metrics',
      this.pluginName,
      this.pluginName,
    ).data;
  }

  /**
   * Sends `Shutdown` (the plugin runs `shutdown`, unloads and closes its end), then waits for the channel to end.
   * A plugin that does not answer within `timeoutMs` has its channel destroyed; killing the process is the caller's.
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#shutdownRequested = true;
    try {
      expectResponse(
        await this.#channel.sendRequest({ kind: 'Shutdown' }, options),
        'Success',
        this.pluginName,
        this.pluginName,
      );
      this.#shutdownAnswered = true;
    } finally {
      const timer = setTimeout(
        () =>
          this.#channel.destroy(
            ipcError('ChannelClosed', `plugin ${this.pluginName} did not close after Shutdown`),
          ),
        options.timeoutMs ?? 5000,
      );
      await this.#channel.closed;
      clearTimeout(timer);
    }
  }

  /** Closes the channel (the plugin process sees EOF and exits). */
  close(): Promise<void> {
    return this.#channel.close();
  }

  async #serve(request: IpcRequest | ExecuteHookRequest, signal: AbortSignal): Promise<IpcResponse> {
    // A log line has its own budget (answered at once, dropped past it): pacing it too would hold a chatty plugin's
    // lines in the channel's queue until its requests were refused.
    if (request.kind === 'Log') {
      const res = this.#logLine(request.level, request.message);
      // A dropped line is still work for the host (decoded, judged, answered): past droppedLogRate of them the plugin
      // is flooding, not logging — the same rule as requests refused past the queue.
      if (
        res === DROPPED_LOG &&
        this.#drops !== undefined &&
        pastDropRate(this.#drops, request.message.length)
      ) {
        this.#channel.destroy(
          ipcError(
            'TooManyRequests',
            `plugin ${this.pluginName} keeps logging past its log budget (more dropped lines than it may have)`,
          ),
        );
      }
      return res;
    }
    const wait = this.#pacer.take();
    if (wait > 0) {
      if (!this.#paced) {
        this.#paced = true;
        this.#log(
          'warn',
          'requests to the host are paced: this plugin is asking faster than its request rate',
        );
      }
      // Ends at once when the request is cancelled or the channel ends, with the signal's own reason.
      await sleep(wait, undefined, { signal }).catch(() => {
        throw signal.reason;
      });
    } else {
      this.#paced = false;
    }
    try {
      return await this.#answer(request, signal);
    } catch (e) {
      // Asking again and again for what it was refused is no normal use: a refusal costs the plugin
      // DENIED_REQUEST_TOKENS of its pace (an error answer costs the host more than a plain one, too).
      if (isPluginError(e, 'PermissionDenied')) this.#pacer.debit(DENIED_REQUEST_TOKENS - 1);
      throw e;
    }
  }

  async #answer(request: IpcRequest | ExecuteHookRequest, signal: AbortSignal): Promise<IpcResponse> {
    const ctx = this.#options.context;
    switch (request.kind) {
      case 'RegisterHook':
        return this.#registerHook(request.name, request.priority);
      case 'ContextGet':
        return { kind: 'Success', value: await ctx.get(request.key) };
      case 'ContextSet':
        await ctx.set(request.key, request.value);
        return { kind: 'Success' };
      case 'ContextRemove':
        return { kind: 'Success', value: await ctx.remove(request.key) };
      case 'ContextHas':
        return { kind: 'Success', value: await ctx.has(request.key) };
      case 'ContextKeys':
        return { kind: 'Success', value: await ctx.keys() };
      case 'Fetch': {
        const broker = this.#options.fetch;
        if (broker === undefined) {
          throw new PluginError(
            'PermissionDenied',
            `plugin ${this.pluginName} has no brokered network access`,
          );
        }
        return { kind: 'FetchResult', response: await broker(request.request, signal) };
      }
      default:
        throw new PluginError('Unsupported', `the host does not serve ${request.kind}`);
    }
  }

  #logLine(level: LogLevel, message: string): IpcResponse {
    const verdict = this.#logLimiter.admit(message.length);
    if (verdict.admit) {
      if (verdict.suppressed > 0) {
        this.#log(
          'warn',
          `${verdict.suppressed} log lines of this plugin were suppressed (over its log budget)`,
        );
      }
      this.#log(level, message);
      return { kind: 'Success' };
    }
    if (verdict.error !== undefined) {
      this.#log(
        'warn',
        `log budget exceeded: lines of this plugin are suppressed (${verdict.error.message})`,
      );
      try {
        this.#options.onQuotaExceeded?.(verdict.error);
      } catch {
        // the host's observer must not fail the plugin's call
      }
    }
    return DROPPED_LOG;
  }

  async #registerHook(name: string, priority: number): Promise<IpcResponse> {
    const max = this.#options.maxHooks ?? 1024;
    if (this.#hooks.length >= max) {
      throw new PluginError('HookError', `plugin ${this.pluginName} registered more than ${max} hooks`);
    }
    // Numbered in arrival order, as the plugin numbers its handlers in call order (one ordered stream).
    const handlerIndex = this.#countByName.get(name) ?? 0;
    this.#countByName.set(name, handlerIndex + 1);
    this.#hooks.push({ name, priority, handlerIndex });
    const registration = await this.#options.hooks.register(name, priority, (data, info) =>
      this.#forward(name, data, handlerIndex, info),
    );
    this.#registrations.push(registration);
    return { kind: 'Success' };
  }

  #unregisterAll(): void {
    for (const r of this.#registrations.splice(0)) {
      if (
        r !== null &&
        typeof r === 'object' &&
        typeof (r as { unregister?: unknown }).unregister === 'function'
      ) {
        (r as { unregister(): unknown }).unregister();
      }
    }
  }
}
