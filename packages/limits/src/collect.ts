import type { Worker } from 'node:worker_threads';
import { PluginError, type PluginMetrics } from '@plugward/types';
import {
  type CgroupPaths,
  type CgroupSupport,
  cgroupPathsForPid,
  detectCgroupVersion,
} from './cgroups-detect.js';
import { type CgroupMetrics, collectCgroupV1Metrics } from './cgroups-v1.js';
import { collectCgroupV2Metrics } from './cgroups-v2.js';
import { collectProcessMetrics, type ProcessMetricsOptions } from './procfs.js';
import type { SweepContext } from './sweep.js';
import { collectWorkerHeapMetrics } from './v8-heap.js';

/**
 * Reads a cgroup membership: the v1 controllers given, and the v2 directory for whatever v1 did not report (on a
 * hybrid machine v2 may only add CPU usage). `source` is `cgroup-v1` when any v1 directory is given.
 */
export async function collectCgroupMetrics(paths: CgroupPaths): Promise<CgroupMetrics> {
  if (!paths.v1 && paths.v2 === undefined) {
    throw new PluginError('InvalidArgument', 'collectCgroupMetrics needs at least one cgroup directory');
  }
  const [v1, v2] = await Promise.all([
    paths.v1 ? collectCgroupV1Metrics(paths.v1) : undefined,
    paths.v2 !== undefined ? collectCgroupV2Metrics(paths.v2) : undefined,
  ]);
  if (!v1) return v2 as CgroupMetrics;
  if (!v2 || v2.exited) return v1;
  if (v1.exited) return v2;
  const out: CgroupMetrics = { ...v1 };
  for (const [k, v] of Object.entries(v2) as [keyof CgroupMetrics, unknown][]) {
    if (out[k] === undefined && v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}

// Cgroup mounts don't change under a running host; detect once per process (a failed detection is retried).
let support: Promise<CgroupSupport> | undefined;
function cgroupSupport(): Promise<CgroupSupport> {
  support ??= detectCgroupVersion().catch((e: unknown) => {
    support = undefined;
    throw e;
  });
  return support;
}

/** What {@link collectMetrics} can measure. */
export type MetricsTarget =
  /** A process by pid, from /proc (optionally its whole tree). */
  | ({ kind: 'process'; pid: number } & Omit<ProcessMetricsOptions, 'netCache'>)
  /** A cgroup (the sandbox tier), by its directories. */
  | { kind: 'cgroup'; paths: CgroupPaths }
  /** The cgroups a process is in, looked up from `/proc/<pid>/cgroup` on every read. */
  | { kind: 'process-cgroup'; pid: number }
  /** A worker-thread plugin: V8 heap statistics. */
  | { kind: 'worker'; worker: Worker; timeoutMs?: number }
  /**
   * Anything else (e.g. metrics a plugin process reports over IPC, or a reader of its own). `collect` gets the
   * monitor's signal and the sweep's shared state (each network namespace's socket table, read once per sweep).
   * `sequential`: the reader does synchronous /proc or cgroup reads, so a sweep runs it one after the other in slices
   * (see `sweep`) instead of concurrently. `collect` may return the reading itself rather than a promise (a reader
   * that had no need to wait, such as a `ProcessReader`'s): a `ResourceMonitor` tick then judges it at once,
   * without a promise per target.
   */
  | {
      kind: 'custom';
      collect: (signal: AbortSignal, context: SweepContext) => PluginMetrics | Promise<PluginMetrics>;
      sequential?: boolean;
    };

/** Options of {@link collectMetrics}. */
export interface CollectOptions {
  /** Cancels a `custom` collector. */
  signal?: AbortSignal;
  /** Shared per-tick socket tables; see {@link ProcessMetricsOptions.netCache}. */
  netCache?: ProcessMetricsOptions['netCache'];
}

/**
 * Reads one reading of `target`'s resource use. A target that is gone (dead or reused pid, removed cgroup, exited
 * worker) yields `{ exited: true }` rather than throwing; other failures (permissions, malformed files, a worker that
 * doesn't answer) throw a `PluginError`.
 */
export async function collectMetrics(
  target: MetricsTarget,
  options: CollectOptions = {},
): Promise<PluginMetrics> {
  switch (target.kind) {
    case 'process': {
      const { kind: _k, pid, ...opts } = target;
      return collectProcessMetrics(pid, options.netCache ? { ...opts, netCache: options.netCache } : opts);
    }
    case 'cgroup':
      return collectCgroupMetrics(target.paths);
    case 'process-cgroup': {
      const paths = await cgroupPathsForPid(target.pid, await cgroupSupport());
      if (!paths) return { timestamp: Date.now(), source: 'cgroup-v1', pid: target.pid, exited: true };
      return { ...(await collectCgroupMetrics(paths)), pid: target.pid };
    }
    case 'worker':
      return collectWorkerHeapMetrics(target.worker, target.timeoutMs);
    case 'custom':
      return target.collect(options.signal ?? new AbortController().signal, {
        netCache: options.netCache ?? new Map(),
      });
  }
}
