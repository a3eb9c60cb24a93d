import fs from 'node:fs/promises';
import {
  collectProcessMetrics,
  loadSocketTable,
  type SocketTable,
  socketInodes,
  sweep,
} from '@plugward/limits';
import type { IsolationTier, PluginMetrics, SandboxedProcess } from '@plugward/types';

/**
 * What one sweep shares between the plugins it reads: the socket table of each network namespace (read once, off the
 * event loop), and whether this plugin's connections are to be counted at all.
 */
export interface TierMetricsOptions {
  /** Socket tables of this sweep, by network namespace. */
  netCache?: Map<string, SocketTable>;
  /**
   * Count TCP/UDP connections (a readlink per fd). Only where the plugin's network grant makes them possible
   * (`full`): with `isolated` or `restricted` network it has no sockets of its own to count (the broker's are the
   * host's), and its fds are still counted, which bounds any socket it could hold anyway.
   */
  connections?: boolean;
  /**
   * The plugin's connection limit: while its processes hold no more sockets than this, the reading leaves
   * `connections` out instead of reading the namespace's socket table (it can't be a violation). Unset: always count.
   */
  connectionLimit?: number;
}

/** A plugin one sweep reads, as the registry sees it. */
export interface SweepItem {
  readonly name: string;
  readonly tier: IsolationTier | undefined;
  /** Reads the plugin's metrics with the sweep's shared state. */
  readonly metrics: (options: TierMetricsOptions) => Promise<PluginMetrics>;
  /** Whether the plugin's network grant makes connections of its own possible (`full`). */
  readonly connections: boolean;
  /** Its `maxConnections`: see {@link TierMetricsOptions.connectionLimit}. */
  readonly connectionLimit?: number;
}

/** Options of {@link sweepMetrics}. */
export interface SweepOptions<T extends SweepItem> {
  /** Stops the sweep between two plugins. */
  signal?: AbortSignal;
  /** Longest run of synchronous reads between two yields to the event loop, ms. Default 0.5. */
  sliceMs?: number;
  /** Every reading, in the order read. */
  onReading: (item: T, metrics: PluginMetrics) => void;
  /** A failed reading; the sweep goes on. */
  onError: (item: T, error: unknown) => void;
}

/** What one sweep did. */
export interface SweepReport {
  /** Wall time from start to the last reading, ms. */
  durationMs: number;
  readings: number;
  errors: number;
  /** Times the sweep yielded to the event loop. */
  yields: number;
  /** Network namespaces whose socket table was read. */
  socketTables: number;
}

/**
 * Reads every item once, on the limits package's `sweep` engine (the one `ResourceMonitor` ticks on too). The
 * process and sandbox tiers read /proc and cgroup files synchronously (a few µs each, cheaper than thread-pool
 * reads): those run one after the other in slices of `sliceMs`, yielding to the event loop between slices, so a sweep
 * over hundreds of plugins never holds the loop for more than about one slice. Worker readings are IPC round trips:
 * they run concurrently meanwhile. Connections are counted only for plugins whose grant makes them possible, and only
 * when such a plugin holds more sockets than its limit; each network namespace's socket table is then read once per
 * sweep, asynchronously. In-process plugins have no process of their own to measure and are not read (their hooks'
 * time budgets are enforced per call; `getMetrics` gives their handlers' counts).
 */
export async function sweepMetrics<T extends SweepItem>(
  items: readonly T[],
  options: SweepOptions<T>,
): Promise<SweepReport> {
  let readings = 0;
  let errors = 0;
  const run = await sweep(items, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.sliceMs === undefined ? {} : { sliceMs: options.sliceMs }),
    mode: (item) =>
      item.tier === 'in-process' ? 'skip' : item.tier === 'worker' ? 'concurrent' : 'sequential',
    read: async (item, { netCache }) => {
      try {
        const m = await item.metrics({
          netCache,
          connections: item.connections,
          ...(item.connectionLimit === undefined ? {} : { connectionLimit: item.connectionLimit }),
        });
        readings++;
        options.onReading(item, m);
      } catch (e) {
        errors++;
        options.onError(item, e);
      }
    },
  });
  return { ...run, readings, errors };
}

/**
 * Whether the exact connection count of `pids` is worth a socket table: only when they hold more sockets than the
 * limit (every connection is a socket fd, so at most that many sockets can't be a violation). The table walks the
 * kernel's whole connection hash (≈ 4 ms per family here, however few sockets exist): most sweeps never read it.
 */
function needsConnectionCount(pids: readonly number[], options: TierMetricsOptions): boolean {
  if (options.connectionLimit === undefined) return true;
  let sockets = 0;
  for (const pid of pids) sockets += socketInodes(pid).length;
  return sockets > options.connectionLimit;
}

/**
 * The process tier's reading: the plugin process from /proc. Connections only when asked (see
 * {@link TierMetricsOptions.connections}) and, under a `connectionLimit`, only when the process holds more sockets
 * than that; the namespace's socket table is then loaded asynchronously into the sweep's cache, so the synchronous
 * read only looks it up.
 */
export async function processTierMetrics(
  pid: number,
  options: TierMetricsOptions = {},
): Promise<PluginMetrics> {
  const netCache = options.netCache ?? new Map<string, SocketTable>();
  const connections = (options.connections ?? true) && needsConnectionCount([pid], options);
  if (connections) await loadSocketTable(pid, netCache).catch(() => undefined);
  // In a sweep (a shared cache given), one file per process: RSS and threads come from stat too; the peak (VmHWM,
  // only in status) is not judged by the monitor. A lone reading (`getMetrics`) keeps it.
  return collectProcessMetrics(pid, { connections, netCache, status: options.netCache === undefined });
}

/**
 * The sandbox tier's reading: its cgroup's files (memory, CPU, pids), plus, when the plugin may hold connections (a
 * `full` network grant shares the host's namespace), the connections of every process in the cgroup from /proc.
 */
export async function sandboxTierMetrics(
  proc: Pick<SandboxedProcess, 'metrics' | 'cgroupPaths'>,
  options: TierMetricsOptions = {},
): Promise<PluginMetrics> {
  const m = await proc.metrics();
  if (!options.connections || m.exited) return m;
  const dir = proc.cgroupPaths.pids ?? Object.values(proc.cgroupPaths)[0];
  if (dir === undefined) return m;
  let pids: number[];
  try {
    pids = (await fs.readFile(`${dir}/cgroup.procs`, 'latin1'))
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((p) => Number.isSafeInteger(p) && p > 0);
  } catch {
    return m; // the cgroup went away under us: the reading stands without connections
  }
  if (!needsConnectionCount(pids, options)) return m;
  const netCache = options.netCache ?? new Map<string, SocketTable>();
  let connections = 0;
  for (const pid of pids) {
    await loadSocketTable(pid, netCache).catch(() => undefined);
    const p = await collectProcessMetrics(pid, { connections: true, netCache, status: false });
    if (!p.exited) connections += p.connections ?? 0;
  }
  return { ...m, connections };
}
