import type { PluginInstance, PluginMetrics } from '@plugward/types';
import { settleWithin, type TierExit, type TierHandle } from './tier.js';

/**
 * The in-process tier: the plugin's code runs in the host (fastest, trusted only). There is no per-plugin process to
 * measure, so metrics carry only the time of the reading — the registry never attributes the host's own use to a
 * plugin (one busy host would otherwise unload every plugin); hook time budgets are enforced per call instead.
 */
export function inProcessHandle(instance: PluginInstance): TierHandle {
  return {
    tier: 'in-process',
    pid: undefined,
    exited: new Promise<TierExit>(() => {}),
    ended: Promise.resolve(undefined),
    async metrics(): Promise<PluginMetrics> {
      return { timestamp: Date.now(), source: 'host' };
    },
    async shutdown() {
      await instance.shutdown();
    },
    // Nothing to wait for in process: the library's unload is bounded on its own.
    release() {
      return settleWithin(() => instance.unload(), 2000, `${instance.name} unload`);
    },
  };
}
