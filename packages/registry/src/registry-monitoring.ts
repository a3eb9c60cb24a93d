// The registry's monitoring seam: one plugin's metrics and the resource monitor's sweeps.
// Internal to @plugward/registry: src/index.ts exports none of it.
import { detectViolations } from '@plugward/limits';
import {
  DEFAULT_MONITOR_INTERVAL_MS,
  type IsolationTier,
  PluginError,
  type PluginMetrics,
  type ResourceLimits,
  withRuntimeAllowance,
} from '@plugward/types';
import { type SweepItem, sweepMetrics } from './monitor.js';
import { type Entry, mustGet, type RegistryState } from './registry-state.js';
import { noteViolation } from './registry-violations.js';
import type { TierHandle } from './tiers/tier.js';

/** A running resource monitor; stop it with `stop()` or the signal passed to `startResourceMonitor`. */
export interface MonitorHandle {
  stop(): void;
  readonly signal: AbortSignal;
}

/**
 * Reads one plugin's metrics from the collector of its tier, with its `name`, `violationCount` and `hookCalls`. In
 * process, where no process of its own can be read, `cpuTimeMs` is the time its hook handlers held the host's thread
 * (`source: 'hooks'`, from the hook registry's `handlerStats`).
 */
export async function getMetrics(s: RegistryState, name: string): Promise<PluginMetrics> {
  const entry = mustGet(s, name);
  const reading: PluginMetrics = entry.handle
    ? await entry.handle.metrics()
    : { timestamp: Date.now(), source: 'host', exited: true };
  const stats = s.hooks.handlerStats(name);
  const out: PluginMetrics = { ...reading, name, violationCount: entry.tracker.violationCount() };
  if (stats) out.hookCalls = stats.calls;
  if (entry.handle?.tier === 'in-process') {
    out.source = 'hooks';
    out.cpuTimeMs = stats?.timeMs ?? 0;
    out.hookCalls = stats?.calls ?? 0;
  }
  return out;
}

/**
 * Starts the resource monitor: every `intervalMs` it reads each Active plugin's metrics, records violations of its
 * limits and unmounts at the threshold (when autoUnmount). Ticks never overlap; a failed read skips that plugin. A
 * sweep yields to the event loop every ~0.5 ms and reads shared tables once (see `sweepMetrics`).
 */
export function startResourceMonitor(
  s: RegistryState,
  intervalMs = DEFAULT_MONITOR_INTERVAL_MS,
  signal?: AbortSignal,
): MonitorHandle {
  if (!Number.isFinite(intervalMs) || intervalMs < 10) {
    throw new PluginError('InvalidArgument', `monitor interval must be at least 10 ms, got ${intervalMs}`);
  }
  const ctl = new AbortController();
  s.monitors.add(ctl);
  signal?.addEventListener('abort', () => ctl.abort(), { once: true });
  const tick = () =>
    sweepMetrics(
      [...s.entries.values()]
        .filter((e) => e.info.status === 'Active' && e.handle && !e.busy)
        .map((e) => monitoredPlugin(e, e.handle as TierHandle)),
      {
        signal: ctl.signal,
        onReading: ({ entry: e, handle }, m) => {
          // The sweep spans several turns of the event loop: the plugin may have been unloaded or reloaded since.
          if (ctl.signal.aborted || e.info.status !== 'Active' || e.handle !== handle) return;
          const previous = e.lastMetrics;
          e.lastMetrics = m;
          const judged = judgedLimits(e.info.resourceLimits, e.info.tier);
          for (const v of detectViolations(m, judged, previous)) noteViolation(s, e, v);
        },
        onError: ({ entry: e }, err) =>
          s.log(e.info.name, 'debug', `metrics read failed: ${(err as Error).message}`),
      },
    );
  const loop = async () => {
    while (!ctl.signal.aborted) {
      await tick();
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          ctl.signal.removeEventListener('abort', onAbort);
          resolve();
        }, intervalMs);
        ctl.signal.addEventListener('abort', onAbort, { once: true });
      });
    }
    s.monitors.delete(ctl);
  };
  loop().catch((e) => s.log('registry', 'error', `monitor stopped: ${(e as Error).message}`));
  return { stop: () => ctl.abort(), signal: ctl.signal };
}

/** An Active entry as the monitor sweep reads it (connections counted only under a `full` network grant). */
function monitoredPlugin(entry: Entry, handle: TierHandle): SweepItem & { entry: Entry; handle: TierHandle } {
  return {
    name: entry.info.name,
    tier: entry.info.tier,
    metrics: (options) => handle.metrics(options),
    connections: entry.info.grants?.granted.network.mode === 'full',
    connectionLimit: entry.info.resourceLimits.maxConnections,
    entry,
    handle,
  };
}

/**
 * At the process and sandbox tiers a reading covers the whole Node runtime around the plugin: judge the plugin's
 * limits on top of `RUNTIME_ALLOWANCE`, the same allowance its cgroup and rlimits get, so an idle plugin is never a
 * violation.
 */
function judgedLimits(limits: ResourceLimits, tier: IsolationTier | undefined): ResourceLimits {
  return tier === 'process' || tier === 'sandbox' ? withRuntimeAllowance(limits) : limits;
}
