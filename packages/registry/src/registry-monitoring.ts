// The registry's monitoring seam: one plugin's metrics, and the resource monitor (a ResourceMonitor following the registry).
// Internal to @plugward/registry: src/index.ts exports none of it.
import { type MetricsTarget, ResourceMonitor } from '@plugward/limits';
import {
  DEFAULT_MONITOR_INTERVAL_MS,
  type IsolationTier,
  PluginError,
  type PluginMetrics,
  type ResourceLimits,
  type UnmountBehavior,
  withRuntimeAllowance,
} from '@plugward/types';
import { type Entry, mustGet, type RegistryState, unmountBehaviorOf } from './registry-state.js';
import { announceViolation, mayStartUnmount, startAutoUnmount } from './registry-violations.js';
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
 * Starts the resource monitor — a `ResourceMonitor` (the one monitor loop of Plugward) whose watch list follows the
 * registry: at the start of every tick it watches each Active plugin out of process (not loading or unloading) with
 * the limits it is judged by and its unmount behaviour, and unwatches the others. Every `intervalMs` the monitor reads
 * them (process and sandbox tiers in slices of synchronous reads that yield to the event loop, workers concurrently,
 * shared socket tables once per sweep), records violations on each plugin's tracker, and unmounts at the threshold
 * (when `autoUnmount`) through the registry's one unmount path. Ticks never overlap; a failed read skips that plugin.
 * In-process plugins have no process of their own to read (their calls' time budgets apply per call).
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
  ctl.signal.addEventListener('abort', () => s.monitors.delete(ctl), { once: true });
  const watching = new Map<string, Watched>();
  const monitor = new ResourceMonitor({
    intervalMs,
    signal: ctl.signal,
    // One deadline per tick; a worker's own reading gives up after 2 s.
    collectTimeoutMs: 5000,
    // As before the monitor was a ResourceMonitor: a running monitor keeps the host alive.
    keepAlive: true,
    refresh: (m) => follow(s, m, watching, ctl.signal),
    onMetrics: (name, metrics) => {
      const e = s.entries.get(name);
      if (e) e.lastMetrics = metrics;
    },
    onViolation: (name, record, _tracker, willUnmount) => {
      const e = s.entries.get(name);
      if (e) announceViolation(s, e, record.violation, willUnmount && mayStartUnmount(e));
    },
    onUnmount: ({ id }) => {
      const e = s.entries.get(id);
      if (e) startAutoUnmount(s, e);
    },
    onError: (name, err) =>
      name === ''
        ? s.log('registry', 'error', `monitor: ${err.message}`)
        : s.log(name, 'debug', `metrics read failed: ${err.message}`),
  });
  if (ctl.signal.aborted) s.monitors.delete(ctl);
  else monitor.start();
  return { stop: () => ctl.abort(), signal: ctl.signal };
}

/** What the monitor watches for one plugin: the inputs its watch was made from. */
interface Watched {
  handle: TierHandle;
  target: MetricsTarget;
  limits: ResourceLimits;
  behavior: UnmountBehavior;
}

/**
 * Brings the monitor's watch list up to date with the registry: each Active out-of-process plugin that is not loading
 * or unloading is watched (again only when its handle, limits or unmount behaviour changed, so its last reading
 * stays), every other one unwatched.
 */
function follow(
  s: RegistryState,
  monitor: ResourceMonitor,
  watching: Map<string, Watched>,
  signal: AbortSignal,
): void {
  const watched = new Set(monitor.watched());
  const keep = new Set<string>();
  for (const e of s.entries.values()) {
    const handle = e.handle;
    if (e.info.status !== 'Active' || !handle || e.busy || handle.tier === 'in-process') continue;
    const name = e.info.name;
    keep.add(name);
    const limits = e.info.resourceLimits;
    const behavior = unmountBehaviorOf(s, name);
    const before = watching.get(name);
    if (
      before?.handle === handle &&
      before.limits === limits &&
      before.behavior === behavior &&
      watched.has(name)
    ) {
      continue;
    }
    const target = before?.handle === handle ? before.target : watchTarget(e, handle);
    try {
      monitor.watch(name, target, judgedLimits(limits, handle.tier), {
        tracker: e.tracker,
        unmountBehavior: behavior,
        isCurrent: () => !signal.aborted && e.info.status === 'Active' && e.handle === handle,
      });
      watching.set(name, { handle, target, limits, behavior });
    } catch (err) {
      s.log(name, 'error', `not monitored: ${(err as Error).message}`);
    }
  }
  for (const name of watched) if (!keep.has(name)) monitor.unwatch(name);
  for (const name of watching.keys()) if (!keep.has(name)) watching.delete(name);
}

/**
 * A plugin as the monitor reads it: its tier's reader with the sweep's shared socket tables; connections counted only
 * under a `full` network grant, and only past its connection limit. The process and sandbox tiers read /proc and
 * cgroup files synchronously: they run in the sweep's slices.
 */
function watchTarget(entry: Entry, handle: TierHandle): MetricsTarget {
  const connections = entry.info.grants?.granted.network.mode === 'full';
  const connectionLimit = entry.info.resourceLimits.maxConnections;
  return {
    kind: 'custom',
    sequential: handle.tier !== 'worker',
    collect: (_signal, { netCache }) => handle.metrics({ netCache, connections, connectionLimit }),
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
