/** Default maximum heap memory of a plugin: 50 MiB. */
export const DEFAULT_MAX_HEAP_BYTES = 50 * 1024 * 1024;
/** Default maximum CPU time per operation (hook call): 1000 ms. */
export const DEFAULT_MAX_CPU_TIME_MS = 1000;
/** Default maximum threads of a plugin: 4. */
export const DEFAULT_MAX_THREADS = 4;
/** Default maximum open file descriptors of a plugin: 32. */
export const DEFAULT_MAX_FILE_DESCRIPTORS = 32;
/** Default maximum network connections of a plugin: 10. */
export const DEFAULT_MAX_NETWORK_CONNECTIONS = 10;
/**
 * The same value as {@link DEFAULT_MAX_NETWORK_CONNECTIONS}, under the name of the `maxConnections` field.
 * @deprecated Use {@link DEFAULT_MAX_NETWORK_CONNECTIONS}.
 */
export const DEFAULT_MAX_CONNECTIONS = DEFAULT_MAX_NETWORK_CONNECTIONS;
/** Default maximum duration of a database query: 10 s (a Plugward extension; optional in input). */
export const DEFAULT_MAX_DB_QUERY_MS = 10_000;
/** Default maximum duration of an external API call: 30 s (a Plugward extension; optional in input). */
export const DEFAULT_MAX_EXTERNAL_API_MS = 30_000;
/** Violations after which a plugin should be unmounted: 10 (`shouldUnmount` once the count reaches it). */
export const DEFAULT_VIOLATION_THRESHOLD = 10;
/**
 * The same value as {@link DEFAULT_VIOLATION_THRESHOLD}.
 * @deprecated Use {@link DEFAULT_VIOLATION_THRESHOLD}.
 */
export const DEFAULT_MAX_VIOLATIONS = DEFAULT_VIOLATION_THRESHOLD;
/**
 * Window a host may turn on over which violations are counted (`ViolationTracker` option `windowMs`): 60 s. Off by
 * default: violations count until `resetViolations`.
 */
export const DEFAULT_VIOLATION_WINDOW_MS = 60_000;
/** Default interval of the resource monitor: 10 s. */
export const DEFAULT_MONITOR_INTERVAL_SECS = 10;
/** {@link DEFAULT_MONITOR_INTERVAL_SECS} in milliseconds (the unit `startResourceMonitor` takes). */
export const DEFAULT_MONITOR_INTERVAL_MS = DEFAULT_MONITOR_INTERVAL_SECS * 1000;
/**
 * Threads (pids in a cgroup) a Node process needs to start: measured here, 5 hangs and 6–8 abort, so a plugin running
 * in its own Node process must be allowed at least this many.
 */
export const MIN_THREADS_FOR_NODE = 16;

/**
 * What a plugin running in its own Node process (the `process` and `sandbox` tiers) gets on top of its own
 * {@link ResourceLimits}: the Node runtime around it uses about this much before the plugin does anything. The
 * plugin's limits stay its own budget; the cgroup, the rlimits and the monitor's verdicts all use limit + allowance
 * (see {@link withRuntimeAllowance}), so an idle plugin is never a violation and the kernel's limits agree with the
 * monitor's.
 */
export interface RuntimeAllowance {
  /** Memory of the runtime (code, stacks, buffers), bytes. */
  readonly heapBytes: number;
  /** Threads of the runtime (V8 and libuv pools). */
  readonly threads: number;
  /** File descriptors of the runtime (Node, libuv, the IPC socket, the sandbox launcher). */
  readonly fileDescriptors: number;
}

/** The runtime allowance of the out-of-process tiers: 96 MiB, {@link MIN_THREADS_FOR_NODE} threads, 32 fds. */
export const RUNTIME_ALLOWANCE: RuntimeAllowance = Object.freeze({
  heapBytes: 96 * 1024 * 1024,
  threads: MIN_THREADS_FOR_NODE,
  fileDescriptors: 32,
});

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

/**
 * The defaults of {@link ResourceLimits} (the Rust API reference's `ResourceLimits::default()`), frozen: the plugin's
 * own budget. Out-of-process tiers add {@link RUNTIME_ALLOWANCE} for the Node runtime around it.
 */
export const DEFAULT_RESOURCE_LIMITS: Readonly<ResourceLimits> = Object.freeze({
  maxHeapBytes: DEFAULT_MAX_HEAP_BYTES,
  maxCpuTimeMs: DEFAULT_MAX_CPU_TIME_MS,
  maxFileDescriptors: DEFAULT_MAX_FILE_DESCRIPTORS,
  maxThreads: DEFAULT_MAX_THREADS,
  maxConnections: DEFAULT_MAX_NETWORK_CONNECTIONS,
  maxDbQueryMs: DEFAULT_MAX_DB_QUERY_MS,
  maxExternalApiMs: DEFAULT_MAX_EXTERNAL_API_MS,
});

/**
 * `limits` plus {@link RUNTIME_ALLOWANCE} for memory, threads and fds: what the kernel enforces and the monitor judges
 * for a plugin in its own Node process. Other fields are unchanged.
 */
export function withRuntimeAllowance(limits: ResourceLimits): ResourceLimits {
  return {
    ...limits,
    maxHeapBytes: limits.maxHeapBytes + RUNTIME_ALLOWANCE.heapBytes,
    maxThreads: limits.maxThreads + RUNTIME_ALLOWANCE.threads,
    maxFileDescriptors: limits.maxFileDescriptors + RUNTIME_ALLOWANCE.fileDescriptors,
  };
}

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
  /**
   * The kernel OOM-killed a process in the plugin's cgroup (the monitor sees the count rise). When the plugin's own
   * process is killed the registry reports a failure (`crashed`, `Failed`) instead, not a counted violation.
   */
  | { type: 'OutOfMemory'; limit: number }
  /**
   * The plugin process ended on a signal or an unexpected exit (a sandbox backend's `exitViolation`); the registry
   * reports it as a failure (`crashed`, `Failed`), not a counted violation.
   */
  | { type: 'Crash'; signal: string | null; exitCode: number | null }
  /**
   * The plugin went past a quota of something the host holds or does on its behalf (`context-entries`,
   * `context-bytes`, `fetch-requests`, `fetch-bytes`, `ipc-requests`, `log-bytes`, …); the request was refused with
   * `QuotaExceeded`.
   */
  | { type: 'Quota'; resource: string; used: number; limit: number }
  /** The plugin broke the IPC protocol (`reason` as in the ipc package's failure reasons); its process was ended. */
  | { type: 'ProtocolViolation'; reason: string };

/** Severity of a violation; under severity escalation a `Critical` one unmounts at once (when auto-unmount is on). */
export type ViolationSeverity = 'Low' | 'Medium' | 'High' | 'Critical';

/** The severity of each violation type (used by severity escalation, when a host turns it on). */
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

/** What the host does when a plugin reaches its violation threshold, and how an unmount runs. */
export interface UnmountBehavior {
  /** Unload the plugin automatically at the threshold. */
  autoUnmount: boolean;
  /** Wait this long before an automatic unmount (the plugin keeps serving meanwhile). Default 0. */
  gracePeriodMs: number;
  /**
   * The same decision as {@link UnmountBehavior.callShutdownHook}, under its other name: `resolveUnmountBehavior`
   * keeps the two equal and refuses input where they differ.
   * @deprecated Use {@link UnmountBehavior.callShutdownHook}.
   */
  allowCleanup: boolean;
  /** Longest time `shutdown` (and the calls still running) may take before the plugin is torn down anyway. */
  maxCleanupTimeMs: number;
  /** Log each violation. */
  logViolations: boolean;
  /** Call the plugin's `shutdown` (bounded by {@link UnmountBehavior.maxCleanupTimeMs}) before unmounting. */
  callShutdownHook: boolean;
}

/** The default unmount behaviour, frozen: automatic at the threshold, at once, with a bounded `shutdown`. */
export const DEFAULT_UNMOUNT_BEHAVIOR: Readonly<UnmountBehavior> = Object.freeze({
  autoUnmount: true,
  gracePeriodMs: 0,
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

/**
 * Where a metric reading came from. `hooks`: the hook registry's count and timing of an in-process plugin's handlers
 * (it has no process of its own to read).
 */
export type MetricsSource = 'procfs' | 'cgroup-v1' | 'cgroup-v2' | 'v8' | 'host' | 'plugin' | 'hooks';

/** One reading of a plugin's resource use. Fields a collector cannot read are `undefined`, never a made-up 0. */
export interface PluginMetrics {
  /** The plugin's name (set by the registry's `getMetrics`; a bare collector reading has none). */
  name?: string;
  /** Its violations counted so far (set by the registry's `getMetrics`). */
  violationCount?: number;
  /** Calls into its hook handlers (set by the registry's `getMetrics`). */
  hookCalls?: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  source: MetricsSource;
  /** The process measured, if the plugin has its own. */
  pid?: number;
  /** Resident memory (procfs/cgroup) or used heap (V8), bytes. */
  memoryBytes?: number;
  /** Peak memory, bytes, when the source records it. */
  peakMemoryBytes?: number;
  /**
   * Total CPU time consumed so far, milliseconds. In process (`source: 'hooks'`): the time the plugin's hook handlers
   * held the host's thread (an asynchronous handler's until it returned its promise).
   */
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
