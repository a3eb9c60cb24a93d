/** Default maximum heap memory: 512 MiB. */
export const DEFAULT_MAX_HEAP_BYTES = 512 * 1024 * 1024;
/** Default maximum CPU time per operation: 5000 ms. */
export const DEFAULT_MAX_CPU_TIME_MS = 5000;
/** Default maximum open file descriptors: 100. */
export const DEFAULT_MAX_FILE_DESCRIPTORS = 100;
/** Default maximum threads: 10. Node itself needs about 7 (see {@link MIN_THREADS_FOR_NODE}). */
export const DEFAULT_MAX_THREADS = 10;
/** Default maximum network connections: 50. */
export const DEFAULT_MAX_CONNECTIONS = 50;
/** Default maximum duration of a database query: 10 s. */
export const DEFAULT_MAX_DB_QUERY_MS = 10_000;
/** Default maximum duration of an external API call: 30 s. */
export const DEFAULT_MAX_EXTERNAL_API_MS = 30_000;
/** Default violations before a plugin is unmounted. */
export const DEFAULT_MAX_VIOLATIONS = 10;
/** Default window over which violations are counted: 60 s. */
export const DEFAULT_VIOLATION_WINDOW_MS = 60_000;
/** Default interval of the resource monitor: 10 s. */
export const DEFAULT_MONITOR_INTERVAL_MS = 10_000;
/**
 * Threads (pids in a cgroup) a Node process needs to start: measured here, 5 hangs and 6–8 abort, so a plugin running
 * in its own Node process must be allowed at least this many.
 */
export const MIN_THREADS_FOR_NODE = 16;

/**
 * Resource limits of one plugin. A plugin may declare them (`resourceLimits()`); the host caps them — a plugin can ask
 * for less than the host allows, never more.
 */
export interface ResourceLimits {
  /** Maximum heap/resident memory in bytes. */
  maxHeapBytes: number;
  /** Maximum CPU time per operation (hook call) in milliseconds. */
  maxCpuTimeMs: number;
  /** Maximum open file descriptors. */
  maxFileDescriptors: number;
  /** Maximum threads (or pids, in a cgroup). */
  maxThreads: number;
  /** Maximum network connections. */
  maxConnections: number;
  /** Maximum duration of a database query in milliseconds. */
  maxDbQueryMs: number;
  /** Maximum duration of an external API call in milliseconds. */
  maxExternalApiMs: number;
}

/** The defaults of {@link ResourceLimits}, frozen. */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({
  maxHeapBytes: DEFAULT_MAX_HEAP_BYTES,
  maxCpuTimeMs: DEFAULT_MAX_CPU_TIME_MS,
  maxFileDescriptors: DEFAULT_MAX_FILE_DESCRIPTORS,
  maxThreads: DEFAULT_MAX_THREADS,
  maxConnections: DEFAULT_MAX_CONNECTIONS,
  maxDbQueryMs: DEFAULT_MAX_DB_QUERY_MS,
  maxExternalApiMs: DEFAULT_MAX_EXTERNAL_API_MS,
});

/** The fields of {@link ResourceLimits}, in a fixed order. */
export const RESOURCE_LIMIT_FIELDS = Object.freeze([
  'maxHeapBytes',
  'maxCpuTimeMs',
  'maxFileDescriptors',
  'maxThreads',
  'maxConnections',
  'maxDbQueryMs',
  'maxExternalApiMs',
] as const satisfies readonly (keyof ResourceLimits)[]);

/** A resource limit a plugin went past. Discriminated on `type`, so a `switch` over it is exhaustive. */
export type ViolationType =
  | { type: 'HeapMemory'; used: number; limit: number }
  | { type: 'CpuTime'; usedMs: number; limitMs: number }
  | { type: 'FileDescriptors'; used: number; limit: number }
  | { type: 'Threads'; used: number; limit: number }
  | { type: 'Connections'; used: number; limit: number }
  | { type: 'DatabaseQuery'; durationMs: number; limitMs: number }
  | { type: 'ExternalApi'; durationMs: number; limitMs: number }
  | { type: 'HookTimeout'; hookName: string; durationMs: number; limitMs: number }
  /** The kernel killed the plugin process for memory (cgroup OOM). */
  | { type: 'OutOfMemory'; limit: number }
  /** The plugin process ended on a signal or an unexpected exit. */
  | { type: 'Crash'; signal: string | null; exitCode: number | null }
  /**
   * The plugin went past a quota of something the host holds or does on its behalf (`context-entries`,
   * `context-bytes`, `fetch-requests`, `fetch-bytes`, `ipc-requests`, `log-bytes`, …); the request was refused with
   * `QuotaExceeded`.
   */
  | { type: 'Quota'; resource: string; used: number; limit: number }
  /** The plugin broke the IPC protocol (`reason` as in the ipc package's failure reasons); its process was ended. */
  | { type: 'ProtocolViolation'; reason: string };

/** Severity of a violation; a `Critical` one unmounts at once when auto-unmount is on. */
export type ViolationSeverity = 'Low' | 'Medium' | 'High' | 'Critical';

/** The severity of each violation type. */
export function violationSeverity(v: ViolationType): ViolationSeverity {
  switch (v.type) {
    case 'HeapMemory':
    case 'OutOfMemory':
    case 'Crash':
    case 'ProtocolViolation':
      return 'Critical';
    case 'Quota':
      return 'Medium';
    case 'CpuTime':
    case 'HookTimeout':
      return 'High';
    case 'DatabaseQuery':
    case 'ExternalApi':
      return 'Medium';
    case 'FileDescriptors':
    case 'Threads':
    case 'Connections':
      return 'Low';
  }
}

/** A violation with its time. */
export interface ViolationRecord {
  violation: ViolationType;
  severity: ViolationSeverity;
  /** Milliseconds since the epoch. */
  timestamp: number;
}

/** What the host does when a plugin reaches its violation threshold. */
export interface UnmountBehavior {
  /** Unload the plugin automatically at the threshold. */
  autoUnmount: boolean;
  /** Wait this long before unloading. */
  gracePeriodMs: number;
  /** Let the plugin clean up (call `shutdown`) within {@link UnmountBehavior.maxCleanupTimeMs}. */
  allowCleanup: boolean;
  /** Longest time `shutdown` may take before the plugin is torn down anyway. */
  maxCleanupTimeMs: number;
  /** Log each violation. */
  logViolations: boolean;
  /** Call the plugin's `shutdown` before unmounting. */
  callShutdownHook: boolean;
}

/** The default unmount behaviour, frozen. */
export const DEFAULT_UNMOUNT_BEHAVIOR: Readonly<UnmountBehavior> = Object.freeze({
  autoUnmount: true,
  gracePeriodMs: 1000,
  allowCleanup: true,
  maxCleanupTimeMs: 5000,
  logViolations: true,
  callShutdownHook: true,
});

/** Preset unmount behaviours. */
export const UnmountBehaviors = Object.freeze({
  /** Unload at once, no cleanup. */
  immediate: Object.freeze<UnmountBehavior>({
    autoUnmount: true,
    gracePeriodMs: 0,
    allowCleanup: false,
    maxCleanupTimeMs: 0,
    logViolations: true,
    callShutdownHook: false,
  }),
  /** Unload after 5 s, with up to 10 s of cleanup. */
  graceful: Object.freeze<UnmountBehavior>({
    autoUnmount: true,
    gracePeriodMs: 5000,
    allowCleanup: true,
    maxCleanupTimeMs: 10_000,
    logViolations: true,
    callShutdownHook: true,
  }),
  /** Never unload automatically; the host decides. */
  manual: Object.freeze<UnmountBehavior>({
    autoUnmount: false,
    gracePeriodMs: 0,
    allowCleanup: true,
    maxCleanupTimeMs: 30_000,
    logViolations: true,
    callShutdownHook: true,
  }),
});

/** Where a metric reading came from. */
export type MetricsSource = 'procfs' | 'cgroup-v1' | 'cgroup-v2' | 'v8' | 'host' | 'plugin';

/** One reading of a plugin's resource use. Fields a collector cannot read are `undefined`, never a made-up 0. */
export interface PluginMetrics {
  /** Milliseconds since the epoch. */
  timestamp: number;
  source: MetricsSource;
  /** The process measured, if the plugin has its own. */
  pid?: number;
  /** Resident memory (procfs/cgroup) or used heap (V8), bytes. */
  memoryBytes?: number;
  /** Peak memory, bytes, when the source records it. */
  peakMemoryBytes?: number;
  /** Total CPU time consumed so far, milliseconds. */
  cpuTimeMs?: number;
  /** Threads (procfs) or pids (cgroup). */
  threads?: number;
  /** Open file descriptors. */
  fileDescriptors?: number;
  /** Open TCP/UDP sockets. */
  connections?: number;
  /** OOM kills recorded by the cgroup. */
  oomKills?: number;
  /** Periods in which the cgroup was CPU-throttled. */
  throttledPeriods?: number;
  /** V8 heap size limit, bytes (workers). */
  heapLimitBytes?: number;
  /** The process has exited; the other fields are then absent. */
  exited?: boolean;
}
