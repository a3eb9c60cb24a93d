import type { ContextQuota } from '@plugward/context';
import { type IpcFailureReason, ipcFailureReason, type LogBudget, type RequestRate } from '@plugward/ipc';
import { DEFAULT_FETCH_BUFFERED_BYTES } from '@plugward/sandbox-linux';
import {
  type AnyContextKey,
  isPluginError,
  type PluginContextApi,
  PluginError,
  type ResourceLimits,
  type ViolationType,
} from '@plugward/types';

/**
 * The per-plugin bounds on what the host spends on a plugin's behalf, beyond its `ResourceLimits`. Every field has a
 * default; crossing a bound is a `PluginError` `QuotaExceeded` to the plugin plus a `Quota` violation.
 */
export interface PluginQuotaOptions {
  /**
   * Each plugin's context quota (entries whose current value it wrote, and their bytes). Default: the context's own
   * `pluginQuota` (256 entries, 4 MiB).
   */
  context?: Partial<ContextQuota>;
  /**
   * Bytes of brokered request + response bodies held at once per plugin. Default: 32 MiB, and never more than a
   * quarter of the plugin's `maxHeapBytes` (the host must not hold more for a plugin than the plugin itself may).
   * Requests in flight are capped by the plugin's `maxConnections`.
   */
  fetchBufferedBytes?: number;
  /** Requests of one plugin the host serves at once (log, context, fetch, registrations). Default 256. */
  ipcConcurrentRequests?: number;
  /** Requests of one plugin waiting beyond those; one more is refused with `QuotaExceeded`. Default 1024. */
  ipcQueuedRequests?: number;
  /** Most bytes of those waiting requests. Default 16 MiB. */
  ipcQueuedRequestBytes?: number;
  /**
   * Largest answer one hook handler of an out-of-process plugin may return, bytes. Default
   * {@link DEFAULT_HOOK_OUTPUT_BYTES} (1 MiB). A larger answer is a `QuotaExceeded` (`resource: 'hook-output'`) and a
   * violation, and the handler failed (an untrusted one is skipped): the host, which holds every answer, must not
   * hold 16 MiB frames per call for a plugin that answers each call with the same buffer.
   */
  hookOutputBytes?: number;
  /** A frame must complete this long after its first byte, ms, or the plugin is ended. Default 10 000. */
  stallTimeoutMs?: number;
  /** How much a plugin may log over IPC. Default `DEFAULT_LOG_BUDGET` (200 lines/s, burst 2000; 64 KiB/s, 1 MiB). */
  logBudget?: Partial<LogBudget>;
  /**
   * How fast the host serves an out-of-process plugin's own requests (context, fetch, registrations; log lines have their own budget). Default
   * `DEFAULT_REQUEST_RATE` (2000/s, burst 10 000). Past it a request waits its turn (none is refused or lost), so a
   * plugin asking in a loop costs the host a bounded share of its CPU.
   */
  requestRate?: Partial<RequestRate>;
  /**
   * Longest time a plugin's `init` (with its hook registrations) may take, ms; out of process the plugin is ended when
   * it passes. Default {@link defaultInitTimeoutMs} of its limits.
   */
  initTimeoutMs?: number;
  /**
   * Budget of a whole `hooks.execute` (all handlers of the call together), ms, when the registry makes its own
   * `HookRegistry` (a `hooks` passed in keeps its own settings). Default: 4 × the host's `maxCpuTimeMs` (4 s), growing
   * with the chain (see {@link hookCallTimeoutPerHandlerMs}). Set alone, it is the budget whatever the chain's length.
   */
  hookCallTimeoutMs?: number;
  /**
   * Growth of the whole-call budget with the number of handlers `n` the call runs: the budget is
   * `max(hookCallTimeoutMs, n × hookCallTimeoutPerHandlerMs)`, at most {@link hookCallTimeoutMaxMs}. Default: a tenth
   * of the host's `maxCpuTimeMs` (100 ms) when `hookCallTimeoutMs` is not set either; none (a fixed budget) when it is.
   */
  hookCallTimeoutPerHandlerMs?: number;
  /**
   * Ceiling of the growing whole-call budget, ms: however many handlers, a call ends by then. Default: 60 × the host's
   * `maxCpuTimeMs` (60 s), and never below `hookCallTimeoutMs`.
   */
  hookCallTimeoutMaxMs?: number;
}

/** Default {@link PluginQuotaOptions.hookOutputBytes}: 1 MiB. */
export const DEFAULT_HOOK_OUTPUT_BYTES = 1024 * 1024;

/** The largest time budget a `HookRegistry` takes (setTimeout's largest delay). */
const MAX_BUDGET_MS = 2_147_483_647;

/** What the registry's own `HookRegistry` bounds a whole hook call with. */
export interface HookCallBudget {
  executionTimeoutMs: number;
  executionTimeoutPerHandlerMs?: number;
  executionTimeoutMaxMs?: number;
}

/**
 * The budget of a whole hook call — so a chain of many handlers, each within its own budget, still ends in bounded
 * time. By default four times the host's per-handler budget (`maxCpuTimeMs`: 4 s with the default limits) for a short
 * chain, growing by a tenth of it per handler (so 500 handlers answering in 10–100 ms each, as out-of-process plugins
 * on a busy host do, are not cut off for their number), at most 60 times it: a chain of hostile handlers, however
 * many, still ends within 60 s. A host that sets `hookCallTimeoutMs` alone gets that fixed budget.
 */
export function hookCallBudget(hostLimits: ResourceLimits, options: PluginQuotaOptions = {}): HookCallBudget {
  const scaled = (factor: number): number =>
    Math.min(MAX_BUDGET_MS, Math.max(1, Math.round(factor * hostLimits.maxCpuTimeMs)));
  const floor = options.hookCallTimeoutMs ?? scaled(4);
  const perHandler =
    options.hookCallTimeoutPerHandlerMs ??
    (options.hookCallTimeoutMs === undefined ? scaled(0.1) : undefined);
  if (perHandler === undefined) {
    if (options.hookCallTimeoutMaxMs !== undefined) {
      throw new PluginError(
        'InvalidArgument',
        'quotas.hookCallTimeoutMaxMs bounds a growing budget: with hookCallTimeoutMs set, it needs hookCallTimeoutPerHandlerMs',
      );
    }
    return { executionTimeoutMs: floor };
  }
  return {
    executionTimeoutMs: floor,
    executionTimeoutPerHandlerMs: perHandler,
    executionTimeoutMaxMs: options.hookCallTimeoutMaxMs ?? Math.max(floor, scaled(60)),
  };
}

/** Floor and ceiling of {@link defaultInitTimeoutMs}. */
const INIT_TIMEOUT_MIN_MS = 5000;
const INIT_TIMEOUT_MAX_MS = 30_000;

/**
 * The default init budget: twice the plugin's per-call budget (`maxCpuTimeMs`), within 5–30 s — 5 s with the default
 * limits. Init may connect or warm caches, so it gets more than one call, and a loaded machine can take seconds to
 * start a sandboxed runtime (hence the floor); but a spinning init no longer holds a load for 30 s.
 */
export function defaultInitTimeoutMs(limits: ResourceLimits): number {
  return Math.min(INIT_TIMEOUT_MAX_MS, Math.max(INIT_TIMEOUT_MIN_MS, 2 * limits.maxCpuTimeMs));
}

/** Settles with `work`, or rejects with `Timeout` once `timeoutMs` passed (an init that hangs). */
export async function withinInitBudget(
  work: Promise<unknown>,
  timeoutMs: number,
  plugin: string,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      work,
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new PluginError(
                'Timeout',
                `plugin ${plugin}: init took longer than ${timeoutMs} ms (initTimeoutMs)`,
                {
                  plugin,
                  details: { timeoutMs },
                },
              ),
            ),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    work.catch(() => {}); // a late failure of an abandoned init is not the host's problem
  }
}

/** The fetch broker's caps for a plugin with `limits`. */
export function brokerQuota(
  limits: ResourceLimits,
  options: PluginQuotaOptions,
): { maxInFlight: number; maxBufferedBytes: number } {
  const bytes =
    options.fetchBufferedBytes ?? Math.min(DEFAULT_FETCH_BUFFERED_BYTES, Math.floor(limits.maxHeapBytes / 4));
  return { maxInFlight: Math.max(1, limits.maxConnections), maxBufferedBytes: Math.max(1, bytes) };
}

/** IPC failure reasons that mean the plugin broke the protocol (as opposed to ending or crashing). */
const PROTOCOL_VIOLATIONS: ReadonlySet<IpcFailureReason> = new Set<IpcFailureReason>([
  'FrameTooLarge',
  'MalformedFrame',
  // Not 'TruncatedFrame': the stream ended inside a frame, which is how a process dying mid-write (a crash, the OOM
  // killer) looks; its exit says what happened.
  'StalledFrame',
  'UnknownFrameType',
  'UnknownKind',
  'UnexpectedKind',
  'MalformedPayload',
  'UnknownRequestId',
  'DuplicateRequestId',
  'TooManyRequests',
  'PeerNotReading',
  'WindowExceeded',
]);

/** The protocol violation an IPC channel ended with, if its end was one. */
export function protocolViolationOf(error: unknown): IpcFailureReason | undefined {
  const reason = ipcFailureReason(error);
  if (reason === 'StreamError' && error instanceof Error) {
    // The transport itself may report the violation (a worker posting a foreign message on its port).
    return protocolViolationOf(error.cause);
  }
  return reason !== undefined && PROTOCOL_VIOLATIONS.has(reason) ? reason : undefined;
}

/** The `Quota` violation of a `QuotaExceeded` error (its `details.resource/used/limit`), else undefined. */
export function quotaViolationOf(error: unknown): ViolationType | undefined {
  if (!isPluginError(error, 'QuotaExceeded')) return undefined;
  const d = error.details ?? {};
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  return {
    type: 'Quota',
    resource: typeof d.resource === 'string' ? d.resource : 'unknown',
    used: num(d.used),
    limit: num(d.limit),
  };
}

/**
 * Turns a plugin's `QuotaExceeded` errors into violations, at most one per resource per `intervalMs`: a plugin
 * hammering a quota is recorded (and unloaded at the threshold) without flooding the host's log.
 */
export function quotaReporter(
  record: (violation: ViolationType) => void,
  intervalMs = 1000,
): (error: unknown) => void {
  const last = new Map<string, number>();
  return (error) => {
    const v = quotaViolationOf(error);
    if (v === undefined || v.type !== 'Quota') return;
    const now = performance.now();
    const prev = last.get(v.resource);
    if (prev !== undefined && now - prev < intervalMs) return;
    last.set(v.resource, now);
    record(v);
  };
}

/**
 * A plugin's context view that reports the `QuotaExceeded` it throws (the plugin still gets the error). `set` is the
 * only call that can pass a quota.
 */
export function reportingContext(view: PluginContextApi, report: (error: unknown) => void): PluginContextApi {
  return {
    get: <T>(key: AnyContextKey<T>) => view.get(key),
    has: (key: AnyContextKey) => view.has(key),
    keys: () => view.keys(),
    remove: (key: AnyContextKey) => view.remove(key),
    set<T>(key: AnyContextKey<T>, value: T) {
      try {
        return view.set(key, value);
      } catch (e) {
        report(e);
        throw e;
      }
    },
  };
}

/** A brokered fetch that reports the `QuotaExceeded` it rejects with. */
export function reportingFetch<A extends unknown[], R>(
  fetch: (...args: A) => Promise<R>,
  report: (error: unknown) => void,
): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await fetch(...args);
    } catch (e) {
      report(e);
      throw e;
    }
  };
}
