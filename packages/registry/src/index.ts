/**
 * @plugward/registry — the PluginRegistry that ties Plugward together (discovery, trust, isolation tiers, lifecycle,
 * monitoring), and the one install for a host: it re-exports what a host uses of the stack (the types, security,
 * hooks, context, loader, the sandbox backends, and the limits a host configures or reads); the collectors' parsers
 * and the registry's own building blocks stay internal.
 * @packageDocumentation
 */

export * from '@plugward/context';
export * from '@plugward/hooks';
export * from '@plugward/ipc';
// Names more than one package exports: the registry's own answer wins.
export {
  type CollectOptions,
  collectMetrics,
  collectProcessMetrics,
  DEFAULT_HIGH_SEVERITY_THRESHOLD,
  DOCUMENTED_LIMIT_FIELDS,
  detectViolations,
  type LimitBound,
  limitBounds,
  MAX_UNMOUNT_DELAY_MS,
  type MetricsTarget,
  mergeLimits,
  performUnmount,
  ResourceLimits,
  ResourceMonitor,
  type ResourceMonitorOptions,
  resolveUnmountBehavior,
  type TickReport,
  type UnmountOutcome,
  type UnmountReason,
  type UnmountRequest,
  type UnmountSteps,
  type ValidateLimitsOptions,
  ViolationTracker,
  type ViolationTrackerOptions,
  validateLimits,
  type WatchOptions,
} from '@plugward/limits';
export * from '@plugward/loader';
export {
  checkLandlockSupport,
  defaultLandlockConfig,
  detectLandlockAbi,
  LandlockSandbox,
  type LandlockSandboxedProcess,
  type LandlockSandboxOptions,
} from '@plugward/sandbox-landlock';
export * from '@plugward/sandbox-linux';
export type { VerifiedArtifact } from '@plugward/security';
export * from '@plugward/security';
// The whole stack, so `@plugward/registry` is the one package a host needs.
export * from '@plugward/types';
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
export { processTierMetrics, sandboxTierMetrics, type TierMetricsOptions } from './monitor.js';
export { type Placement, type PlacementInput, placePlugin } from './placement.js';
export { DEFAULT_MAX_UNTRUSTED_HANDLERS } from './plugin-registrar.js';
export { DEFAULT_HOOK_OUTPUT_BYTES, type PluginQuotaOptions } from './quotas.js';
export { type ReadDeclarationsOptions, readPluginDeclarations } from './read-declarations.js';
export { type MonitorHandle, PluginRegistry, type PluginRegistryOptions } from './registry.js';
export { runtimeEntry } from './tiers/out-of-process.js';
export { DEFAULT_PLUGIN_OUTPUT_BUDGET, type PluginOutputBudget } from './tiers/plugin-output.js';
