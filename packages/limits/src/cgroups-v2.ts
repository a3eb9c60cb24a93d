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
  const read = (file: string): string | undefined => readOptionalSync(`${dir}/${file}`, undefined, true);
  const current = read('memory.current');
  const peak = read('memory.peak');
  const max = read('memory.max');
  const events = read('memory.events');
  const cpuStat = read('cpu.stat');
  const pids = read('pids.current');
  if (current === undefined && cpuStat === undefined && pids === undefined && (await allGone([dir]))) {
    return { timestamp, source: 'cgroup-v2', exited: true };
  }
  const out: CgroupMetrics = { timestamp, source: 'cgroup-v2' };
  const set = <K extends keyof CgroupMetrics>(k: K, v: CgroupMetrics[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  set('memoryBytes', parseCount(current));
  set('peakMemoryBytes', parseCount(peak));
  set('memoryLimitBytes', parseLimitValue(max));
  if (events !== undefined) set('oomKills', parseKeyValues(events).get('oom_kill'));
  if (cpuStat !== undefined) {
    const kv = parseKeyValues(cpuStat);
    const us = kv.get('usage_usec');
    if (us !== undefined) out.cpuTimeMs = us / 1000;
    set('throttledPeriods', kv.get('nr_throttled'));
    const t = kv.get('throttled_usec');
    if (t !== undefined) out.throttledTimeMs = t / 1000;
  }
  set('threads', parseCount(pids));
  return out;
}
