import { pathToFileURL } from 'node:url';
import {
  definePlugin,
  type HookHandler,
  type HookRegistrar,
  isPluginError,
  MINIMAL_REQUIREMENTS,
  type Plugin,
  type PluginContextApi,
  type PluginDefinition,
  PluginError,
  type PluginRequirements,
  type PluginRuntimeApi,
  type ResourceLimits,
  type TrustLevel,
  toPluginError,
  validatePartialLimits,
} from '@plugward/types';
import { assertSelfContained } from './bundled-imports.js';
import { type Admission, type LoadedPlugin, LoadedPluginFields, type PluginMeta } from './loaded-plugin.js';
import { writePrivateCopy } from './private-copy.js';
import type { VerifiedArtifact } from './verified-artifact.js';

let importSeq = 0;

interface Unregistrable {
  unregister(): unknown;
}

const importModule = (specifier: string): Promise<unknown> => import(specifier);

function isUnregistrable(v: unknown): v is Unregistrable {
  return typeof v === 'object' && v !== null && typeof (v as Unregistrable).unregister === 'function';
}

/**
 * Imports a verified single-file ESM bundle from a private copy of its verified bytes under a fresh specifier (a new
 * module instance per load; see the README on the ESM module cache) and validates its default export.
 */
export async function loadJsPlugin(
  artifact: VerifiedArtifact,
  admission: { trustLevel: TrustLevel; signatureVerified: boolean },
  options: { tmpDir?: string; importModule?: (specifier: string) => Promise<unknown> },
): Promise<JsPlugin> {
  const label = artifact.manifest.name;
  await assertSelfContained(artifact.bytes, label);
  const copy = await writePrivateCopy(artifact.bytes, 'plugin.mjs', options.tmpDir);
  let mod: unknown;
  try {
    importSeq += 1;
    const specifier = `${pathToFileURL(copy.file).href}?plugward-load=${importSeq}`;
    mod = await (options.importModule ?? importModule)(specifier);
  } catch (e) {
    throw new PluginError(
      'LoadError',
      `cannot import JS plugin ${label}: ${(e as Error)?.message ?? String(e)}`,
      {
        plugin: label,
        cause: e,
      },
    );
  } finally {
    await copy.remove();
  }
  const def = (mod as { default?: unknown }).default;
  if (def === null || typeof def !== 'object') {
    throw new PluginError(
      'InvalidPlugin',
      `JS plugin ${label}: the default export must be definePlugin({...}), got ${def === null ? 'null' : typeof def}`,
      { plugin: label },
    );
  }
  let plugin: Plugin;
  try {
    // Re-validates even objects made by definePlugin: the bundle may carry its own (older, patched) copy of it.
    plugin = definePlugin(def as Parameters<typeof definePlugin>[0]);
  } catch (e) {
    if (isPluginError(e)) {
      throw new PluginError(e.code, `JS plugin ${label}: ${e.message}`, {
        plugin: label,
        cause: e,
        details: e.details,
      });
    }
    throw toPluginError(e, 'InvalidPlugin', `JS plugin ${label}`, { plugin: label });
  }
  if (plugin.name !== artifact.manifest.name || plugin.version !== artifact.manifest.version) {
    throw new PluginError(
      'InvalidPlugin',
      `JS plugin identifies as ${plugin.name}@${plugin.version} but its signed manifest says ${artifact.manifest.name}@${artifact.manifest.version}`,
      { plugin: label },
    );
  }
  let declaredLimits: Partial<ResourceLimits>;
  let requirements: PluginRequirements;
  try {
    declaredLimits = validatePartialLimits(plugin.resourceLimits?.(), `JS plugin ${label} limits`);
    requirements = plugin.requirements?.() ?? artifact.manifest.requirements ?? MINIMAL_REQUIREMENTS;
  } catch (e) {
    throw toPluginError(e, 'InvalidPlugin', `JS plugin ${label}`, { plugin: label });
  }
  const meta: PluginMeta = {
    name: plugin.name,
    version: plugin.version,
    author: plugin.author,
    description: plugin.description,
    declaredLimits,
    requirements,
  };
  // Methods are called on the module's own object (so `this` is what the author wrote), validated above.
  return new JsPlugin(def as PluginDefinition, meta, artifact, admission);
}

/** A loaded JS plugin (see {@link LoadedPlugin}). Created by the loader only. */
export class JsPlugin extends LoadedPluginFields implements LoadedPlugin {
  readonly kind = 'js' as const;
  readonly mustSandbox = false;
  #plugin: PluginDefinition | undefined;
  // Handlers are reached through these slots so unload drops the plugin's closures even if a registry keeps a
  // wrapper (a slot per handler: a call reads one field, no map lookup).
  #slots: { handler: HookHandler | undefined }[] = [];
  #registrations: unknown[] = [];

  /** @internal */
  constructor(target: PluginDefinition, meta: PluginMeta, artifact: VerifiedArtifact, admission: Admission) {
    super(meta, admission, artifact);
    this.#plugin = target;
  }

  /** True once `unload` ran. */
  get unloaded(): boolean {
    return this.#plugin === undefined;
  }

  #live(what: string): PluginDefinition {
    if (this.#plugin === undefined) {
      throw new PluginError('LoadError', `JS plugin ${this.name} is unloaded; cannot ${what}`, {
        plugin: this.name,
      });
    }
    return this.#plugin;
  }

  async init(context: PluginContextApi, runtime: PluginRuntimeApi): Promise<void> {
    const plugin = this.#live('init');
    try {
      await plugin.init(context, runtime);
    } catch (e) {
      throw toPluginError(e, 'InitializationError', `JS plugin ${this.name}: init failed`, {
        plugin: this.name,
      });
    }
  }

  async registerHooks(hooks: HookRegistrar): Promise<void> {
    const plugin = this.#live('register hooks');
    const pending: Promise<unknown>[] = [];
    const registrar: HookRegistrar = {
      register: (name, priority, handler) => {
        if (typeof handler !== 'function') {
          throw new PluginError(
            'InvalidPlugin',
            `JS plugin ${this.name}: handler of hook ${name} is not a function`,
            {
              plugin: this.name,
            },
          );
        }
        const slot: { handler: HookHandler | undefined } = { handler };
        this.#slots.push(slot);
        const wrapper: HookHandler = (data, info) => {
          const h = slot.handler;
          if (h === undefined) {
            throw new PluginError(
              'HookError',
              `JS plugin ${this.name} is unloaded; hook ${name} not called`,
              {
                plugin: this.name,
                details: { hook: name },
              },
            );
          }
          return h(data, info);
        };
        const result = hooks.register(name, priority, wrapper);
        const settled = Promise.resolve(result).then((reg) => {
          this.#registrations.push(reg);
          return reg;
        });
        pending.push(settled);
        return settled;
      },
    };
    try {
      await plugin.registerHooks(registrar);
      await Promise.all(pending);
    } catch (e) {
      await Promise.allSettled(pending);
      throw toPluginError(e, 'InitializationError', `JS plugin ${this.name}: registerHooks failed`, {
        plugin: this.name,
      });
    }
  }

  async shutdown(): Promise<void> {
    const plugin = this.#plugin;
    if (plugin === undefined) return;
    try {
      await plugin.shutdown?.();
    } catch (e) {
      throw toPluginError(e, 'LoadError', `JS plugin ${this.name}: shutdown failed`, { plugin: this.name });
    }
  }

  async unload(): Promise<void> {
    if (this.#plugin === undefined) return;
    this.#plugin = undefined;
    for (const slot of this.#slots.splice(0)) slot.handler = undefined;
    const errors: unknown[] = [];
    for (const reg of this.#registrations.splice(0)) {
      try {
        if (isUnregistrable(reg)) await reg.unregister();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length > 0) {
      throw toPluginError(errors[0], 'LoadError', `JS plugin ${this.name}: removing its hooks failed`, {
        plugin: this.name,
      });
    }
  }
}
