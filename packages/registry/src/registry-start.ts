// The registry's start step: a verified, placed plugin started at its tier. `start` wires the plugin's registration
// (`registrationWiring`: its hook registrar, context view, log and the check of its code's declarations), then starts
// it in process (`startInProcess`) or in a child process (`startOutOfProcessTier`: worker, process, sandbox);
// `guard` wraps each hook handler it registers.
// Internal to @plugward/registry: src/index.ts exports none of it.

import { HandlerTimeout } from '@plugward/hooks';
import { DEFAULT_DROPPED_LOG_RATE, DEFAULT_REQUEST_BYTE_RATE } from '@plugward/ipc';
import { FetchBroker } from '@plugward/sandbox-linux';
import type { VerifiedArtifact } from '@plugward/security';
import {
  type Awaitable,
  displayText,
  type FetchRequest,
  type FetchResponse,
  type GrantDecision,
  type HookCallInfo,
  type HookHandler,
  type HookRegistrar,
  type IsolationTier,
  isThenable,
  type NetworkTarget,
  type PluginContextApi,
  PluginError,
  toPluginError,
} from '@plugward/types';
import { codeDeclarations, enforceDeclarations } from './declarations.js';
import { pluginRegistrar } from './plugin-registrar.js';
import {
  brokerQuota,
  defaultInitTimeoutMs,
  quotaReporter,
  reportingContext,
  reportingFetch,
  withinInitBudget,
} from './quotas.js';
import {
  displayError,
  type Entry,
  emit,
  MAX_LOG_MESSAGE_CHARS,
  type RegistryState,
} from './registry-state.js';
import { noteViolation } from './registry-violations.js';
import { inProcessHandle } from './tiers/in-process.js';
import { elapsedOf, isTimeoutError, startOutOfProcess } from './tiers/out-of-process.js';
import { DEFAULT_PLUGIN_OUTPUT_BUDGET } from './tiers/plugin-output.js';
import type { TierHandle } from './tiers/tier.js';

/**
 * Starts the plugin at `tier` with its granted requirements, quotas, registrar and context view: the registration
 * wiring first, then the tier's own start.
 */
export async function start(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  tier: IsolationTier,
  decision: GrantDecision,
): Promise<TierHandle> {
  const wiring = registrationWiring(s, entry, verified, decision, tier);
  if (tier === 'in-process') return startInProcess(s, entry.info.name, verified, wiring);
  return startOutOfProcessTier(s, entry, verified, tier, decision, wiring);
}

/** What a started plugin talks to the host through, whatever its tier. */
interface RegistrationWiring {
  /** Registers the plugin's hook handlers (granted hooks only, each behind `guard`), while registration is open. */
  registrar: HookRegistrar;
  /** Its view of the host context (granted keys, quotas; a quota hit is a violation). */
  contextView: PluginContextApi;
  /** Its log lines, bounded and escaped, to the host's `log`. */
  log: (level: string, message: string) => void;
  /** Checks what its code declares (requirements, limits) against the manifest; narrows the limits in force. */
  declared: (reported: unknown) => void;
  /** Reports a quota error as a violation (once a window). */
  reportQuota: (error: unknown) => void;
  initTimeoutMs: number;
  /** Refuses later registrations (a start that failed: an init past its budget may still try, in process). */
  close(): void;
}

/** The registration wiring of one plugin: registrar, context view, log and declaration check. */
function registrationWiring(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  decision: GrantDecision,
  tier: IsolationTier,
): RegistrationWiring {
  const name = entry.info.name;
  const requirements = decision.granted;
  const quotas = s.quotas;
  const reportQuota = quotaReporter((v) => noteViolation(s, entry, v));
  const contextView = reportingContext(
    s.context.forPlugin(
      name,
      { read: [...requirements.context.read], write: [...requirements.context.write] },
      quotas.context,
    ),
    reportQuota,
  );
  let accepting = true;
  const registrar = pluginRegistrar({
    name,
    hooks: s.hooks,
    grantedHooks: decision.hooks,
    isOpen: () => accepting && entry.registrationsOpen && entry.alive,
    budgetMs: () => entry.info.resourceLimits.maxCpuTimeMs,
    guard: (hookName, handler) => guard(s, entry, hookName, handler, tier === 'in-process'),
    onBadReturn: (hookName, error) => emit(s, 'hook-error', { name, hookName, error }),
  });
  // Log lines come from the plugin (over IPC, or its stdout/stderr): whatever `log` printer the host configured gets
  // them bounded and escaped, as every other plugin-controlled text.
  const log = (level: string, message: string) =>
    s.log(name, displayText(level, 16), displayText(message, MAX_LOG_MESSAGE_CHARS));
  // The code's own declarations, read where the code runs (here, or in the plugin runtime, which reports them with
  // its answer to Initialize): never more than the manifest grants, and limits only ever narrowed.
  const declared = (reported: unknown): void => {
    const check = enforceDeclarations({
      name,
      trustLevel: entry.info.trustLevel,
      manifestRequirements: decision.requested,
      manifestLimits: verified.manifest.limits ?? {},
      limits: entry.info.resourceLimits,
      declared: codeDeclarations(reported, name),
    });
    entry.info.resourceLimits = check.limits;
    if (check.exceeded.length > 0) {
      log('warn', `declares more than it is granted, which it does not get: ${check.exceeded.join('; ')}`);
    }
  };
  return {
    registrar,
    contextView,
    log,
    declared,
    reportQuota,
    initTimeoutMs: quotas.initTimeoutMs ?? defaultInitTimeoutMs(entry.info.resourceLimits),
    close: () => {
      accepting = false;
    },
  };
}

/** In process: the loader's instance, initialised and registered within the init budget (trusted code only). */
async function startInProcess(
  s: RegistryState,
  name: string,
  verified: VerifiedArtifact,
  w: RegistrationWiring,
): Promise<TierHandle> {
  const instance = await s.loader.loadVerified(verified);
  const handle = inProcessHandle(instance);
  try {
    w.declared({ requirements: instance.requirements, limits: instance.declaredLimits });
    // In process a synchronous spin can't be pre-empted (trusted code only); a hang can be timed out.
    await withinInitBudget(
      (async () => {
        await instance.init(w.contextView, { tier: 'in-process', log: w.log });
        await instance.registerHooks(w.registrar);
      })(),
      w.initTimeoutMs,
      name,
    );
  } catch (e) {
    w.close();
    s.hooks.unregisterAll(name);
    await handle.release(2000);
    throw toPluginError(e, 'InitializationError', `plugin ${name} failed to initialise`, {
      plugin: name,
    });
  }
  return handle;
}

/** Worker, process or sandbox: the plugin runtime in a child, over IPC, with the channel's quotas and the broker. */
function startOutOfProcessTier(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  tier: Exclude<IsolationTier, 'in-process'>,
  decision: GrantDecision,
  w: RegistrationWiring,
): Promise<TierHandle> {
  const requirements = decision.granted;
  const limits = entry.info.resourceLimits;
  const quotas = s.quotas;
  return startOutOfProcess({
    tier,
    verified,
    onInitialized: w.declared,
    requirements,
    limits: entry.info.resourceLimits,
    registrar: w.registrar,
    context: w.contextView,
    hostContext: s.context,
    log: w.log,
    sandbox: s.sandbox,
    ...(s.warmPool ? { warmPool: s.warmPool } : {}),
    initTimeoutMs: w.initTimeoutMs,
    quotas: {
      ...(quotas.ipcConcurrentRequests === undefined
        ? {}
        : { maxConcurrentRequests: quotas.ipcConcurrentRequests }),
      maxQueuedRequests: quotas.ipcQueuedRequests ?? 1024,
      maxQueuedRequestBytes: quotas.ipcQueuedRequestBytes ?? 16 * 1024 * 1024,
      ...(quotas.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: quotas.stallTimeoutMs }),
      ...(quotas.logBudget === undefined ? {} : { logBudget: quotas.logBudget }),
      ...(quotas.requestRate === undefined ? {} : { requestRate: quotas.requestRate }),
      // An untrusted plugin that keeps logging past its budget is flooding the host with dropped lines: it is ended. A
      // trusted one is only held to its budget (a chatty plugin is not misbehaving).
      // Likewise one whose requests (refused ones too) add up to more bytes than DEFAULT_REQUEST_BYTE_RATE: each is read
      // and decoded by the host at the plugin's pace.
      ...(entry.info.trustLevel !== 'trusted'
        ? { droppedLogRate: DEFAULT_DROPPED_LOG_RATE, requestByteRate: DEFAULT_REQUEST_BYTE_RATE }
        : {}),
    },
    onQuotaExceeded: w.reportQuota,
    ...(quotas.hookOutputBytes === undefined ? {} : { maxHookOutputBytes: quotas.hookOutputBytes }),
    // Output past its budget is dropped by the reader; it is also a quota violation of the plugin (once a window).
    onOutputExceeded: (stream) =>
      noteViolation(s, entry, {
        type: 'Quota',
        resource: stream,
        used: DEFAULT_PLUGIN_OUTPUT_BUDGET.bytesPerWindow + 1,
        limit: DEFAULT_PLUGIN_OUTPUT_BUDGET.bytesPerWindow,
      }),
    ...(requirements.network.mode === 'restricted'
      ? {
          fetch: reportingFetch(
            brokerFor(s, requirements.network.allowedTargets, brokerQuota(limits, quotas)),
            w.reportQuota,
          ),
        }
      : {}),
  });
}

/** The host side of `restricted` network: every request is checked against the plugin's signed allow-list. */
function brokerFor(
  s: RegistryState,
  allowedTargets: readonly NetworkTarget[],
  quota: { maxInFlight: number; maxBufferedBytes: number },
): (req: FetchRequest, signal: AbortSignal) => Promise<FetchResponse> {
  const broker = new FetchBroker({ ...quota, ...s.fetchBrokerOptions, allowedTargets });
  return (req, signal) => broker.fetch(req, signal);
}

/**
 * Wraps a plugin's handler: refuses once the plugin is unloading, counts in-flight calls, reports failures. Not an
 * async function: a synchronous handler's result goes back as is (no promise, no microtask per call). Out of process a
 * spent budget comes back through the handler (the hook registry's deadline ends its IPC request) and is counted
 * here; in process it never does (a synchronous overrun is found once the handler returned, a hang never settles):
 * {@link watchInProcessTimeouts} counts those.
 */
function guard(
  s: RegistryState,
  entry: Entry,
  hookName: string,
  handler: HookHandler,
  inProcess: boolean,
): HookHandler {
  const name = entry.info.name;
  const done = (): void => {
    entry.inFlight--;
    if (entry.inFlight === 0) entry.idle?.();
  };
  // Made once per handler, not per call (issue 17): only a failure needs the call's `info`.
  const answered = (value: Uint8Array): Uint8Array => {
    done();
    return value;
  };
  const failed = (e: unknown, info: HookCallInfo): PluginError => {
    const err = toPluginError(e, 'HookError', `hook ${hookName} of plugin ${name} failed`, {
      plugin: name,
    });
    if (!inProcess && (isTimeoutError(e) || (info.signal?.aborted && isTimeoutError(info.signal.reason)))) {
      noteHookTimeout(s, entry, hookName, elapsedOf(e) ?? elapsedOf(info.signal?.reason));
    }
    const shown = displayError(err);
    emit(s, 'hook-error', { name, hookName, error: shown });
    return shown;
  };
  return (data, info) => {
    if (!entry.alive) {
      throw new PluginError('NotFound', `plugin ${name} was unloaded`, { plugin: name });
    }
    entry.inFlight++;
    let out: Awaitable<Uint8Array>;
    try {
      out = handler(data, info);
    } catch (e) {
      const shown = failed(e, info);
      done();
      throw shown;
    }
    // Bytes first: the common answer, and a cheaper test than a `then` lookup on a typed array.
    if (out instanceof Uint8Array || !isThenable<Uint8Array>(out)) {
      done();
      return out;
    }
    return Promise.resolve(out).then(answered, (e: unknown) => {
      const shown = failed(e, info);
      done();
      throw shown;
    });
  };
}

/** Records a plugin's hook call that spent its budget (`maxCpuTimeMs`) as a `HookTimeout` violation. */
function noteHookTimeout(
  s: RegistryState,
  entry: Entry,
  hookName: string,
  elapsedMs: number | undefined,
): void {
  const limit = entry.info.resourceLimits.maxCpuTimeMs;
  noteViolation(s, entry, {
    type: 'HookTimeout',
    hookName,
    // The budget's own measurement (no clock read per call here): at least the limit.
    durationMs: Math.round(Math.max(limit, elapsedMs ?? 0)),
    limitMs: limit,
  });
}

/**
 * Counts the spent budgets of in-process plugins' handlers, as the guard does out of process: a `HookTimeout`
 * violation of the handler's owner and a `hook-error` event. One failure listener on the registry's hooks for as long
 * as the registry is open: nothing per call (a budget costs nothing until it fires), and only the budget's own
 * firing counts (`HandlerTimeout`), never an error a plugin throws that looks like a timeout.
 */
export function watchInProcessTimeouts(s: RegistryState): void {
  const off = s.hooks.onFailure((failure) => {
    const cause = failure.error.cause;
    if (!(cause instanceof HandlerTimeout) || failure.owner === undefined) return;
    const entry = s.entries.get(failure.owner);
    if (entry === undefined || entry.info.tier !== 'in-process') return;
    noteHookTimeout(s, entry, failure.hookName, cause.elapsedMs);
    emit(s, 'hook-error', {
      name: entry.info.name,
      hookName: failure.hookName,
      error: displayError(failure.error),
    });
  });
  s.closing.signal.addEventListener('abort', off, { once: true });
}
