import type { ResourceLimits } from './limits.js';
import type { PluginKind } from './manifest.js';
import type { HookRegistrar, PluginContextApi, PluginRuntimeApi } from './plugin.js';
import type { PluginRequirements } from './requirements.js';

/**
 * A loaded plugin, whatever its kind (JS or native) — the uniform handle the loader returns and the plugin-side
 * runtime serves over IPC.
 *
 * Order of calls: `init` → `registerHooks` → (hooks run) → `shutdown` → `unload`. After `unload` no method may be
 * called; for a native plugin the library is unmapped, so every hook it registered must be removed before.
 */
export interface PluginInstance {
  readonly name: string;
  readonly version: string;
  readonly author: string;
  readonly description: string | undefined;
  readonly kind: PluginKind;
  /** Limits the plugin declared (before the host caps them). */
  readonly declaredLimits: Partial<ResourceLimits>;
  readonly requirements: PluginRequirements;
  init(context: PluginContextApi, runtime: PluginRuntimeApi): Promise<void>;
  registerHooks(hooks: HookRegistrar): Promise<void>;
  shutdown(): Promise<void>;
  /** Releases the code (native: unregisters callbacks, `dlclose`; JS: drops references). Idempotent. */
  unload(): Promise<void>;
}
