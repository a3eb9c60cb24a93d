import type { IsolationTier, PluginError, ViolationType } from '@plugward/types';

/** Events of a {@link PluginRegistry}, by name. */
export interface RegistryEvents {
  /** A plugin was loaded and is Active. */
  loaded: { name: string; version: string; tier: IsolationTier; pid?: number };
  /** A plugin was unloaded; `reason` says whether by the host, for violations, or by close(). */
  unloaded: { name: string; reason: 'requested' | 'violations' | 'close' | 'crashed' };
  /** A plugin failed to load or to initialise. */
  failed: { name: string; error: PluginError };
  /** A plugin's process ended without being asked to. */
  crashed: {
    name: string;
    exitCode: number | null;
    signal: string | null;
    oomKilled: boolean;
    /** Set when the host ended the plugin for breaking the IPC protocol (the ipc failure reason). */
    protocolViolation?: string;
  };
  /** A plugin went past one of its limits. */
  violation: { name: string; violation: ViolationType; count: number; willUnmount: boolean };
  /** A hook handler of a plugin failed. */
  'hook-error': { name: string; hookName: string; error: PluginError };
}

/** Name of a registry event. */
export type RegistryEventName = keyof RegistryEvents;
