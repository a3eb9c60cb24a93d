import { EventEmitter } from 'node:events';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { PluginContext } from '@plugward/context';
import { HookRegistry } from '@plugward/hooks';
import { detectViolations, mergeLimits, ViolationTracker } from '@plugward/limits';
import { PluginLoader } from '@plugward/loader';
import {
  FetchBroker,
  type FetchBrokerOptions,
  MIN_FILE_DESCRIPTORS,
  RUNTIME_MEMORY_HEADROOM_BYTES,
} from '@plugward/sandbox-linux';
import { type PluginSecurity, readManifest, type VerifiedArtifact } from '@plugward/security';
import {
  type Awaitable,
  DEFAULT_MONITOR_INTERVAL_MS,
  DEFAULT_RESOURCE_LIMITS,
  DEFAULT_SECURITY_POLICY,
  DEFAULT_UNMOUNT_BEHAVIOR,
  displayText,
  type FetchRequest,
  type FetchResponse,
  type GrantDecision,
  type HookCallInfo,
  type HookHandler,
  type HostGrants,
  type IsolationTier,
  isPluginError,
  isThenable,
  MANIFEST_SUFFIX,
  MIN_THREADS_FOR_NODE,
  type NetworkTarget,
  PluginError,
  type PluginInfo,
  type PluginManifest,
  type PluginMetrics,
  type ResourceLimits,
  type SandboxBackend,
  type SecurityPolicy,
  type TrustLevel,
  toPluginError,
  type UnmountBehavior,
  type ViolationType,
} from '@plugward/types';
import { codeDeclarations, enforceDeclarations } from './declarations.js';
import { arbitrateName, type ScanReport } from './discovery.js';
import type { RegistryEventName, RegistryEvents } from './events.js';
import {
  applicableGrant,
  decideGrants,
  type GrantInput,
  grantInputFor,
  resolveGrantedPaths,
} from './grant-policy.js';
import { type SweepItem, sweepMetrics } from './monitor.js';
import { placePlugin } from './placement.js';
import { pluginRegistrar } from './plugin-registrar.js';
import {
  brokerQuota,
  defaultInitTimeoutMs,
  hookCallTimeoutMs,
  type PluginQuotaOptions,
  quotaReporter,
  reportingContext,
  reportingFetch,
  withinInitBudget,
} from './quotas.js';
import { inProcessHandle } from './tiers/in-process.js';
import { isTimeoutError, startOutOfProcess } from './tiers/out-of-process.js';
import { DEFAULT_PLUGIN_OUTPUT_BUDGET } from './tiers/plugin-output.js';
import type { TierHandle } from './tiers/tier.js';

/** Options of a {@link PluginRegistry}. Everything but `security` has a default. */
export interface PluginRegistryOptions {
  security: PluginSecurity;
  loader?: PluginLoader;
  hooks?: HookRegistry;
  context?: PluginContext;
  /** Needed for the `sandbox` tier (and so for every untrusted plugin). */
  sandbox?: SandboxBackend<Duplex>;
  /**
   * Options of the fetch broker that serves plugins whose signed manifest asks for `restricted` network (their
   * allow-list comes from the manifest). Default: the system resolver, 8 MiB bodies, DEFAULT_MAX_EXTERNAL_API_MS.
   */
  fetchBroker?: Omit<FetchBrokerOptions, 'allowedTargets'>;
  /** Overrides of `security.policy` for this registry (`onlyTrusted` decides whether untrusted plugins may load). */
  policy?: Partial<SecurityPolicy>;
  /** Tier for trusted plugins (default `in-process`). */
  defaultTier?: IsolationTier;
  /** Per-plugin tier overrides, by plugin name. */
  tierOverrides?: Readonly<Record<string, IsolationTier>>;
  /** The host's caps: a plugin may ask for less, never more. Default: DEFAULT_RESOURCE_LIMITS. */
  hostLimits?: ResourceLimits;
  unmountBehavior?: UnmountBehavior;
  /**
   * Where plugin logs go (default: console.error with the plugin name). The plugin name, level and message may come
   * from the plugin: the default printer passes each through `displayText`; a custom printer should do the same.
   */
  log?: (plugin: string, level: string, message: string) => void;
  /**
   * The host's grant policy (see `decideGrants`): what untrusted plugins may get beyond the minimal requirements (by
   * plugin name or by verified signer), the hooks and priorities they may register on, and optional caps on trusted
   * plugins. Default: nothing granted to untrusted plugins; trusted plugins get their signed requirements.
   */
  grants?: HostGrants;
  /** Per-plugin bounds on what the host spends for a plugin (context, fetch, IPC, log, init time); see the README. */
  quotas?: PluginQuotaOptions;
}

interface Entry {
  info: PluginInfo;
  handle?: TierHandle;
  tracker: ViolationTracker;
  /** Set while a load or unload of this name is in progress. */
  busy?: Promise<unknown>;
  /** False once unloading started: wrapped handlers refuse to call into the plugin. */
  alive: boolean;
  inFlight: number;
  idle?: () => void;
  /** The monitor's previous reading (CPU time is judged between two readings). */
  lastMetrics?: PluginMetrics;
  /** True from the start of its load until its unload starts: the only time its hook registrations are accepted. */
  registrationsOpen: boolean;
}

/** Longest plugin-controlled text the default log printer shows, characters. */
const MAX_LOG_MESSAGE_CHARS = 2000;
/**
 * Longest `PluginInfo.error`, characters. Errors can carry text the plugin chose (its init error, over IPC): stored
 * escaped by `displayText`, so a host can print the info as is.
 */
const MAX_ERROR_CHARS = 500;

/**
 * `err` with its message bounded and escaped (a plugin writes error messages: an init or hook failure that comes back
 * over IPC carries its text). The original stays reachable as `cause`.
 */
function displayError(err: PluginError): PluginError {
  const shown = displayText(err.message, MAX_ERROR_CHARS);
  if (shown === err.message) return err;
  return new PluginError(err.code, shown, {
    cause: err,
    ...(err.plugin === undefined ? {} : { plugin: displayText(err.plugin) }),
    ...(err.details === undefined ? {} : { details: err.details }),
  });
}

/** A running resource monitor; stop it with `stop()` or the signal passed to `startResourceMonitor`. */
export interface MonitorHandle {
  stop(): void;
  readonly signal: AbortSignal;
}

/**
 * The plugin registry: discovery, trust, isolation tiers, lifecycle and monitoring.
 *
 * Concurrency: a second load of a name already loaded or loading fails with `AlreadyLoaded`; `unloadPlugin` during a
 * running hook lets that execution finish or fail with a PluginError, and later executions no longer see the plugin.
 */
export class PluginRegistry {
  readonly security: PluginSecurity;
  readonly loader: PluginLoader;
  readonly hooks: HookRegistry;
  readonly context: PluginContext;
  readonly sandbox: SandboxBackend<Duplex> | undefined;
  readonly policy: SecurityPolicy;
  readonly #events = new EventEmitter();
  readonly #entries = new Map<string, Entry>();
  readonly #defaultTier: IsolationTier;
  readonly #overrides: Readonly<Record<string, IsolationTier>>;
  readonly #hostLimits: ResourceLimits;
  #unmount: UnmountBehavior;
  readonly #log: (plugin: string, level: string, message: string) => void;
  readonly #fetchBrokerOptions: Omit<FetchBrokerOptions, 'allowedTargets'>;
  readonly #grants: HostGrants;
  readonly #quotas: PluginQuotaOptions;
  #closed = false;
  readonly #monitors = new Set<AbortController>();
  /** Every loadPlugin call in progress, from its first line. */
  readonly #loading = new Set<Promise<string>>();

  constructor(options: PluginRegistryOptions) {
    if (!options || typeof options !== 'object' || !options.security) {
      throw new PluginError('InvalidArgument', 'PluginRegistry needs { security } at least');
    }
    this.security = options.security;
    this.loader = options.loader ?? new PluginLoader(options.security);
    this.#hostLimits = options.hostLimits ?? { ...DEFAULT_RESOURCE_LIMITS };
    this.#quotas = options.quotas ?? {};
    this.hooks =
      options.hooks ??
      new HookRegistry({ executionTimeoutMs: hookCallTimeoutMs(this.#hostLimits, this.#quotas) });
    this.context = options.context ?? new PluginContext();
    this.sandbox = options.sandbox;
    this.policy = { ...DEFAULT_SECURITY_POLICY, ...options.security.policy, ...options.policy };
    this.#defaultTier = options.defaultTier ?? 'in-process';
    this.#overrides = options.tierOverrides ?? {};
    this.#fetchBrokerOptions = options.fetchBroker ?? {};
    this.#grants = options.grants ?? {};
    this.#unmount = { ...(options.unmountBehavior ?? DEFAULT_UNMOUNT_BEHAVIOR) };
    this.#log =
      options.log ??
      ((plugin, level, message) => {
        console.error(
          `[${displayText(plugin)}] ${displayText(level, 16)}: ${displayText(message, MAX_LOG_MESSAGE_CHARS)}`,
        );
      });
    this.#events.setMaxListeners(100);
  }

  // ---- events -------------------------------------------------------------------------------------------------

  /** Subscribes to a registry event; returns the unsubscribe function. */
  on<E extends RegistryEventName>(event: E, listener: (payload: RegistryEvents[E]) => void): () => void {
    this.#events.on(event, listener);
    return () => this.#events.off(event, listener);
  }

  #emit<E extends RegistryEventName>(event: E, payload: RegistryEvents[E]): void {
    // A throwing listener must not break the registry's own bookkeeping.
    for (const l of this.#events.listeners(event)) {
      try {
        (l as (p: RegistryEvents[E]) => void)(payload);
      } catch (e) {
        this.#log('registry', 'error', `listener of ${event} threw: ${(e as Error).message}`);
      }
    }
  }

  // ---- discovery ----------------------------------------------------------------------------------------------

  /**
   * Scans `dir` for signed manifests (`*.plugward.json`) and records each plugin as Available (trusted) or Untrusted.
   * Reads manifests and hashes artifacts; never runs plugin code. Returns how many plugins were recorded; see
   * {@link scanDirectoryReport} for what was skipped and why.
   */
  async scanDirectory(dir: string): Promise<number> {
    return (await this.scanDirectoryReport(dir)).found.length;
  }

  /**
   * Like {@link scanDirectory}, with the details: the plugins recorded and the files skipped. Trust wins a name: an
   * untrusted file claiming the name of a trusted plugin is skipped with `NameConflict` (in either file order), and
   * the conflict is also listed in the trusted plugin's `nameConflicts`.
   */
  async scanDirectoryReport(dir: string): Promise<ScanReport> {
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (e) {
      throw toPluginError(e, 'IoError', `cannot read plugin directory ${dir}`);
    }
    const found = new Set<string>();
    const skipped: ScanReport['skipped'] = [];
    for (const file of names.sort()) {
      if (!file.endsWith(MANIFEST_SUFFIX)) continue;
      const artifact = path.join(dir, file.slice(0, -MANIFEST_SUFFIX.length));
      try {
        const { info, displaced } = await this.#discover(artifact);
        found.add(info.name);
        if (displaced) skipped.push(displaced);
      } catch (e) {
        const error = toPluginError(e, 'LoadError', `cannot read ${artifact}`);
        skipped.push({ path: path.resolve(artifact), error });
        this.#log('registry', 'warn', `skipping ${artifact}: ${error.code}: ${error.message}`);
      }
    }
    // Whatever the order, the holder of a name lists the files that claimed it and lost.
    for (const s of skipped) {
      const holder =
        s.error.code === 'NameConflict' && s.error.plugin ? this.#entries.get(s.error.plugin) : undefined;
      if (holder && holder.info.path !== s.path) this.#noteConflict(holder, s.path, s.error.message);
    }
    return {
      found: [...found].flatMap((n) => {
        const info = this.getPluginInfo(n);
        return info ? [info] : [];
      }),
      skipped,
    };
  }

  /**
   * Reads one plugin's manifest and trust status without running it. Keyed by the manifest's `name` — the same name
   * `loadPlugin` uses. Throws `NameConflict` when that name belongs to a trusted plugin and this file is not trusted.
   */
  async discoverPlugin(artifactPath: string): Promise<PluginInfo> {
    return (await this.#discover(artifactPath)).info;
  }

  async #discover(
    artifactPath: string,
  ): Promise<{ info: PluginInfo; displaced?: ScanReport['skipped'][number] }> {
    // The manifest shown is the verified one when verification succeeds (the unverified read only names a failure).
    let manifest = await readManifest(artifactPath);
    const stat = await statOf(artifactPath);
    let trustLevel: TrustLevel = 'untrusted';
    let error: string | undefined;
    let trustInfo: PluginInfo['trustInfo'];
    let verified: VerifiedArtifact | undefined;
    try {
      verified = await this.security.verifyArtifact(artifactPath);
      manifest = verified.manifest;
      if (verified.trustEntry) {
        trustLevel = 'trusted';
        trustInfo = verified.trustEntry;
      } else {
        error = 'signed but not on the trust list';
      }
    } catch (e) {
      error = displayText((e as Error).message, MAX_ERROR_CHARS);
    }
    const name = manifest.name;
    const info = this.#infoFrom(manifest, artifactPath, stat, trustLevel);
    info.status = trustLevel === 'trusted' ? 'Available' : 'Untrusted';
    if (trustInfo) info.trustInfo = trustInfo;
    if (error !== undefined) info.error = error;
    info.grants = this.#decide(manifest, trustLevel, verified?.hash ?? manifest.artifact.sha3_512, trustInfo);
    if (trustLevel === 'untrusted' && this.#reservedByTrust(name, info.path)) {
      // The trusted plugin's own file that no longer verifies (tampered, delisted): its entry says so.
      const own = this.#entries.get(name);
      if (own && own.info.path === info.path && own.info.status !== 'Active' && !own.busy) {
        own.info.status = 'Failed';
        own.info.error = error ?? 'no longer trusted';
      }
      throw new PluginError(
        'NameConflict',
        `${artifactPath} is not trusted (${error ?? 'untrusted'}) and claims the name ${name}, which belongs to a trusted plugin`,
        { plugin: name, details: { path: info.path } },
      );
    }
    const existing = this.#entries.get(name);
    let displaced: ScanReport['skipped'][number] | undefined;
    if (existing) {
      const verdict = arbitrateName(
        name,
        {
          path: existing.info.path,
          trustLevel: existing.info.trustLevel,
          inUse: existing.info.status === 'Active' || existing.busy !== undefined,
        },
        { path: info.path, trustLevel, inUse: false },
      );
      if (verdict.keep === 'existing') {
        if (existing.info.path === info.path) return { info: { ...existing.info } };
        this.#noteConflict(existing, info.path, verdict.reason);
        throw new PluginError('NameConflict', `${artifactPath} not recorded: ${verdict.reason}`, {
          plugin: name,
          details: { path: info.path, holder: existing.info.path },
        });
      }
      if (existing.info.path !== info.path) {
        displaced = {
          path: existing.info.path,
          error: new PluginError('NameConflict', `${existing.info.path} replaced: ${verdict.reason}`, {
            plugin: name,
          }),
        };
        info.nameConflicts = [{ path: existing.info.path, reason: verdict.reason }];
      } else if (existing.info.nameConflicts) {
        info.nameConflicts = existing.info.nameConflicts;
      }
    }
    const entry = existing ?? this.#newEntry(info);
    entry.info = info;
    this.#entries.set(name, entry);
    return displaced ? { info: { ...info }, displaced } : { info: { ...info } };
  }

  #noteConflict(entry: Entry, otherPath: string, reason: string): void {
    const list = entry.info.nameConflicts ?? [];
    if (!list.some((c) => c.path === otherPath) && list.length < 32) list.push({ path: otherPath, reason });
    entry.info.nameConflicts = list;
  }

  /**
   * Whether `name` is reserved for a trusted plugin: on the trust list, or recorded as trusted from another file.
   * An untrusted file may never take it.
   */
  #reservedByTrust(name: string, claimant: string): boolean {
    if (this.security.trustedPlugins.some((e) => e.name === name)) return true;
    const e = this.#entries.get(name);
    return e !== undefined && e.info.trustLevel === 'trusted' && e.info.path !== claimant;
  }

  /** The grant decision for a manifest; the signer counts only when its signature was verified. */
  #decide(
    manifest: PluginManifest,
    trustLevel: TrustLevel,
    hash: string,
    trustEntry: PluginInfo['trustInfo'],
  ): GrantDecision {
    return decideGrants(this.#grantInput(manifest, trustLevel, hash, trustEntry));
  }

  #grantInput(
    manifest: PluginManifest,
    trustLevel: TrustLevel,
    hash: string,
    trustEntry: PluginInfo['trustInfo'],
  ): GrantInput {
    return grantInputFor(manifest, trustLevel, hash, trustEntry?.keyId, this.#grants);
  }

  // ---- loading ------------------------------------------------------------------------------------------------

  /**
   * Verifies, places and starts a plugin; returns its name. Trusted plugins must pass PluginSecurity; untrusted ones
   * are refused under `onlyTrusted` and otherwise run only in the sandbox, with what the host's grant policy gives
   * them. The name, the tier override, the grants and the bytes loaded all come from the one verified manifest.
   */
  async loadPlugin(artifactPath: string, trustLevel: TrustLevel = 'trusted'): Promise<string> {
    return this.#track(this.#loadPlugin(artifactPath, trustLevel, undefined));
  }

  /**
   * Loads a plugin found earlier by `scanDirectory`/`discoverPlugin`, by name. The file is verified again; if its
   * verified manifest names another plugin (it was swapped since discovery) the load fails with `NameConflict`.
   */
  async loadPluginByName(name: string): Promise<string> {
    this.#assertOpen();
    const entry = this.#entries.get(name);
    if (!entry) throw new PluginError('NotFound', `no plugin named ${name} was discovered`, { plugin: name });
    const trust =
      entry.info.trustLevel === 'trusted' && entry.info.status !== 'Untrusted' ? 'trusted' : 'untrusted';
    return this.#track(this.#loadPlugin(entry.info.path, trust, name));
  }

  /**
   * Tracked from the very start, so an unloadAll()/close() that begins while this load still verifies waits for it
   * too (and then unloads it), instead of missing it.
   */
  async #track(work: Promise<string>): Promise<string> {
    this.#loading.add(work);
    try {
      return await work;
    } finally {
      this.#loading.delete(work);
    }
  }

  async #loadPlugin(
    artifactPath: string,
    trustLevel: TrustLevel,
    expected: string | undefined,
  ): Promise<string> {
    this.#assertOpen();
    let verified: VerifiedArtifact;
    try {
      verified = await this.#verify(artifactPath, trustLevel);
    } catch (e) {
      await this.#recordVerifyFailure(artifactPath, trustLevel, e, expected);
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
    if (trustLevel === 'untrusted' && this.#reservedByTrust(name, path.resolve(artifactPath))) {
      throw new PluginError(
        'NameConflict',
        `untrusted plugin ${artifactPath} claims the name ${name}, which belongs to a trusted plugin`,
        { plugin: name, details: { path: path.resolve(artifactPath) } },
      );
    }
    // From here to `e.busy = work` nothing awaits: the check and the reservation of the name are one step, so of two
    // concurrent loads exactly one gets AlreadyLoaded (an await in between let both through).
    const entry = this.#entries.get(name);
    if (entry?.busy || entry?.info.status === 'Active') {
      throw new PluginError(
        entry.info.trustLevel !== trustLevel ? 'NameConflict' : 'AlreadyLoaded',
        `plugin ${name} is already ${entry.busy ? 'being loaded' : 'loaded'}${
          entry.info.trustLevel !== trustLevel
            ? ` (as ${entry.info.trustLevel}, from ${entry.info.path})`
            : ''
        }`,
        { plugin: name },
      );
    }
    const stat = { size: verified.bytes.byteLength, mtimeMs: 0 };
    const e = entry ?? this.#newEntry(this.#infoFrom(manifest, artifactPath, stat, trustLevel));
    const work = this.#load(e, verified, artifactPath, trustLevel);
    e.busy = work;
    this.#entries.set(name, e);
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
  async #recordVerifyFailure(
    artifactPath: string,
    trustLevel: TrustLevel,
    e: unknown,
    expected: string | undefined,
  ): Promise<void> {
    const manifest = await readManifest(artifactPath).catch(() => undefined);
    const name = expected ?? manifest?.name;
    if (name === undefined) return;
    const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
    const entry = this.#entries.get(name);
    const resolved = path.resolve(artifactPath);
    if (entry && (entry.busy || entry.info.status === 'Active' || entry.info.path !== resolved)) return;
    if (!entry && (!manifest || (trustLevel === 'untrusted' && this.#reservedByTrust(name, resolved))))
      return;
    const e2 =
      entry ??
      this.#newEntry(
        this.#infoFrom(manifest!, artifactPath, { size: manifest!.artifact.size, mtimeMs: 0 }, trustLevel),
      );
    e2.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
    e2.info.error = displayText(err.message, MAX_ERROR_CHARS);
    this.#entries.set(name, e2);
    this.#emit('failed', { name, error: err });
  }

  async #load(
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
        ...this.#infoFrom(manifest, artifactPath, stat, trustLevel),
        nameConflicts: entry.info.nameConflicts,
      };
      if (entry.info.nameConflicts === undefined) delete entry.info.nameConflicts;
      if (verified.trustEntry) entry.info.trustInfo = verified.trustEntry;
      entry.info.hash = verified.hash;
      const input = this.#grantInput(manifest, trustLevel, verified.hash, verified.trustEntry);
      const decision = await resolveGrantedPaths(decideGrants(input), applicableGrant(input));
      entry.info.grants = decision;
      const requirements = decision.granted;
      const placement = placePlugin({
        name,
        trustLevel,
        requirements,
        defaultTier: this.#defaultTier,
        override: Object.hasOwn(this.#overrides, name) ? this.#overrides[name] : undefined,
        sandboxAvailable: this.sandbox !== undefined,
      });
      entry.info.tier = placement.tier;
      entry.info.resourceLimits = mergeLimits(manifest.limits ?? {}, this.#hostLimits);
      entry.alive = true;
      entry.registrationsOpen = true;
      entry.handle = await this.#start(entry, verified, placement.tier, decision);
      if (this.#closed) throw new PluginError('LoadError', 'registry closed during load', { plugin: name });
      entry.info.pid = entry.handle.pid;
      entry.info.status = 'Active';
      entry.info.error = undefined;
      this.#watchExit(entry, entry.handle);
      this.#emit('loaded', {
        name,
        version: entry.info.version,
        tier: placement.tier,
        pid: entry.handle.pid,
      });
    } catch (e) {
      const err = toPluginError(e, 'LoadError', `cannot load plugin ${name}`, { plugin: name });
      entry.alive = false;
      entry.registrationsOpen = false;
      this.hooks.unregisterAll(name);
      if (entry.handle) await entry.handle.stop({ callShutdown: false, timeoutMs: 2000 });
      entry.handle = undefined;
      this.context.releasePlugin(name);
      entry.info.status = err.code === 'UntrustedPlugin' ? 'Untrusted' : 'Failed';
      entry.info.error = displayText(err.message, MAX_ERROR_CHARS);
      entry.info.pid = undefined;
      const shown = displayError(err);
      this.#emit('failed', { name, error: shown });
      throw shown;
    }
  }

  /** Admission is security's one decision (`PluginSecurity.admit`): trusted = verified and listed. */
  #verify(artifactPath: string, trustLevel: TrustLevel): Promise<VerifiedArtifact> {
    return this.security.admit(artifactPath, trustLevel, { onlyTrusted: this.policy.onlyTrusted });
  }

  async #start(
    entry: Entry,
    verified: VerifiedArtifact,
    tier: IsolationTier,
    decision: GrantDecision,
  ): Promise<TierHandle> {
    const name = entry.info.name;
    const requirements = decision.granted;
    const limits = entry.info.resourceLimits;
    const quotas = this.#quotas;
    const reportQuota = quotaReporter((v) => this.#violation(entry, v));
    const contextView = reportingContext(
      this.context.forPlugin(
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
      hooks: this.hooks,
      grantedHooks: decision.hooks,
      isOpen: () => accepting && entry.registrationsOpen && entry.alive,
      budgetMs: () => entry.info.resourceLimits.maxCpuTimeMs,
      guard: (hookName, handler) => this.#guard(entry, hookName, handler),
      onBadReturn: (hookName, error) => this.#emit('hook-error', { name, hookName, error }),
    });
    // Log lines come from the plugin (over IPC, or its stdout/stderr): whatever `log` printer the host configured gets
    // them bounded and escaped, as every other plugin-controlled text.
    const log = (level: string, message: string) =>
      this.#log(name, displayText(level, 16), displayText(message, MAX_LOG_MESSAGE_CHARS));
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
      const instance = await this.loader.loadVerified(verified);
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
        this.hooks.unregisterAll(name);
        await handle.stop({ callShutdown: false, timeoutMs: 2000 });
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
      hostContext: this.context,
      log,
      sandbox: this.sandbox,
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
        this.#violation(entry, {
          type: 'Quota',
          resource: stream,
          used: DEFAULT_PLUGIN_OUTPUT_BUDGET.bytesPerWindow + 1,
          limit: DEFAULT_PLUGIN_OUTPUT_BUDGET.bytesPerWindow,
        }),
      ...(requirements.network.mode === 'restricted'
        ? {
            fetch: reportingFetch(
              this.#brokerFor(requirements.network.allowedTargets, brokerQuota(limits, quotas)),
              reportQuota,
            ),
          }
        : {}),
    });
  }

  /** The host side of `restricted` network: every request is checked against the plugin's signed allow-list. */
  #brokerFor(
    allowedTargets: readonly NetworkTarget[],
    quota: { maxInFlight: number; maxBufferedBytes: number },
  ): (req: FetchRequest, signal: AbortSignal) => Promise<FetchResponse> {
    const broker = new FetchBroker({ ...quota, ...this.#fetchBrokerOptions, allowedTargets });
    return (req, signal) => broker.fetch(req, signal);
  }

  /**
   * Wraps a plugin's handler: refuses once the plugin is unloading, counts in-flight calls, reports failures. Not an
   * async function: a synchronous handler's result goes back as is (no promise, no microtask per call).
   */
  #guard(entry: Entry, hookName: string, handler: HookHandler): HookHandler {
    const name = entry.info.name;
    const done = (): void => {
      entry.inFlight--;
      if (entry.inFlight === 0) entry.idle?.();
    };
    const failed = (e: unknown, info: HookCallInfo, started: number): PluginError => {
      const err = toPluginError(e, 'HookError', `hook ${hookName} of plugin ${name} failed`, {
        plugin: name,
      });
      if (isTimeoutError(e) || (info.signal?.aborted && isTimeoutError(info.signal.reason))) {
        const limit = entry.info.resourceLimits.maxCpuTimeMs;
        this.#violation(entry, {
          type: 'HookTimeout',
          hookName,
          durationMs: Math.round(performance.now() - started),
          limitMs: limit,
        });
      }
      const shown = displayError(err);
      this.#emit('hook-error', { name, hookName, error: shown });
      return shown;
    };
    return (data, info) => {
      if (!entry.alive) {
        throw new PluginError('NotFound', `plugin ${name} was unloaded`, { plugin: name });
      }
      entry.inFlight++;
      const started = performance.now();
      let out: Awaitable<Uint8Array>;
      try {
        out = handler(data, info);
      } catch (e) {
        const shown = failed(e, info, started);
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
          const shown = failed(e, info, started);
          done();
          throw shown;
        },
      );
    };
  }

  #watchExit(entry: Entry, handle: TierHandle): void {
    handle.exited.then(
      (exit) => {
        if (entry.handle !== handle || !entry.alive) return; // an unload we asked for
        entry.alive = false;
        entry.registrationsOpen = false;
        entry.handle = undefined;
        this.hooks.unregisterAll(entry.info.name);
        this.context.releasePlugin(entry.info.name);
        entry.info.status = 'Failed';
        entry.info.pid = undefined;
        // The kernel's OOM kill explains a torn channel better than the channel does.
        const pv = exit.oomKilled ? undefined : exit.protocolViolation;
        entry.info.error = pv
          ? `ProtocolViolation: the plugin broke the IPC protocol (${pv.reason}) and was ended`
          : exit.oomKilled
            ? 'plugin process was killed for exceeding its memory limit'
            : `plugin process exited unexpectedly (code ${exit.exitCode}, signal ${exit.signal})`;
        this.#emit('crashed', {
          name: entry.info.name,
          exitCode: exit.exitCode,
          signal: exit.signal,
          oomKilled: exit.oomKilled,
          ...(pv ? { protocolViolation: pv.reason } : {}),
        });
        this.#violation(
          entry,
          pv
            ? { type: 'ProtocolViolation', reason: pv.reason }
            : exit.oomKilled
              ? { type: 'OutOfMemory', limit: entry.info.resourceLimits.maxHeapBytes }
              : { type: 'Crash', signal: exit.signal, exitCode: exit.exitCode },
          false,
        );
        this.#emit('unloaded', { name: entry.info.name, reason: 'crashed' });
      },
      () => {},
    );
  }

  // ---- unloading ----------------------------------------------------------------------------------------------

  /**
   * Unloads a plugin: removes its hooks (later executions no longer see it), waits for running calls into it
   * (bounded), calls `shutdown`, releases the library/process. The plugin ends `Inactive`.
   */
  async unloadPlugin(
    name: string,
    reason: RegistryEvents['unloaded']['reason'] = 'requested',
  ): Promise<void> {
    const entry = this.#entries.get(name);
    if (!entry || (entry.info.status !== 'Active' && !entry.busy)) {
      throw new PluginError('NotFound', `plugin ${name} is not loaded`, { plugin: name });
    }
    if (entry.busy) await entry.busy.catch(() => {});
    const handle = entry.handle;
    if (!handle || entry.info.status !== 'Active') {
      throw new PluginError('NotFound', `plugin ${name} is not loaded`, { plugin: name });
    }
    const work = (async () => {
      entry.registrationsOpen = false;
      this.hooks.unregisterAll(name);
      const b = this.#unmount;
      if (entry.inFlight > 0) {
        await new Promise<void>((resolve) => {
          entry.idle = resolve;
          setTimeout(resolve, Math.max(b.maxCleanupTimeMs, 100)).unref();
        });
        entry.idle = undefined;
      }
      entry.alive = false;
      entry.handle = undefined;
      const err = await handle.stop({
        callShutdown: b.callShutdownHook && (reason !== 'violations' || b.allowCleanup),
        timeoutMs: Math.max(b.maxCleanupTimeMs, 100),
      });
      this.context.releasePlugin(name);
      entry.info.status = 'Inactive';
      entry.info.pid = undefined;
      entry.info.error =
        reason === 'violations'
          ? 'unmounted after resource violations'
          : err && displayText(err.message, MAX_ERROR_CHARS);
      this.#emit('unloaded', { name, reason });
    })();
    entry.busy = work;
    try {
      await work;
    } finally {
      entry.busy = undefined;
    }
  }

  /** Unloads every loaded plugin (waiting for loads in progress first). */
  async unloadAll(reason: RegistryEvents['unloaded']['reason'] = 'requested'): Promise<void> {
    await Promise.allSettled([...this.#loading]);
    await Promise.all([...this.#entries.values()].map((e) => e.busy?.catch(() => {})));
    const active = [...this.#entries.values()]
      .filter((e) => e.info.status === 'Active')
      .map((e) => e.info.name);
    await Promise.all(active.map((n) => this.unloadPlugin(n, reason).catch(() => {})));
  }

  /** Stops monitors and unloads everything; leaves no plugin process behind. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const m of this.#monitors) m.abort();
    await this.unloadAll('close');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- queries ------------------------------------------------------------------------------------------------

  /** Every plugin the registry knows, in any state. */
  getAllPlugins(): PluginInfo[] {
    return [...this.#entries.values()].map((e) => ({ ...e.info }));
  }
  /** Names of the Active plugins. */
  listLoadedPlugins(): string[] {
    return this.#select('Active').map((i) => i.name);
  }
  /** Discovered, trusted, not loaded. */
  getAvailablePlugins(): PluginInfo[] {
    return this.#select('Available');
  }
  /** Discovered but not trusted. */
  getUntrustedPlugins(): PluginInfo[] {
    return this.#select('Untrusted');
  }
  /** One plugin's info, or `undefined`. */
  getPluginInfo(name: string): PluginInfo | undefined {
    const e = this.#entries.get(name);
    return e ? { ...e.info } : undefined;
  }
  isLoaded(name: string): boolean {
    return this.#entries.get(name)?.info.status === 'Active';
  }
  /** Number of Active plugins. */
  pluginCount(): number {
    return this.#select('Active').length;
  }
  /** Number of plugins known in any state. */
  totalPluginCount(): number {
    return this.#entries.size;
  }

  // ---- limits and violations ----------------------------------------------------------------------------------

  /** The effective (host-capped) limits of a plugin. */
  getResourceLimits(name: string): ResourceLimits {
    return { ...this.#mustGet(name).info.resourceLimits };
  }
  /** Records a violation; returns true when the plugin should be unmounted (and unmounts it under autoUnmount). */
  recordViolation(name: string, violation: ViolationType): boolean {
    return this.#violation(this.#mustGet(name), violation);
  }
  getViolationCount(name: string): number {
    return this.#mustGet(name).tracker.violationCount();
  }
  resetViolations(name: string): void {
    this.#mustGet(name).tracker.reset();
  }
  setUnmountBehavior(behavior: UnmountBehavior): void {
    this.#unmount = { ...behavior };
  }
  getUnmountBehavior(): UnmountBehavior {
    return { ...this.#unmount };
  }

  #violation(entry: Entry, violation: ViolationType, mayUnmount = true): boolean {
    entry.tracker.recordViolation(violation);
    const should = entry.tracker.shouldUnmount();
    const willUnmount = mayUnmount && should && this.#unmount.autoUnmount && entry.info.status === 'Active';
    if (this.#unmount.logViolations) {
      this.#log(
        entry.info.name,
        'warn',
        `violation ${JSON.stringify(violation)}${willUnmount ? ' → unmounting' : ''}`,
      );
    }
    this.#emit('violation', {
      name: entry.info.name,
      violation,
      count: entry.tracker.violationCount(),
      willUnmount,
    });
    if (willUnmount) {
      const name = entry.info.name;
      const delay = this.#unmount.gracePeriodMs;
      const go = () => {
        this.unloadPlugin(name, 'violations').catch((e) =>
          this.#log(name, 'error', `auto-unmount failed: ${(e as Error).message}`),
        );
      };
      if (delay > 0) setTimeout(go, delay).unref();
      else go();
    }
    return should;
  }

  /** Reads one plugin's metrics from the collector of its tier. */
  async getMetrics(name: string): Promise<PluginMetrics> {
    const entry = this.#mustGet(name);
    if (!entry.handle) return { timestamp: Date.now(), source: 'host', exited: true };
    return entry.handle.metrics();
  }

  /**
   * Starts the resource monitor: every `intervalMs` it reads each Active plugin's metrics, records violations of its
   * limits and unmounts at the threshold (when autoUnmount). Ticks never overlap; a failed read skips that plugin. A
   * sweep yields to the event loop every ~0.5 ms and reads shared tables once (see `sweepMetrics`).
   */
  startResourceMonitor(intervalMs = DEFAULT_MONITOR_INTERVAL_MS, signal?: AbortSignal): MonitorHandle {
    if (!Number.isFinite(intervalMs) || intervalMs < 10) {
      throw new PluginError('InvalidArgument', `monitor interval must be at least 10 ms, got ${intervalMs}`);
    }
    const ctl = new AbortController();
    this.#monitors.add(ctl);
    signal?.addEventListener('abort', () => ctl.abort(), { once: true });
    const tick = () =>
      sweepMetrics(
        [...this.#entries.values()]
          .filter((e) => e.info.status === 'Active' && e.handle && !e.busy)
          .map((e) => monitoredPlugin(e, e.handle as TierHandle)),
        {
          signal: ctl.signal,
          onReading: ({ entry: e, handle }, m) => {
            // The sweep spans several turns of the event loop: the plugin may have been unloaded or reloaded since.
            if (ctl.signal.aborted || e.info.status !== 'Active' || e.handle !== handle) return;
            const previous = e.lastMetrics;
            e.lastMetrics = m;
            const judged = withRuntimeAllowance(e.info.resourceLimits, e.info.tier);
            for (const v of detectViolations(m, judged, previous)) this.#violation(e, v);
          },
          onError: ({ entry: e }, err) =>
            this.#log(e.info.name, 'debug', `metrics read failed: ${(err as Error).message}`),
        },
      );
    const loop = async () => {
      while (!ctl.signal.aborted) {
        await tick();
        await new Promise<void>((resolve) => {
          const onAbort = () => {
            clearTimeout(t);
            resolve();
          };
          const t = setTimeout(() => {
            ctl.signal.removeEventListener('abort', onAbort);
            resolve();
          }, intervalMs);
          ctl.signal.addEventListener('abort', onAbort, { once: true });
        });
      }
      this.#monitors.delete(ctl);
    };
    loop().catch((e) => this.#log('registry', 'error', `monitor stopped: ${(e as Error).message}`));
    return { stop: () => ctl.abort(), signal: ctl.signal };
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  #select(status: PluginInfo['status']): PluginInfo[] {
    return [...this.#entries.values()].filter((e) => e.info.status === status).map((e) => ({ ...e.info }));
  }

  #mustGet(name: string): Entry {
    const e = this.#entries.get(name);
    if (!e) throw new PluginError('NotFound', `no plugin named ${name}`, { plugin: name });
    return e;
  }

  #assertOpen(): void {
    if (this.#closed) throw new PluginError('LoadError', 'the registry is closed');
  }

  #newEntry(info: PluginInfo): Entry {
    return { info, tracker: new ViolationTracker(), alive: false, inFlight: 0, registrationsOpen: false };
  }

  #infoFrom(
    manifest: PluginManifest,
    artifactPath: string,
    stat: { size: number; mtimeMs: number },
    trustLevel: TrustLevel,
  ): PluginInfo {
    return {
      name: manifest.name,
      version: manifest.version,
      author: manifest.author,
      ...(manifest.description === undefined ? {} : { description: manifest.description }),
      kind: manifest.kind,
      status: 'Available',
      trustLevel,
      path: path.resolve(artifactPath),
      hash: manifest.artifact.sha3_512,
      size: stat.size,
      modified: stat.mtimeMs,
      resourceLimits: mergeLimits(manifest.limits ?? {}, this.#hostLimits),
    };
  }
}

/** An Active entry as the monitor sweep reads it (connections counted only under a `full` network grant). */
function monitoredPlugin(entry: Entry, handle: TierHandle): SweepItem & { entry: Entry; handle: TierHandle } {
  return {
    name: entry.info.name,
    tier: entry.info.tier,
    metrics: (options) => handle.metrics(options),
    connections: entry.info.grants?.granted.network.mode === 'full',
    connectionLimit: entry.info.resourceLimits.maxConnections,
    entry,
    handle,
  };
}

/**
 * At the process and sandbox tiers a reading covers the whole Node runtime around the plugin (≈ 96 MiB, ~16 threads,
 * ~30 fds before the plugin does anything): judge the plugin's limits on top of that allowance, the same allowance
 * its cgroup gets, so an idle plugin is never a violation.
 */
function withRuntimeAllowance(limits: ResourceLimits, tier: IsolationTier | undefined): ResourceLimits {
  if (tier !== 'process' && tier !== 'sandbox') return limits;
  return {
    ...limits,
    maxHeapBytes: limits.maxHeapBytes + RUNTIME_MEMORY_HEADROOM_BYTES,
    maxThreads: limits.maxThreads + MIN_THREADS_FOR_NODE,
    maxFileDescriptors: limits.maxFileDescriptors + MIN_FILE_DESCRIPTORS,
  };
}

async function statOf(p: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    const s = await fs.stat(p);
    return { size: s.size, mtimeMs: s.mtimeMs };
  } catch (e) {
    throw toPluginError(e, 'IoError', `cannot stat ${p}`);
  }
}

export { isPluginError };
