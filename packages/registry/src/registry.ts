import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { PluginContext } from '@plugward/context';
import { HookRegistry } from '@plugward/hooks';
import { resolveUnmountBehavior, ViolationTracker, type ViolationTrackerOptions } from '@plugward/limits';
import { PluginLoader } from '@plugward/loader';
import type { FetchBrokerOptions } from '@plugward/sandbox-linux';
import type { PluginSecurity } from '@plugward/security';
import {
  DEFAULT_MONITOR_INTERVAL_MS,
  DEFAULT_RESOURCE_LIMITS,
  DEFAULT_SECURITY_POLICY,
  displayText,
  type HostGrants,
  type IsolationTier,
  isPluginError,
  PluginError,
  type PluginInfo,
  type PluginMetrics,
  type ResourceLimits,
  type SandboxBackend,
  type SecurityPolicy,
  type TrustLevel,
  type UnmountBehavior,
  type ViolationType,
} from '@plugward/types';
import type { ScanReport } from './discovery.js';
import type { RegistryEventName, RegistryEvents } from './events.js';
import { hookCallBudget, type PluginQuotaOptions } from './quotas.js';
import { loadArtifact, loadByName, track } from './registry-admission.js';
import { discover, scanDirectoryReport } from './registry-discovery.js';
import { close, unloadAll, unloadPlugin } from './registry-lifecycle.js';
import { getMetrics, type MonitorHandle, startResourceMonitor } from './registry-monitoring.js';
import { watchInProcessTimeouts } from './registry-start.js';
import {
  count,
  MAX_LOG_MESSAGE_CHARS,
  mustGet,
  type RegistryState,
  select,
  unmountBehaviorOf,
} from './registry-state.js';
import { noteViolation, setUnmountBehavior } from './registry-violations.js';
import { WarmPool, type WarmPoolOptions } from './warm-pool.js';

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
  /**
   * The default unmount behaviour (validated; missing fields from DEFAULT_UNMOUNT_BEHAVIOR). Per plugin:
   * `setUnmountBehavior(name, behavior)`.
   */
  unmountBehavior?: Partial<UnmountBehavior>;
  /**
   * The violation rule of every plugin's tracker. Default: the documented rule, unmount once 10 violations were
   * recorded since the last reset. `windowMs` and `severityEscalation` turn the extensions on.
   */
  violations?: ViolationTrackerOptions;
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
  /**
   * Off by default. Keeps `size` sandboxes started per sandbox configuration (needs `sandbox`), so that a sandboxed
   * plugin whose configuration matches one exactly loads into it instead of starting one; see `WarmPool`.
   */
  warmPool?: WarmPoolOptions;
}

export type { MonitorHandle };

/**
 * The plugin registry: discovery, trust, isolation tiers, lifecycle and monitoring (the Rust API reference's
 * `PluginRegistry`).
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
  /** The warm pool (`options.warmPool`), for its `stats()` and `prewarm()`; closed by {@link close}. */
  readonly warmPool: WarmPool | undefined;
  /** Everything the seams (`registry-*.ts`) share; see {@link RegistryState}. */
  readonly #s: RegistryState;

  /** A registry from options; everything but `security` has a default. */
  constructor(options: PluginRegistryOptions);
  /**
   * The Rust API reference's positional form: `new PluginRegistry(loader, context, hooks, security)`, with the other
   * options after them.
   */
  constructor(
    loader: PluginLoader,
    context: PluginContext,
    hooks: HookRegistry,
    security: PluginSecurity,
    options?: Omit<PluginRegistryOptions, 'loader' | 'context' | 'hooks' | 'security'>,
  );
  constructor(
    first: PluginRegistryOptions | PluginLoader,
    context?: PluginContext,
    hooks?: HookRegistry,
    security?: PluginSecurity,
    rest?: Omit<PluginRegistryOptions, 'loader' | 'context' | 'hooks' | 'security'>,
  ) {
    const options = positionalOptions(first, context, hooks, security, rest);
    this.security = options.security;
    this.loader = options.loader ?? new PluginLoader(options.security);
    const hostLimits = options.hostLimits ?? { ...DEFAULT_RESOURCE_LIMITS };
    const quotas = options.quotas ?? {};
    this.hooks = options.hooks ?? new HookRegistry(hookCallBudget(hostLimits, quotas));
    this.context = options.context ?? new PluginContext();
    this.sandbox = options.sandbox;
    if (options.warmPool !== undefined && options.sandbox === undefined) {
      throw new PluginError('InvalidArgument', 'warmPool needs a sandbox backend (options.sandbox)');
    }
    this.warmPool =
      options.warmPool && options.sandbox ? new WarmPool(options.sandbox, options.warmPool) : undefined;
    this.policy = { ...DEFAULT_SECURITY_POLICY, ...options.security.policy, ...options.policy };
    const unmount = resolveUnmountBehavior(options.unmountBehavior ?? {});
    // Validated once here (a bad rule fails the constructor, not the first load).
    const violationRules = { ...options.violations };
    new ViolationTracker(violationRules);
    const log =
      options.log ??
      ((plugin: string, level: string, message: string) => {
        console.error(
          `[${displayText(plugin)}] ${displayText(level, 16)}: ${displayText(message, MAX_LOG_MESSAGE_CHARS)}`,
        );
      });
    const events = new EventEmitter();
    events.setMaxListeners(100);
    this.#s = {
      security: this.security,
      loader: this.loader,
      hooks: this.hooks,
      context: this.context,
      sandbox: this.sandbox,
      warmPool: this.warmPool,
      policy: this.policy,
      events,
      entries: new Map(),
      defaultTier: options.defaultTier ?? 'in-process',
      overrides: options.tierOverrides ?? {},
      hostLimits,
      unmount,
      unmountByName: new Map(),
      violationRules,
      closing: new AbortController(),
      log,
      fetchBrokerOptions: options.fetchBroker ?? {},
      grants: options.grants ?? {},
      quotas,
      closed: false,
      monitors: new Set(),
      loading: new Set(),
    };
    watchInProcessTimeouts(this.#s);
  }

  // ---- events (registry-state.ts emits them) -------------------------------------------------------------------

  /** Subscribes to a registry event; returns the unsubscribe function. */
  on<E extends RegistryEventName>(event: E, listener: (payload: RegistryEvents[E]) => void): () => void {
    this.#s.events.on(event, listener);
    return () => this.#s.events.off(event, listener);
  }

  // ---- discovery (registry-discovery.ts) ------------------------------------------------------------------------

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
    return scanDirectoryReport(this.#s, dir);
  }

  /**
   * Reads one plugin's manifest and trust status without running it. Keyed by the manifest's `name` — the same name
   * `loadPlugin` uses. Throws `NameConflict` when that name belongs to a trusted plugin and this file is not trusted.
   */
  async discoverPlugin(artifactPath: string): Promise<PluginInfo> {
    return (await discover(this.#s, artifactPath)).info;
  }

  // ---- loading (registry-admission.ts) --------------------------------------------------------------------------

  /**
   * Verifies, places and starts a plugin; returns its name. Trusted plugins must pass PluginSecurity; untrusted ones
   * are refused under `onlyTrusted` and otherwise run only in the sandbox, with what the host's grant policy gives
   * them. The name, the tier override, the grants and the bytes loaded all come from the one verified manifest.
   */
  async loadPlugin(artifactPath: string, trustLevel: TrustLevel = 'trusted'): Promise<string> {
    return track(this.#s, loadArtifact(this.#s, artifactPath, trustLevel, undefined));
  }

  /**
   * Loads a plugin found earlier by `scanDirectory`/`discoverPlugin`, by name. The file is verified again; if its
   * verified manifest names another plugin (it was swapped since discovery) the load fails with `NameConflict`.
   */
  async loadPluginByName(name: string): Promise<string> {
    return loadByName(this.#s, name);
  }

  // ---- unloading (registry-lifecycle.ts) ------------------------------------------------------------------------

  /**
   * Unloads a plugin by its unmount behaviour (`performUnmount`, the one unmount path): removes its hooks (later
   * executions no longer see it), waits for running calls into it (up to `maxCleanupTimeMs`), calls `shutdown` when
   * `callShutdownHook` holds, releases the library/process. An automatic unmount (`reason` `violations`) first waits
   * `gracePeriodMs`, cut short by `close()`. The plugin ends `Inactive`.
   */
  async unloadPlugin(
    name: string,
    reason: RegistryEvents['unloaded']['reason'] = 'requested',
  ): Promise<void> {
    return unloadPlugin(this.#s, name, reason);
  }

  /** Unloads every loaded plugin (waiting for loads in progress first). */
  async unloadAll(reason: RegistryEvents['unloaded']['reason'] = 'requested'): Promise<void> {
    return unloadAll(this.#s, reason);
  }

  /** Stops monitors and unloads everything; leaves no plugin process behind. */
  async close(): Promise<void> {
    return close(this.#s);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // ---- queries ------------------------------------------------------------------------------------------------

  /** Every plugin the registry knows, in any state. */
  getAllPlugins(): PluginInfo[] {
    return select(this.#s, () => true);
  }
  /** The Active plugins. */
  listLoadedPlugins(): PluginInfo[] {
    return select(this.#s, isActive);
  }
  /**
   * Trusted plugins that can be loaded now: discovered and not loaded (`Available`), or loaded before and unloaded
   * (`Inactive`).
   */
  getAvailablePlugins(): PluginInfo[] {
    return select(this.#s, isAvailable);
  }
  /** Discovered but not trusted. */
  getUntrustedPlugins(): PluginInfo[] {
    return select(this.#s, (i) => i.status === 'Untrusted');
  }
  /** One plugin's info; `NotFound` for a name the registry doesn't know. */
  getPluginInfo(name: string): PluginInfo {
    return { ...mustGet(this.#s, name).info };
  }
  /** Whether `name` is Active. */
  isLoaded(name: string): boolean {
    const e = this.#s.entries.get(name);
    return e !== undefined && isActive(e.info);
  }
  /** Number of Active plugins. */
  pluginCount(): number {
    return count(this.#s, isActive);
  }
  /** Number of plugins known in any state. */
  totalPluginCount(): number {
    return this.#s.entries.size;
  }

  // ---- limits and violations (registry-violations.ts) -----------------------------------------------------------

  /** The effective (host-capped) limits of a plugin. */
  getResourceLimits(name: string): ResourceLimits {
    return { ...mustGet(this.#s, name).info.resourceLimits };
  }
  /**
   * Records a violation; resolves to whether the plugin should be unmounted (its tracker's `shouldUnmount`). When
   * that starts an automatic unmount (`autoUnmount` on, plugin Active), resolves after the unmount is done.
   */
  async recordViolation(name: string, violation: ViolationType): Promise<boolean> {
    const entry = mustGet(this.#s, name);
    const should = noteViolation(this.#s, entry, violation);
    await entry.unmounting;
    return should;
  }
  /** Violations counted by the plugin's tracker (since the last reset, or within the window when one is on). */
  getViolationCount(name: string): number {
    return mustGet(this.#s, name).tracker.violationCount();
  }
  /** Forgets a plugin's violations. */
  resetViolations(name: string): void {
    mustGet(this.#s, name).tracker.reset();
  }
  /** Sets the default unmount behaviour (validated; missing fields from DEFAULT_UNMOUNT_BEHAVIOR). */
  setUnmountBehavior(behavior: Partial<UnmountBehavior>): void;
  /** Sets the unmount behaviour of one plugin, by name (validated); the default stays as it is for the others. */
  setUnmountBehavior(name: string, behavior: Partial<UnmountBehavior>): void;
  setUnmountBehavior(first: string | Partial<UnmountBehavior>, second?: Partial<UnmountBehavior>): void {
    setUnmountBehavior(this.#s, first, second);
  }
  /** The unmount behaviour of plugin `name` (its own, else the default), or the default without a name. */
  getUnmountBehavior(name?: string): UnmountBehavior {
    return unmountBehaviorOf(this.#s, name);
  }

  // ---- monitoring (registry-monitoring.ts) ----------------------------------------------------------------------

  /**
   * Reads one plugin's metrics from the collector of its tier, with its `name`, `violationCount` and `hookCalls`. In
   * process, where no process of its own can be read, `cpuTimeMs` is the time its hook handlers held the host's thread
   * (`source: 'hooks'`, from the hook registry's `handlerStats`).
   */
  async getMetrics(name: string): Promise<PluginMetrics> {
    return getMetrics(this.#s, name);
  }

  /**
   * Starts the resource monitor (a `ResourceMonitor` whose watch list follows the registry): every `intervalMs` it
   * reads each Active plugin's metrics, records violations of its limits and unmounts at the threshold (when
   * autoUnmount). Ticks never overlap; a failed read skips that plugin. A sweep yields to the event loop every
   * ~0.25 ms and reads shared tables once.
   */
  startResourceMonitor(intervalMs = DEFAULT_MONITOR_INTERVAL_MS, signal?: AbortSignal): MonitorHandle {
    return startResourceMonitor(this.#s, intervalMs, signal);
  }
}

function isActive(info: PluginInfo): boolean {
  return info.status === 'Active';
}

function isAvailable(info: PluginInfo): boolean {
  return info.trustLevel === 'trusted' && (info.status === 'Available' || info.status === 'Inactive');
}

/** The options of either constructor form. */
function positionalOptions(
  first: PluginRegistryOptions | PluginLoader,
  context: PluginContext | undefined,
  hooks: HookRegistry | undefined,
  security: PluginSecurity | undefined,
  rest: Omit<PluginRegistryOptions, 'loader' | 'context' | 'hooks' | 'security'> | undefined,
): PluginRegistryOptions {
  if (first instanceof PluginLoader) {
    if (!(context instanceof PluginContext) || !(hooks instanceof HookRegistry) || !security) {
      throw new PluginError(
        'InvalidArgument',
        'new PluginRegistry(loader, context, hooks, security) needs all four: a PluginLoader, a PluginContext, a HookRegistry and a PluginSecurity',
      );
    }
    return { ...rest, loader: first, context, hooks, security };
  }
  if (!first || typeof first !== 'object' || !first.security) {
    throw new PluginError('InvalidArgument', 'PluginRegistry needs { security } at least');
  }
  return first;
}

export { isPluginError };
