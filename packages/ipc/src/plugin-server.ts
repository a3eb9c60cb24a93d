import {
  type ContextChangedRequest,
  type FetchRequest,
  type FetchResponse,
  type HookCallInfo,
  type HookHandler,
  type HookRegistrar,
  type IpcRequest,
  type IpcResponse,
  type LogLevel,
  PluginError,
  type PluginInstance,
  type PluginMetrics,
  type PluginRuntimeApi,
} from '@plugward/types';
import { errorResponse, expectResponse, type IpcChannel } from './channel.js';
import { ContextProxy } from './context-proxy.js';
import type { ExecuteHookRequest } from './protocol.js';

/** Options of {@link servePlugin}. */
export interface ServePluginOptions {
  /** Reads this process's metrics for `GetMetrics`; default: `process.memoryUsage().rss` and `process.cpuUsage()`. */
  metrics?: () => PluginMetrics | Promise<PluginMetrics>;
  /** Timeout of the plugin's context calls, ms (default: the channel's). */
  contextTimeoutMs?: number;
  /**
   * Receives the host's `ContextChanged` updates (a context key the plugin may read was set or removed), synchronously
   * and in stream order — before any `ExecuteHook` the host sent after the change is served. The plugin-side runtime
   * uses it to keep a native plugin's local copy current. What it throws goes back to the host as an `Error`
   * response (the host then ends the plugin rather than let it run on a stale copy). Absent: updates are acknowledged
   * and ignored (a JS plugin reads the host's context directly).
   */
  onContextChanged?: (change: ContextChangedRequest) => void;
}

/** How {@link servePlugin} ended. */
export interface ServeResult {
  /** True when the host asked for `Shutdown` and the plugin was shut down and unloaded. */
  shutdown: boolean;
  /** Why the channel ended (`ChannelClosed` after a Shutdown, `PeerClosed` when the host went away, …). */
  reason: PluginError;
}

type State = 'new' | 'initializing' | 'ready' | 'failed' | 'stopping' | 'stopped';

/**
 * What a hook handler gets besides its data: the signal is the request's, made only if the handler reads it. A class
 * (its getter on the prototype), not an object literal with a getter, which V8 builds ≈ 25× slower — once per call
 * (issue 17).
 */
class ServedHookInfo implements HookCallInfo {
  readonly #request: { readonly signal: AbortSignal };

  constructor(
    readonly hookName: string,
    request: { readonly signal: AbortSignal },
  ) {
    this.#request = request;
  }

  get signal(): AbortSignal {
    return this.#request.signal;
  }
}

/** Metrics of the current process, as the plugin sees itself. */
export function processMetrics(): PluginMetrics {
  const cpu = process.cpuUsage();
  return {
    timestamp: Date.now(),
    source: 'plugin',
    pid: process.pid,
    memoryBytes: process.memoryUsage().rss,
    cpuTimeMs: (cpu.user + cpu.system) / 1000,
  };
}

/**
 * Serves a loaded plugin over `channel`, inside the plugin process (or worker): answers `Initialize` (calls
 * `instance.init` with a {@link ContextProxy} and a runtime whose `log` goes to the host, then `registerHooks`, each
 * registration forwarded to the host as `RegisterHook`), `ExecuteHook` (runs the handler the host names), `GetMetrics`
 * and `Shutdown` (`shutdown` then `unload`, then closes the channel). Resolves when the channel ends — whether by
 * Shutdown or because the host's end closed — so the entry script can exit and no plugin process outlives its host.
 *
 * @example
 * ```ts
 * const channel = new IpcChannel(new net.Socket({ fd: 3, readable: true, writable: true }), { role: 'plugin' });
 * const { shutdown } = await servePlugin(channel, instance);
 * process.exit(shutdown ? 0 : 1);
 * ```
 */
export async function servePlugin(
  channel: IpcChannel,
  instance: PluginInstance,
  options: ServePluginOptions = {},
): Promise<ServeResult> {
  const status: { state: State } = { state: 'new' };
  let unloaded = false;
  const handlers = new Map<string, HookHandler[]>();
  const metrics = options.metrics ?? processMetrics;
  const contextOptions =
    options.contextTimeoutMs === undefined ? {} : { timeoutMs: options.contextTimeoutMs };

  const registrar: HookRegistrar & { pending: Promise<unknown>[] } = {
    pending: [],
    register(name: string, priority: number, handler: HookHandler): Promise<unknown> {
      if (typeof handler !== 'function') {
        throw new PluginError('InvalidArgument', `hook handler for "${name}" must be a function`);
      }
      const list = handlers.get(name) ?? [];
      list.push(handler);
      handlers.set(name, list);
      // The host numbers registrations of one name in arrival order; the stream keeps this order.
      const done = channel
        .sendRequest({ kind: 'RegisterHook', name, priority })
        .then((res) => expectResponse(res, 'Success').value);
      this.pending.push(done);
      return done;
    },
  };

  const unload = async (): Promise<void> => {
    if (unloaded) return;
    unloaded = true;
    await instance.unload();
  };

  const checkResult = (hookName: string, out: unknown): IpcResponse => {
    if (!(out instanceof Uint8Array)) {
      throw new PluginError('HookError', `handler of "${hookName}" returned ${typeof out}, not a Uint8Array`);
    }
    return { kind: 'HookResult', data: out };
  };

  // Not async: a synchronous hook handler is answered without a promise (the hot path of every call).
  const executeHook = (
    req: ExecuteHookRequest,
    request: { readonly signal: AbortSignal },
  ): IpcResponse | Promise<IpcResponse> => {
    if (status.state !== 'ready')
      throw new PluginError('HookError', `plugin ${instance.name} is not initialized`);
    const handler = handlers.get(req.hookName)?.[req.handlerIndex ?? 0];
    if (handler === undefined) {
      throw new PluginError(
        'HookError',
        `plugin ${instance.name} has no handler ${req.handlerIndex ?? 0} on "${req.hookName}"`,
      );
    }
    const out = handler(req.data, new ServedHookInfo(req.hookName, request));
    return out instanceof Promise
      ? out.then((o) => checkResult(req.hookName, o))
      : checkResult(req.hookName, out);
  };

  const handle = async (
    request: IpcRequest | ExecuteHookRequest,
    signal: AbortSignal,
  ): Promise<IpcResponse> => {
    switch (request.kind) {
      case 'ExecuteHook':
        return executeHook(request as ExecuteHookRequest, { signal });
      case 'Initialize': {
        if (status.state !== 'new') {
          throw new PluginError('InitializationError', `plugin ${instance.name} is already ${status.state}`);
        }
        if (request.config.pluginName !== instance.name) {
          throw new PluginError(
            'InitializationError',
            `the host expects plugin "${request.config.pluginName}" but this process loaded "${instance.name}"`,
          );
        }
        status.state = 'initializing';
        const tier = request.config.tier;
        const runtime: PluginRuntimeApi = {
          tier,
          log(level: LogLevel, message: string): void {
            channel.sendRequest({ kind: 'Log', level, message: String(message) }).then(
              () => undefined,
              () => undefined, // logging must never throw into the plugin; a dead channel is reported elsewhere
            );
          },
          ...(request.config.requirements.network.mode === 'restricted'
            ? {
                // The host's broker answers (or refuses with PermissionDenied); the sandbox itself has no network.
                async fetch(req: FetchRequest): Promise<FetchResponse> {
                  const res = await channel.sendRequest({ kind: 'Fetch', request: req });
                  return expectResponse(res, 'FetchResult', instance.name).response;
                },
              }
            : {}),
        };
        try {
          await instance.init(new ContextProxy(channel, contextOptions), runtime);
          await instance.registerHooks(registrar);
          await Promise.all(registrar.pending);
        } catch (e) {
          // No second attempt: handlers may be half registered on the host, which treats this as a failed load.
          status.state = 'failed';
          throw e;
        }
        status.state = 'ready';
        // What the plugin's code declares, for the host to check against what it granted (the host decides).
        return {
          kind: 'Success',
          value: { requirements: instance.requirements, limits: instance.declaredLimits },
        };
      }
      case 'GetMetrics':
        return { kind: 'Metrics', data: await metrics() };
      case 'ContextChanged':
        return contextChanged(request);
      case 'Shutdown': {
        if (status.state === 'stopping' || status.state === 'stopped') return { kind: 'Success' };
        status.state = 'stopping';
        let failure: unknown;
        try {
          await instance.shutdown();
        } catch (e) {
          failure = e;
        }
        await unload();
        status.state = 'stopped';
        // Close after this response is written (the write happens when this promise settles).
        setImmediate(() => {
          void channel.close();
        });
        if (failure !== undefined) return errorResponse(failure, 'Shutdown');
        return { kind: 'Success' };
      }
      default:
        throw new PluginError('Unsupported', `a plugin process does not serve ${request.kind}`);
    }
  };

  // Not async either: the update must be applied before the next frame (maybe an ExecuteHook) is dispatched.
  const contextChanged = (request: ContextChangedRequest): IpcResponse => {
    options.onContextChanged?.(request);
    return { kind: 'Success' };
  };

  channel.setRequestHandler((request, info) =>
    request.kind === 'ExecuteHook'
      ? executeHook(request, info)
      : request.kind === 'ContextChanged'
        ? contextChanged(request)
        : handle(request, info.signal),
  );
  const reason = await channel.closed;
  const shutdown = status.state === 'stopped';
  if (!unloaded) {
    // The host went away without Shutdown: still release the code (native: dlclose) before the process exits.
    if (status.state === 'ready' || status.state === 'initializing') {
      try {
        await instance.shutdown();
      } catch {
        // best effort: the host is gone, there is no one to report to
      }
    }
    try {
      await unload();
    } catch {
      // idem
    }
  }
  return { shutdown, reason };
}
