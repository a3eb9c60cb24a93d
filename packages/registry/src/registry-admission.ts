// The registry's loading seam: admission, grants, placement, start at a tier, the guard around hook handlers and
// the watch on an unexpected exit.
// Internal to @plugward/registry: src/index.ts exports none of it.
import path from 'node:path';
import { mergeLimits } from '@plugward/limits';
import { FetchBroker } from '@plugward/sandbox-linux';
import { readManifest, type VerifiedArtifact } from '@plugward/security';
import {
  type Awaitable,
  displayText,
  type FetchRequest,
  type FetchResponse,
  type GrantDecision,
  type HookCallInfo,
  type HookHandler,
  type IsolationTier,
  isPluginError,
  isThenable,
  type NetworkTarget,
  PluginError,
  type TrustLevel,
  toPluginError,
} from '@plugward/types';
import { codeDeclarations, enforceDeclarations } from './declarations.js';
import { applicableGrant, decideGrants, resolveGrantedPaths } from './grant-policy.js';
import { placePlugin } from './placement.js';
import { pluginRegistrar } from './plugin-registrar.js';
import {
  brokerQuota,
  defaultInitTimeoutMs,
  quotaReporter,
  reportingContext,
  reportingFetch,
  withinInitBudget,
} from './quotas.js';
import { grantInput, reservedByTrust } from './registry-discovery.js';
import {
  assertOpen,
  displayError,
  type Entry,
  emit,
  infoFrom,
  MAX_ERROR_CHARS,
  MAX_LOG_MESSAGE_CHARS,
  newEntry,
  type RegistryState,
  statOf,
} from './registry-state.js';
import { noteViolation } from './registry-violations.js';
import { inProcessHandle } from './tiers/in-process.js';
import { elapsedOf, isTimeoutError, startOutOfProcess } from './tiers/out-of-process.js';
import { DEFAULT_PLUGIN_OUTPUT_BUDGET } from './tiers/plugin-output.js';
import type { TierHandle } from './tiers/tier.js';

/**
 * Loads a plugin found earlier by `scanDirectory`/`discoverPlugin`, by name. The file is verified again; if its
 * verified manifest names another plugin (it was swapped since discovery) the load fails with `NameConflict`.
 */
export async function loadByName(s: RegistryState, name: string): Promise<string> {
  assertOpen(s);
  const entry = s.entries.get(name);
  if (!entry) throw new PluginError('NotFound', `no plugin named ${name} was discovered`, { plugin: name });
  const trust =
    entry.info.trustLevel === 'trusted' && entry.info.status !== 'Untrusted' ? 'trusted' : 'untrusted';
  return track(s, loadArtifact(s, entry.info.path, trust, name));
}

/**
 * Tracked from the very start, so an unloadAll()/close() that begins while this load still verifies waits for it
 * too (and then unloads it), instead of missing it.
 */
export async function track(s: RegistryState, work: Promise<string>): Promise<string> {
  s.loading.add(work);
  try {
    return await work;
  } finally {
    s.loading.delete(work);
  }
}

/** The load itself: admission (`PluginSecurity.admit`), the name checks and its reservation, then `load`. */
export async function loadArtifact(
  s: RegistryState,
  artifactPath: string,
  trustLevel: TrustLevel,
  expected: string | undefined,
): Promise<string> {
  assertOpen(s);
  let verified: VerifiedArtifact;
  try {
    verified = await verify(s, artifactPath, trustLevel);
  } catch (e) {
    await recordVerifyFailure(s, artifactPath, trustLevel, e, expected);
    throw isPluginError(e) ? displayError(e) : e;
  }
  const manifest = verified.manifest;
  const name = manifest.name;
  if (expected !== undefined && name !== expected) {
    throw new PluginError(
      'NameConflict',
      `${artifactPath} was discovered as ${expected} but its verified manifest names ${name}: refusing to load it under either name`,
      { plugin: expected, details: { verifiedName: name, path: path.resolve(artifactPath) } },
    );
  }
  if (trustLevel === 'untrusted' && reservedByTrust(s, name, path.resolve(artifactPath))) {
    throw new PluginError(
      'NameConflict',
      `untrusted plugin ${artifactPath} claims the name ${name}, which belongs to a trusted plugin`,
      { plugin: name, details: { path: path.resolve(artifactPath) } },
    );
  }
  // From here to `e.busy = work` nothing awaits: the check and the reservation of the name are one step, so of two
  // concurrent loads exactly one gets AlreadyLoaded (an await in between let both through).
  const entry = s.entries.get(name);
  if (entry?.busy || entry?.info.status === 'Active') {
    throw new PluginError(
      entry.info.trustLevel !== trustLevel ? 'NameConflict' : 'AlreadyLoaded',
      `plugin ${name} is already ${entry.busy ? 'being loaded' : 'loaded'}${
        entry.info.trustLevel !== trustLevel ? ` (as ${entry.info.trustLevel}, from ${entry.info.path})` : ''
      }`,
      { plugin: name },
    );
  }
  const stat = { size: verified.bytes.byteLength, mtimeMs: 0 };
  const e = entry ?? newEntry(s, infoFrom(s, manifest, artifactPath, stat, trustLevel));
  const work = load(s, e, verified, artifactPath, trustLevel);
  e.busy = work;
  s.entries.set(name, e);
  try {
    await work;
    return name;
  } finally {
    e.busy = undefined;
  }
}

/**
 * A load that failed verification is recorded on the entry of the name it claims — only when that entry is this
 * same file and idle (a failing file must not relabel another plugin's entry), or no entry has the name yet.
 */
async function recordVerifyFailure(
  s: RegistryState,
  artifactPath: string,
  trustLevel: TrustLevel,
  e: unknown,
  expected: string | undefined,
): Promise<void> {
  const manifest = await readManifest(artifactPath).catch(() => undefined);
  const name = expected ?? manifest?.name;
  if (name === undefined) return;
  const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
  const entry = s.entries.get(name);
  const resolved = path.resolve(artifactPath);
  if (entry && (entry.busy || entry.info.status === 'Active' || entry.info.path !== resolved)) return;
  if (!entry && (!manifest || (trustLevel === 'untrusted' && reservedByTrust(s, name, resolved)))) return;
  const e2 =
    entry ??
    newEntry(
      s,
      infoFrom(s, manifest!, artifactPath, { size: manifest!.artifact.size, mtimeMs: 0 }, trustLevel),
    );
  e2.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
  e2.info.error = displayText(err.message, MAX_ERROR_CHARS);
  s.entries.set(name, e2);
  emit(s, 'failed', { name, error: err });
}

/** Starts a verified plugin at its tier and marks it Active; on failure records the error and releases what it got. */
async function load(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  artifactPath: string,
  trustLevel: TrustLevel,
): Promise<void> {
  const manifest = verified.manifest;
  const name = manifest.name;
  entry.tracker.reset();
  entry.lastMetrics = undefined;
  try {
    const stat = await statOf(artifactPath).catch(() => ({ size: verified.bytes.byteLength, mtimeMs: 0 }));
    entry.info = {
      ...infoFrom(s, manifest, artifactPath, stat, trustLevel),
      nameConflicts: entry.info.nameConflicts,
    };
    if (entry.info.nameConflicts === undefined) delete entry.info.nameConflicts;
    if (verified.trustEntry) entry.info.trustInfo = verified.trustEntry;
    entry.info.hash = verified.hash;
    const input = grantInput(s, manifest, trustLevel, verified.hash, verified.trustEntry);
    const decision = await resolveGrantedPaths(decideGrants(input), applicableGrant(input));
    entry.info.grants = decision;
    const requirements = decision.granted;
    const placement = placePlugin({
      name,
      trustLevel,
      requirements,
      defaultTier: s.defaultTier,
      override: Object.hasOwn(s.overrides, name) ? s.overrides[name] : undefined,
      sandboxAvailable: s.sandbox !== undefined,
    });
    entry.info.tier = placement.tier;
    entry.info.resourceLimits = mergeLimits(manifest.limits ?? {}, s.hostLimits);
    entry.alive = true;
    entry.registrationsOpen = true;
    entry.handle = await start(s, entry, verified, placement.tier, decision);
    if (s.closed) throw new PluginError('LoadError', 'registry closed during load', { plugin: name });
    entry.info.pid = entry.handle.pid;
    entry.info.status = 'Active';
    entry.info.error = undefined;
    watchExit(s, entry, entry.handle);
    emit(s, 'loaded', {
      name,
      version: entry.info.version,
      tier: placement.tier,
      pid: entry.handle.pid,
    });
  } catch (e) {
    const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
    entry.alive = false;
    entry.registrationsOpen = false;
    s.hooks.unregisterAll(name);
    if (entry.handle) await entry.handle.release(2000);
    entry.handle = undefined;
    s.context.releasePlugin(name);
    entry.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
    entry.info.error = displayText(err.message, MAX_ERROR_CHARS);
    entry.info.pid = undefined;
    const shown = displayError(err);
    emit(s, 'failed', { name, error: shown });
    throw shown;
  }
}

/** Admission is security's one decision (`PluginSecurity.admit`): trusted = verified and listed. */
function verify(s: RegistryState, artifactPath: string, trustLevel: TrustLevel): Promise<VerifiedArtifact> {
  return s.security.admit(artifactPath, trustLevel, { onlyTrusted: s.policy.onlyTrusted });
}

/** Starts the plugin at `tier` with its granted requirements, quotas, registrar and context view. */
async function start(
  s: RegistryState,
  entry: Entry,
  verified: VerifiedArtifact,
  tier: IsolationTier,
  decision: GrantDecision,
): Promise<TierHandle> {
  const name = entry.info.name;
  const requirements = decision.granted;
  const limits = entry.info.resourceLimits;
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
  const initTimeoutMs = quotas.initTimeoutMs ?? defaultInitTimeoutMs(limits);
  // Closed when this start fails (an init past its budget may still try to register later, in process).
  let accepting = true;
  const registrar = pluginRegistrar({
    name,
    hooks: s.hooks,
    grantedHooks: decision.hooks,
    isOpen: () => accepting && entry.registrationsOpen && entry.alive,
    budgetMs: () => entry.info.resourceLimits.maxCpuTimeMs,
    guard: (hookName, handler) => guard(s, entry, hookName, handler),
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
  if (tier === 'in-process') {
    const instance = await s.loader.loadVerified(verified);
    const handle = inProcessHandle(instance);
    try {
      declared({ requirements: instance.requirements, limits: instance.declaredLimits });
      // In process a synchronous spin can't be pre-empted (trusted code only); a hang can be timed out.
      await withinInitBudget(
        (async () => {
          await instance.init(contextView, { tier, log });
          await instance.registerHooks(registrar);
        })(),
        initTimeoutMs,
        name,
      );
    } catch (e) {
      accepting = false;
      s.hooks.unregisterAll(name);
      await handle.release(2000);
      throw toPluginError(e, 'InitializationError', `plugin ${name} failed to initialise`, {
        plugin: name,
      });
    }
    return handle;
  }
  return startOutOfProcess({
    tier,
    verified,
    onInitialized: declared,
    requirements,
    limits: entry.info.resourceLimits,
    registrar,
    context: contextView,
    hostContext: s.context,
    log,
    sandbox: s.sandbox,
    ...(s.warmPool ? { warmPool: s.warmPool } : {}),
    initTimeoutMs,
    quotas: {
      ...(quotas.ipcConcurrentRequests === undefined
        ? {}
        : { maxConcurrentRequests: quotas.ipcConcurrentRequests }),
      maxQueuedRequests: quotas.ipcQueuedRequests ?? 1024,
      maxQueuedRequestBytes: quotas.ipcQueuedRequestBytes ?? 16 * 1024 * 1024,
      ...(quotas.stallTimeoutMs === undefined ? {} : { stallTimeoutMs: quotas.stallTimeoutMs }),
      ...(quotas.logBudget === undefined ? {} : { logBudget: quotas.logBudget }),
    },
    onQuotaExceeded: reportQuota,
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
            reportQuota,
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
 * async function: a synchronous handler's result goes back as is (no promise, no microtask per call).
 */
function guard(s: RegistryState, entry: Entry, hookName: string, handler: HookHandler): HookHandler {
  const name = entry.info.name;
  const done = (): void => {
    entry.inFlight--;
    if (entry.inFlight === 0) entry.idle?.();
  };
  const failed = (e: unknown, info: HookCallInfo): PluginError => {
    const err = toPluginError(e, 'HookError', `hook ${hookName} of plugin ${name} failed`, {
      plugin: name,
    });
    if (isTimeoutError(e) || (info.signal?.aborted && isTimeoutError(info.signal.reason))) {
      const limit = entry.info.resourceLimits.maxCpuTimeMs;
      noteViolation(s, entry, {
        type: 'HookTimeout',
        hookName,
        // The budget's own measurement (no clock read per call here): at least the limit.
        durationMs: Math.round(Math.max(limit, elapsedOf(e) ?? elapsedOf(info.signal?.reason) ?? 0)),
        limitMs: limit,
      });
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
    if (!isThenable<Uint8Array>(out)) {
      done();
      return out;
    }
    return Promise.resolve(out).then(
      (value) => {
        done();
        return value;
      },
      (e: unknown) => {
        const shown = failed(e, info);
        done();
        throw shown;
      },
    );
  };
}

/** Marks the plugin Failed when its process exits without an unload asking for it. */
function watchExit(s: RegistryState, entry: Entry, handle: TierHandle): void {
  handle.exited.then(
    (exit) => {
      if (entry.handle !== handle || !entry.alive) return; // an unload we asked for
      entry.alive = false;
      entry.registrationsOpen = false;
      entry.handle = undefined;
      s.hooks.unregisterAll(entry.info.name);
      s.context.releasePlugin(entry.info.name);
      entry.info.status = 'Failed';
      entry.info.pid = undefined;
      // The kernel's OOM kill explains a torn channel better than the channel does.
      const pv = exit.oomKilled ? undefined : exit.protocolViolation;
      entry.info.error = pv
        ? `ProtocolViolation: the plugin broke the IPC protocol (${pv.reason}) and was ended`
        : exit.oomKilled
          ? 'plugin process was killed for exceeding its memory limit'
          : `plugin process exited unexpectedly (code ${exit.exitCode}, signal ${exit.signal})`;
      emit(s, 'crashed', {
        name: entry.info.name,
        exitCode: exit.exitCode,
        signal: exit.signal,
        oomKilled: exit.oomKilled,
        ...(pv ? { protocolViolation: pv.reason } : {}),
      });
      // A crash or an OOM kill is a failure (the 'crashed' event, status Failed), not a counted violation; breaking
      // the protocol is the plugin's own doing and is recorded.
      if (pv) noteViolation(s, entry, { type: 'ProtocolViolation', reason: pv.reason }, false);
      emit(s, 'unloaded', { name: entry.info.name, reason: 'crashed' });
    },
    () => {},
  );
}
