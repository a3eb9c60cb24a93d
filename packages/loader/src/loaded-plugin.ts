import type { PluginInstance, PluginRequirements, ResourceLimits, TrustLevel } from '@plugward/types';
import type { VerifiedArtifact } from './verified-artifact.js';

/** What a plugin says about itself, checked against its signed manifest: one shape for every kind of loaded plugin. */
export interface PluginMeta {
  readonly name: string;
  readonly version: string;
  readonly author: string;
  readonly description: string | undefined;
  /** Limits the plugin declares (validated, possibly partial). */
  readonly declaredLimits: Partial<ResourceLimits>;
  readonly requirements: PluginRequirements;
}

/** How a plugin was admitted. */
export interface Admission {
  readonly trustLevel: TrustLevel;
  /** True when the manifest signature and trust entry were checked (false: only the hash was compared). */
  readonly signatureVerified: boolean;
}

/**
 * What {@link PluginLoader.load} returns: a {@link PluginInstance} plus how it was admitted.
 *
 * When `mustSandbox` is true (an untrusted plugin under a policy that allows them) no plugin code was run or mapped
 * in this process: `init`/`registerHooks`/`shutdown` throw `UntrustedPlugin`, and the registry must start it at the
 * `sandbox` tier, handing `artifact.bytes` to the plugin-side runtime (`loadVerified`).
 */
export interface LoadedPlugin extends PluginInstance {
  readonly trustLevel: TrustLevel;
  /** True when the plugin may only run inside a sandbox. */
  readonly mustSandbox: boolean;
  /** True when the manifest signature and trust entry were checked (false: only the hash was compared). */
  readonly signatureVerified: boolean;
  /** The manifest and the exact bytes that were checked (and, unless `mustSandbox`, loaded). */
  readonly artifact: VerifiedArtifact;
  /** True once `unload` ran. */
  readonly unloaded: boolean;
}

/**
 * The metadata, admission and artifact fields the loaded plugin classes share, set once from one {@link PluginMeta}.
 * @internal
 */
export abstract class LoadedPluginFields {
  readonly name: string;
  readonly version: string;
  readonly author: string;
  readonly description: string | undefined;
  readonly declaredLimits: Partial<ResourceLimits>;
  readonly requirements: PluginRequirements;
  readonly trustLevel: TrustLevel;
  readonly signatureVerified: boolean;
  readonly artifact: VerifiedArtifact;

  constructor(meta: PluginMeta, admission: Admission, artifact: VerifiedArtifact) {
    this.name = meta.name;
    this.version = meta.version;
    this.author = meta.author;
    this.description = meta.description;
    this.declaredLimits = meta.declaredLimits;
    this.requirements = meta.requirements;
    this.trustLevel = admission.trustLevel;
    this.signatureVerified = admission.signatureVerified;
    this.artifact = artifact;
  }
}
