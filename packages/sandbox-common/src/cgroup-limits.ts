import {
  DEFAULT_RESOURCE_LIMITS,
  PluginError,
  type SandboxSpawnSpec,
  withRuntimeAllowance,
} from '@plugward/types';

/** CPU period of a sandbox's cgroup when the config gives none, microseconds (the kernel default). */
export const DEFAULT_CPU_PERIOD_US = 100_000;

/** The limits a sandbox's cgroup gets (the `CgroupLimits` of @plugward/limits). */
export interface SandboxCgroupLimits {
  memoryBytes: number;
  swapBytes: number;
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  pidsMax: number;
  ioWeight?: number;
}

/**
 * Checks a backend's `cpus` option (the CPU share of a sandbox when its config gives no quota) and returns it.
 * @throws PluginError `InvalidArgument` outside 0.01–64.
 */
export function validateCpus(cpus: number): number {
  if (typeof cpus !== 'number' || !(cpus >= 0.01 && cpus <= 64)) {
    throw new PluginError('InvalidArgument', `cpus must be a number in [0.01, 64], got ${cpus}`);
  }
  return cpus;
}

/**
 * The cgroup limits of a spawn, never unlimited: what `spec.config.cgroup` sets, else the plugin's own limits plus
 * the Node runtime's allowance (`RUNTIME_ALLOWANCE`, as the registry's monitor judges it), else the defaults; the CPU
 * quota is `cpus × period` (at least 1 ms) unless the config sets one.
 */
export function sandboxCgroupLimits(spec: SandboxSpawnSpec, cpus: number): SandboxCgroupLimits {
  const c = spec.config.cgroup ?? {};
  const l = withRuntimeAllowance(spec.limits ?? DEFAULT_RESOURCE_LIMITS);
  const period = c.cpuPeriodUs ?? DEFAULT_CPU_PERIOD_US;
  return {
    memoryBytes: c.memoryBytes ?? l.maxHeapBytes,
    swapBytes: c.swapBytes ?? 0,
    cpuQuotaUs: c.cpuQuotaUs ?? Math.max(1000, Math.round(cpus * period)),
    cpuPeriodUs: period,
    pidsMax: c.pidsMax ?? l.maxThreads,
    ioWeight: c.ioWeight,
  };
}
