import type { PluginInstance, TrustLevel } from '@plugward/types';
import type { VerifiedArtifact } from './verified-artifact.js';

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
