import { stat } from 'node:fs/promises';
import type { PluginMetrics } from '@plugward/types';
import { isErrno, parseCount, parseKeyValues, readOptionalSync } from './read-file.js';

/** Cgroup metrics: {@link PluginMetrics} plus what only cgroups record. */
export interface CgroupMetrics extends PluginMetrics {
  /** The memory limit set on the cgroup, bytes; absent when unlimited. */
  memoryLimitBytes?: number;
  /** v1 `memory.failcnt`: times usage hit the limit. v2 has no such counter (`memory.events` `max` is closest). */
  memoryFailCount?: number;
  /** Total time throttled by the CPU quota, ms. */
  throttledTimeMs?: number;
}

/** v1 reports "unlimited" as a huge page-aligned number (LONG_MAX rounded down to the page size). */
const V1_UNLIMITED = 2 ** 62;

/** Directories of a v1 cgroup, one per controller (a controller may be absent). */
export interface CgroupV1Paths {
  memory?: string;
  cpu?: string;
  cpuacct?: string;
  pids?: string;
}

/**
 * Reads a cgroup v1 group: `memory.usage_in_bytes`, `memory.max_usage_in_bytes`, `memory.limit_in_bytes`,
 * `memory.failcnt`, `memory.oom_control` (`oom_kill`), `cpuacct.usage` (ns), `cpu.stat` (`nr_throttled`,
 * `throttled_time`), `pids.current`. Missing files leave their field `undefined`. When none of the given directories
 * exists any more, the group is gone: `{ exited: true }`.
 *
 * The files are read synchronously, as the /proc collector reads its files (see `readCappedSync`): a cgroup file is a
 * few µs of kernel work, an asynchronous read three thread-pool round trips; a monitor tick reads them in its slices.
 */
export async function collectCgroupV1Metrics(paths: CgroupV1Paths): Promise<CgroupMetrics> {
  const timestamp = Date.now();
  const dirs = [paths.memory, paths.cpu, paths.cpuacct, paths.pids].filter(
    (d): d is string => d !== undefined,
  );
  const files = new Map<string, string | undefined>();
  for (const [controller, file] of CGROUP_V1_FILES) {
    const dir = paths[controller];
    if (dir !== undefined) files.set(file, readOptionalSync(`${dir}/${file}`, undefined, true));
  }
  const read = (file: string): string | undefined => files.get(file);
  if (V1_LIVE_FILES.every((f) => read(f) === undefined) && dirs.length > 0) {
    if (await allGone(dirs)) return { timestamp, source: 'cgroup-v1', exited: true };
  }
  return cgroupV1Reading(read, timestamp);
}

/** The files of a v1 reading, by controller (see {@link collectCgroupV1Metrics}). */
export const CGROUP_V1_FILES: readonly (readonly [keyof CgroupV1Paths, string])[] = [
  ['memory', 'memory.usage_in_bytes'],
  ['memory', 'memory.max_usage_in_bytes'],
  ['memory', 'memory.limit_in_bytes'],
  ['memory', 'memory.failcnt'],
  ['memory', 'memory.oom_control'],
  ['cpuacct', 'cpuacct.usage'],
  ['cpu', 'cpu.stat'],
  ['pids', 'pids.current'],
];

/** Files every live group of the given controllers has: none of them readable may mean the group was removed. */
const V1_LIVE_FILES = ['memory.usage_in_bytes', 'cpuacct.usage', 'cpu.stat', 'pids.current'];

/** A v1 reading from the files' texts (`read(file)`: `undefined` when missing). */
export function cgroupV1Reading(
  read: (file: string) => string | undefined,
  timestamp: number,
): CgroupMetrics {
  const out: CgroupMetrics = { timestamp, source: 'cgroup-v1' };
  const set = <K extends keyof CgroupMetrics>(k: K, v: CgroupMetrics[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('memoryBytes', parseCount(read('memory.usage_in_bytes')));
  set('peakMemoryBytes', parseCount(read('memory.max_usage_in_bytes')));
  const lim = parseCount(read('memory.limit_in_bytes'));
  if (lim !== undefined && lim < V1_UNLIMITED) out.memoryLimitBytes = lim;
  set('memoryFailCount', parseCount(read('memory.failcnt')));
  const oom = read('memory.oom_control');
  if (oom !== undefined) set('oomKills', parseKeyValues(oom).get('oom_kill'));
  const ns = parseCount(read('cpuacct.usage'));
  if (ns !== undefined) out.cpuTimeMs = ns / 1e6;
  const cpuStat = read('cpu.stat');
  if (cpuStat !== undefined) {
    const kv = parseKeyValues(cpuStat);
    set('throttledPeriods', kv.get('nr_throttled'));
    const t = kv.get('throttled_time');
    if (t !== undefined) out.throttledTimeMs = t / 1e6;
  }
  set('threads', parseCount(read('pids.current')));
  return out;
}

/** True when none of `dirs` exists. */
export async function allGone(dirs: readonly string[]): Promise<boolean> {
  for (const d of dirs) {
    try {
      await stat(d);
      return false;
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) return false;
    }
  }
  return true;
}
