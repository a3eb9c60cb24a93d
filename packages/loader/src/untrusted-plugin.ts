import {
  MINIMAL_REQUIREMENTS,
  PluginError,
  type PluginRequirements,
  type ResourceLimits,
  validatePartialLimits,
} from '@plugward/types';
import type { LoadedPlugin } from './loaded-plugin.js';
import type { VerifiedArtifact } from './verified-artifact.js';

/**
 * An untrusted plugin admitted by a policy with `onlyTrusted: false`: metadata from its (unsigned-checked) manifest and
 * the hashed bytes, but no code mapped or run in this process. The registry must start it in the sandbox tier.
 */
export class UntrustedPlugin implements LoadedPlugin {
  readonly kind;
  readonly name: string;
  readonly version: string;
  readonly author: string;
  readonly description: string | undefined;
  readonly declaredLimits: Partial<ResourceLimits>;
  readonly requirements: PluginRequirements;
  readonly trustLevel = 'untrusted' as const;
  readonly mustSandbox = true;
  readonly signatureVerified = false;
  readonly artifact: VerifiedArtifact;
  #unloaded = false;

  /** @internal */
  constructor(artifact: VerifiedArtifact) {
    const m = artifact.manifest;
    this.kind = m.kind;
    this.name = m.name;
    this.version = m.version;
    this.author = m.author;
    this.description = m.description;
    this.declaredLimits = validatePartialLimits(m.limits, `manifest of ${m.name} limits`);
    this.requirements = m.requirements ?? MINIMAL_REQUIREMENTS;
    this.artifact = artifact;
  }

  get unloaded(): boolean {
    return this.#unloaded;
  }

  #refuse(what: string): never {
    throw new PluginError(
      'UntrustedPlugin',
      `plugin ${this.name} is untrusted and must be sandboxed; it cannot ${what} in this process (start it at the sandbox tier)`,
      { plugin: this.name },
    );
  }

  async init(): Promise<void> {
    this.#refuse('init');
  }

  async registerHooks(): Promise<void> {
    this.#refuse('register hooks');
  }

  /** Nothing runs here, so there is nothing to shut down. */
  async shutdown(): Promise<void> {}

  async unload(): Promise<void> {
    this.#unloaded = true;
  }
}
