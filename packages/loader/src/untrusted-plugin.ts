import { MINIMAL_REQUIREMENTS, PluginError, validatePartialLimits } from '@plugward/types';
import { type LoadedPlugin, LoadedPluginFields, type PluginMeta } from './loaded-plugin.js';
import type { VerifiedArtifact } from './verified-artifact.js';

/**
 * An untrusted plugin admitted by a policy with `onlyTrusted: false`: metadata from its (unsigned-checked) manifest and
 * the hashed bytes, but no code mapped or run in this process. The registry must start it in the sandbox tier.
 */
export class UntrustedPlugin extends LoadedPluginFields implements LoadedPlugin {
  readonly kind;
  declare readonly trustLevel: 'untrusted';
  declare readonly signatureVerified: false;
  readonly mustSandbox = true;
  #unloaded = false;

  /** @internal */
  constructor(artifact: VerifiedArtifact) {
    const m = artifact.manifest;
    const meta: PluginMeta = {
      name: m.name,
      version: m.version,
      author: m.author,
      description: m.description,
      declaredLimits: validatePartialLimits(m.limits, `manifest of ${m.name} limits`),
      requirements: m.requirements ?? MINIMAL_REQUIREMENTS,
    };
    super(meta, { trustLevel: 'untrusted', signatureVerified: false }, artifact);
    this.kind = m.kind;
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
