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
  const read = (dir: string | undefined, file: string): string | undefined =>
    dir === undefined ? undefined : readOptionalSync(`${dir}/${file}`, undefined, true);
  const usage = read(paths.memory, 'memory.usage_in_bytes');
  const maxUsage = read(paths.memory, 'memory.max_usage_in_bytes');
  const limit = read(paths.memory, 'memory.limit_in_bytes');
  const failcnt = read(paths.memory, 'memory.failcnt');
  const oom = read(paths.memory, 'memory.oom_control');
  const cpuUsage = read(paths.cpuacct, 'cpuacct.usage');
  const cpuStat = read(paths.cpu, 'cpu.stat');
  const pids = read(paths.pids, 'pids.current');
  const out: CgroupMetrics = { timestamp, source: 'cgroup-v1' };
  if ([usage, cpuUsage, cpuStat, pids].every((v) => v === undefined) && dirs.length > 0) {
    if (await allGone(dirs)) return { timestamp, source: 'cgroup-v1', exited: true };
  }
  const set = <K extends keyof CgroupMetrics>(k: K, v: CgroupMetrics[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('memoryBytes', parseCount(usage));
  set('peakMemoryBytes', parseCount(maxUsage));
  const lim = parseCount(limit);
  if (lim !== undefined && lim < V1_UNLIMITED) out.memoryLimitBytes = lim;
  set('memoryFailCount', parseCount(failcnt));
  if (oom !== undefined) set('oomKills', parseKeyValues(oom).get('oom_kill'));
  const ns = parseCount(cpuUsage);
  if (ns !== undefined) out.cpuTimeMs = ns / 1e6;
  if (cpuStat !== undefined) {
    const kv = parseKeyValues(cpuStat);
    set('throttledPeriods', kv.get('nr_throttled'));
    const t = kv.get('throttled_time');
    if (t !== undefined) out.throttledTimeMs = t / 1e6;
  }
  set('threads', parseCount(pids));
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
