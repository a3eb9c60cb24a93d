import { parseLimitValue } from './cgroups-detect.js';
import { allGone, type CgroupMetrics } from './cgroups-v1.js';
import { parseCount, parseKeyValues, readOptionalSync } from './read-file.js';

/**
 * Reads a cgroup v2 group: `memory.current`, `memory.peak` (kernel ≥ 5.19), `memory.max`, `memory.events`
 * (`oom_kill`), `cpu.stat` (`usage_usec`, `nr_throttled`, `throttled_usec`), `pids.current`. A file whose controller
 * is not enabled for the group is missing and leaves its field `undefined` (`cpu.stat` always exists: the core
 * reports `usage_usec` even without the cpu controller). A removed group yields `{ exited: true }`. Read
 * synchronously, like the v1 files (see `collectCgroupV1Metrics`).
 */
export async function collectCgroupV2Metrics(dir: string): Promise<CgroupMetrics> {
  const timestamp = Date.now();
  const files = new Map<string, string | undefined>();
  for (const file of CGROUP_V2_FILES) files.set(file, readOptionalSync(`${dir}/${file}`, undefined, true));
  const read = (file: string): string | undefined => files.get(file);
  if (
    read('memory.current') === undefined &&
    read('cpu.stat') === undefined &&
    read('pids.current') === undefined &&
    (await allGone([dir]))
  ) {
    return { timestamp, source: 'cgroup-v2', exited: true };
  }
  return cgroupV2Reading(read, timestamp);
}

/** The files of a v2 reading (see {@link collectCgroupV2Metrics}). */
export const CGROUP_V2_FILES: readonly string[] = [
  'memory.current',
  'memory.peak',
  'memory.max',
  'memory.events',
  'cpu.stat',
  'pids.current',
];

/** A v2 reading from the files' texts (`read(file)`: `undefined` when missing). */
export function cgroupV2Reading(
  read: (file: string) => string | undefined,
  timestamp: number,
): CgroupMetrics {
  const out: CgroupMetrics = { timestamp, source: 'cgroup-v2' };
  const set = <K extends keyof CgroupMetrics>(k: K, v: CgroupMetrics[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('memoryBytes', parseCount(read('memory.current')));
  set('peakMemoryBytes', parseCount(read('memory.peak')));
  set('memoryLimitBytes', parseLimitValue(read('memory.max')));
  const events = read('memory.events');
  if (events !== undefined) set('oomKills', parseKeyValues(events).get('oom_kill'));
  const cpuStat = read('cpu.stat');
  if (cpuStat !== undefined) {
    const kv = parseKeyValues(cpuStat);
    const us = kv.get('usage_usec');
    if (us !== undefined) out.cpuTimeMs = us / 1000;
    set('throttledPeriods', kv.get('nr_throttled'));
    const t = kv.get('throttled_usec');
    if (t !== undefined) out.throttledTimeMs = t / 1000;
  }
  set('threads', parseCount(read('pids.current')));
  return out;
}
