/**
 * @plugward/registry — the PluginRegistry that ties Plugward together (discovery, trust, isolation tiers, lifecycle,
 * monitoring), and the one install for everything: it re-exports the whole stack.
 * @packageDocumentation
 */

export * from '@plugward/context';
export * from '@plugward/hooks';
export * from '@plugward/ipc';
export * from '@plugward/limits';
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
// Names more than one package exports: the registry's own answer wins.
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
export {
  type CodeDeclarations,
  checkDeclarations,
  type DeclarationCheck,
  type DeclarationInput,
  enforceDeclarations,
} from './declarations.js';
export { arbitrateName, type NameArbitration, type NameClaim, type ScanReport } from './discovery.js';
export type { RegistryEventName, RegistryEvents } from './events.js';
export {
  applicableGrant,
  checkHookGrant,
  DEFAULT_UNTRUSTED_MIN_PRIORITY,
  decideGrants,
  type GrantInput,
  resolveGrantedPaths,
} from './grant-policy.js';
export {
  processTierMetrics,
  type SweepItem,
  type SweepOptions,
  type SweepReport,
  sandboxTierMetrics,
  sweepMetrics,
  type TierMetricsOptions,
} from './monitor.js';
export { type Placement, type PlacementInput, placePlugin } from './placement.js';
export {
  DEFAULT_MAX_UNTRUSTED_HANDLERS,
  type PluginRegistrarOptions,
  pluginRegistrar,
} from './plugin-registrar.js';
export {
  brokerQuota,
  DEFAULT_HOOK_OUTPUT_BYTES,
  defaultInitTimeoutMs,
  hookCallTimeoutMs,
  type PluginQuotaOptions,
  protocolViolationOf,
  quotaViolationOf,
} from './quotas.js';
export { type ReadDeclarationsOptions, readPluginDeclarations } from './read-declarations.js';
export { type MonitorHandle, PluginRegistry, type PluginRegistryOptions } from './registry.js';
export { runtimeEntry } from './tiers/out-of-process.js';
export {
  DEFAULT_PLUGIN_OUTPUT_BUDGET,
  type PluginOutputBudget,
  readPluginOutput,
} from './tiers/plugin-output.js';
export { sandboxConfigFor } from './tiers/sandbox-config.js';
export type { TierExit, TierHandle } from './tiers/tier.js';
/** Layer of this package in the Plugward dependency direction (docs/architecture.md). */
export const LAYER = 3;
