import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import {
  type CgroupPaths,
  CgroupReader,
  collectProcessMetrics,
  loadSocketTable,
  ProcessReader,
  type SocketTable,
  socketInodes,
} from '@plugward/limits';
import type { PluginMetrics, SandboxedProcess } from '@plugward/types';

/**
 * How the process and sandbox tiers read a plugin's metrics: what one monitor sweep shares between the plugins it
 * reads (the socket table of each network namespace, read once, off the event loop), and whether this plugin's
 * connections are to be counted at all. The registry's monitor is a `ResourceMonitor` (see registry-monitoring.ts)
 * whose targets call these readers.
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
 * The process tier's reader of one plugin process. A monitor sweep's reading (a shared `netCache` given) goes through
 * a `ProcessReader`: `/proc/<pid>/stat` and `/proc/<pid>/fd` kept open between sweeps (a pread and an fstat instead of
 * paths opened per reading), synchronous unless a socket table must be loaded. The reader is opened at the first
 * sweep while the child is not yet reaped — its pid can't have been reused then, and the open files stay the
 * plugin's: after its exit they read `exited`, never the process that took the pid — and closed when the child exits.
 * A lone reading (`getMetrics`) reads by path as {@link processTierMetrics} does, with the peak memory.
 */
export function processTierReading(
  child: Pick<ChildProcess, 'pid' | 'exitCode' | 'signalCode' | 'once'>,
): (options?: TierMetricsOptions) => PluginMetrics | Promise<PluginMetrics> {
  const pid = child.pid;
  let reader: ProcessReader | undefined;
  let exited = false;
  child.once('exit', () => {
    exited = true;
    reader?.close();
  });
  return (options = {}) => {
    if (pid === undefined) return { timestamp: Date.now(), source: 'procfs', exited: true };
    if (options.netCache === undefined) return processTierMetrics(pid, options);
    if (reader === undefined) {
      // Node sets these when it reaps the child: until then the pid is this child's (a zombie at worst).
      if (exited || child.exitCode !== null || child.signalCode !== null)
        return { timestamp: Date.now(), source: 'procfs', pid, exited: true };
      reader = new ProcessReader(pid);
    }
    return reader.read(options);
  };
}

/**
 * The sandbox tier's reader of one sandboxed plugin. A monitor sweep's reading of a plugin whose connections are not
 * counted (no `full` network grant: nearly all) goes through a `CgroupReader` of its cgroup — the group's files kept
 * open between sweeps, a pread each, synchronous — opened at the first sweep and closed when the sandbox has ended
 * (its group removed, the files read `exited`). Anything else, and a sandbox without a cgroup, reads as
 * {@link sandboxTierMetrics} does.
 */
export function sandboxTierReading(
  proc: Pick<SandboxedProcess, 'pid' | 'metrics' | 'cgroupPaths' | 'exit'>,
): (options?: TierMetricsOptions) => PluginMetrics | Promise<PluginMetrics> {
  let reader: CgroupReader | undefined;
  let ended = false;
  const end = (): void => {
    ended = true;
    reader?.close();
  };
  proc.exit.then(end, end);
  return (options = {}) => {
    if (options.netCache === undefined || options.connections || ended)
      return sandboxTierMetrics(proc, options);
    if (reader === undefined) {
      const paths = cgroupPathsOf(proc.cgroupPaths);
      if (paths === undefined) return sandboxTierMetrics(proc, options);
      reader = new CgroupReader(paths);
    }
    const m = reader.read();
    // Gone, or nothing left in the group (its process exited, the group not yet removed): the sandbox says which.
    if (m.exited || m.threads === 0) return sandboxTierMetrics(proc, options);
    return { ...m, pid: proc.pid };
  };
}

/** A sandbox's controller → directory map as limits' `CgroupPaths` (v2: one directory with `cgroup.controllers`). */
function cgroupPathsOf(dirs: Readonly<Record<string, string>>): CgroupPaths | undefined {
  const any = Object.values(dirs)[0];
  if (any === undefined) return undefined;
  if (Object.values(dirs).every((d) => d === any) && existsSync(`${any}/cgroup.controllers`))
    return { v2: any };
  const v1: NonNullable<CgroupPaths['v1']> = {};
  for (const c of ['memory', 'cpu', 'cpuacct', 'pids'] as const) {
    const d = dirs[c];
    if (d !== undefined) v1[c] = d;
  }
  return { v1 };
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
