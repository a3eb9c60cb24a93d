/**
 * @plugward/registry — the PluginRegistry that ties Plugward together (discovery, trust, isolation tiers, lifecycle,
 * monitoring), and the one install for a host. Besides its own API it re-exports, from the packages that own them:
 * every name of the Rust API reference (see the API reference mapping page), the types its own signatures use, the
 * sandbox backends a host picks from, and the trust-list set-up of a host (read a signed manifest, build its trust
 * entry, save or load the encrypted list). Everything else — signing and key tools, hashing, the IPC wire, metric
 * collectors, the sandbox backends' building blocks — is imported from the package that owns it
 * (`@plugward/security`, `@plugward/ipc`, `@plugward/limits`, `@plugward/loader`, `@plugward/sandbox-linux`, …).
 * @packageDocumentation
 */

export {
  type ContextQuota,
  PluginContext,
} from '@plugward/context';
export {
  HookRegistry,
  type RegisteredHook,
} from '@plugward/hooks';
export {
  IpcChannel,
  type LogBudget,
  type RequestRate,
} from '@plugward/ipc';
export {
  ResourceLimits,
  type SocketTable,
  ViolationTracker,
  type ViolationTrackerOptions,
  validateLimits,
} from '@plugward/limits';
export {
  type LoadedPlugin,
  loadVerified,
  PluginLoader,
} from '@plugward/loader';
export {
  checkLandlockSupport,
  LandlockSandbox,
  type LandlockSandboxOptions,
} from '@plugward/sandbox-landlock';
export {
  checkSandboxSupport,
  defaultSandboxConfig,
  type FetchBrokerOptions,
  LinuxSandbox,
  type LinuxSandboxOptions,
} from '@plugward/sandbox-linux';
export {
  loadTrustList,
  PluginSecurity,
  readManifest,
  saveTrustList,
  type TrustListKey,
  trustEntryFromManifest,
  type VerifiedArtifact,
} from '@plugward/security';
// The Rust API reference's names, the types of the registry's own signatures, what a host sets up with.
export {
  type CapabilitiesConfig,
  type CgroupConfig,
  type ContextKey,
  createContextKey,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_CPU_TIME_MS,
  DEFAULT_MAX_FILE_DESCRIPTORS,
  DEFAULT_MAX_HEAP_BYTES,
  DEFAULT_MAX_THREADS,
  DEFAULT_MONITOR_INTERVAL_SECS,
  DEFAULT_RESOURCE_LIMITS,
  DEFAULT_SECURITY_POLICY,
  DEFAULT_UNMOUNT_BEHAVIOR,
  DEFAULT_VIOLATION_THRESHOLD,
  definePlugin,
  type FilesystemAccess,
  type GrantDecision,
  type HookHandler,
  type HookRegistrar,
  type HostGrants,
  type HostToPluginRequest,
  type IpcRequest,
  type IpcResponse,
  IsolationTier,
  isPluginError,
  MANIFEST_SUFFIX,
  MINIMAL_REQUIREMENTS,
  type NamespaceConfig,
  type NetworkAccess,
  type NetworkTarget,
  PLUGIN_CONSTRUCTOR_SYMBOL,
  PLUGIN_ERROR_CODES,
  PLUGWARD_ABI_VERSION,
  type Plugin,
  type PluginDefinition,
  PluginError,
  type PluginErrorCode,
  type PluginInfo,
  type PluginInstance,
  type PluginKind,
  type PluginManifest,
  type PluginMetrics,
  type PluginRequirements,
  PluginStatus,
  PluginVersion,
  type PredefinedContextKey,
  type ProcessContainment,
  RUNTIME_ALLOWANCE,
  type SandboxBackend,
  type SandboxConfig,
  type SandboxedProcess,
  type SandboxSupportReport,
  type SeccompMode,
  type SecurityPolicy,
  type TrustedPluginEntry,
  type TrustLevel,
  toPluginError,
  type UnmountBehavior,
  type ViolationType,
} from '@plugward/types';
export {
  type BackendDecision,
  type BackendProbe,
  type ChooseSandboxOptions,
  chooseSandboxBackend,
  decideSandboxBackend,
  SANDBOX_BACKENDS,
  type SandboxChoice,
  type SandboxPreference,
  trialBwrap,
} from './backend-choice.js';
export type { CodeDeclarations } from './declarations.js';
export type { ScanReport } from './discovery.js';
export type { RegistryEventName, RegistryEvents } from './events.js';
export { DEFAULT_UNTRUSTED_MIN_PRIORITY, decideGrants, type GrantInput } from './grant-policy.js';
export {
  processTierMetrics,
  processTierReading,
  sandboxTierMetrics,
  sandboxTierReading,
  type TierMetricsOptions,
} from './monitor.js';
export { type Placement, type PlacementInput, placePlugin } from './placement.js';
export { DEFAULT_MAX_UNTRUSTED_HANDLERS } from './plugin-registrar.js';
export { DEFAULT_HOOK_OUTPUT_BYTES, type PluginQuotaOptions } from './quotas.js';
export { type ReadDeclarationsOptions, readPluginDeclarations } from './read-declarations.js';
export { type MonitorHandle, PluginRegistry, type PluginRegistryOptions } from './registry.js';
export { prepareRuntimeCodeCache, runtimeEntry } from './tiers/out-of-process.js';
export { DEFAULT_PLUGIN_OUTPUT_BUDGET, type PluginOutputBudget } from './tiers/plugin-output.js';
export { ROOT_WARM_DIR, WARM_FOLDER_TARGET } from './warm-folder.js';
export {
  DEFAULT_WARM_CONFIGURATIONS,
  DEFAULT_WARM_IDLE_TTL_MS,
  MAX_WARM_CONFIGURATIONS,
  MAX_WARM_POOL_SIZE,
  WARM_LABEL,
  WarmPool,
  type WarmPoolOptions,
  type WarmPoolStats,
} from './warm-pool.js';
