/**
 * @plugward/limits — resource limits, violation tracking, metrics from /proc, cgroups v1/v2 and V8, and a resource
 * monitor. Linux for the collectors; the limit and tracker parts run anywhere Node runs.
 * @packageDocumentation
 */

export { warmCgroupAttach } from './cgroup-attach-warmup.js';
export { CgroupReader } from './cgroup-reader.js';
export {
  type CgroupHandle,
  type CgroupLimits,
  cgroupName,
  cgroupOwner,
  cleanupStaleCgroups,
  createCgroup,
  createCgroupV1,
  createCgroupV2,
  killCgroupMembersSync,
  validateCgroupLimits,
} from './cgroups-create.js';
export {
  type CgroupLayout,
  type CgroupMount,
  type CgroupPaths,
  type CgroupSupport,
  type CgroupVersion,
  cgroupLayout,
  cgroupPathsForPid,
  detectCgroupLayout,
  detectCgroupVersion,
  type MountInfoEntry,
  parseCgroupMounts,
  parseMountInfo,
  readCgroupSupport,
  readMountInfo,
} from './cgroups-detect.js';
export { type CgroupMetrics, type CgroupV1Paths, collectCgroupV1Metrics } from './cgroups-v1.js';
export { collectCgroupV2Metrics } from './cgroups-v2.js';
export { clockTicksPerSecond, knownClockTicksPerSecond } from './clock-tick.js';
export { type CollectOptions, collectCgroupMetrics, collectMetrics, type MetricsTarget } from './collect.js';
export { detectViolations } from './detect-violations.js';
export { EventLoopSlicer } from './event-loop-slicer.js';
export {
  cachedSocketTable,
  countConnections,
  loadSocketTable,
  parseNetTable,
  type SocketTable,
  socketTableFor,
  TCP_LISTEN,
} from './proc-net.js';
export { ProcessReader, type ProcessReadOptions } from './process-reader.js';
export {
  childPids,
  collectProcessMetrics,
  descendantPids,
  type ProcessMetricsOptions,
  type ProcStatus,
  parseProcStatus,
  processStartTime,
  socketInodes,
  socketInodesSliced,
} from './procfs.js';
export { ResourceLimits } from './resource-limits.js';
export {
  ResourceMonitor,
  type ResourceMonitorOptions,
  type TickReport,
  type UnmountRequest,
  type WatchOptions,
} from './resource-monitor.js';
export {
  DEFAULT_SLICE_MS,
  type SweepContext,
  type SweepMode,
  type SweepRun,
  type SweepRunOptions,
  sweep,
} from './sweep.js';
export {
  autoUnmountReason,
  MAX_UNMOUNT_DELAY_MS,
  performUnmount,
  resolveUnmountBehavior,
  type UnmountOutcome,
  type UnmountSteps,
} from './unmount-behavior.js';
export {
  collectWorkerHeapMetrics,
  currentHeapMetrics,
  HEAP_STATS_MESSAGE,
  heapMetrics,
  serveHeapStatistics,
} from './v8-heap.js';
export {
  DOCUMENTED_LIMIT_FIELDS,
  type LimitBound,
  limitBounds,
  mergeLimits,
  type ValidateLimitsOptions,
  validateLimits,
} from './validate-limits.js';
export {
  DEFAULT_HIGH_SEVERITY_THRESHOLD,
  DEFAULT_MAX_RECORDS,
  type UnmountReason,
  ViolationTracker,
  type ViolationTrackerOptions,
} from './violation-tracker.js';
