import type { PluginMetrics, ResourceLimits } from './limits.js';
import type { NetworkAccess } from './requirements.js';

/** Which namespaces the sandbox unshares. */
export interface NamespaceConfig {
  pid: boolean;
  net: boolean;
  mount: boolean;
  ipc: boolean;
  uts: boolean;
  /**
   * A user namespace. Always used by @plugward/sandbox-linux: a root host runs bwrap as an unprivileged per-sandbox
   * uid (which needs one), a non-root host can't create the others without one. `false` is refused there.
   */
  user: boolean;
  cgroup: boolean;
}

/** What a seccomp rule does with a matching syscall. */
export type SeccompAction =
  | { action: 'allow' }
  | { action: 'errno'; errno: number }
  | { action: 'kill' }
  | { action: 'trap' }
  | { action: 'log' };

/** A comparison on one syscall argument. */
export interface SeccompArgCondition {
  /** Argument index, 0–5. */
  index: number;
  op: 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'masked-eq';
  value: bigint | number;
  /** For `masked-eq`: compare `(arg & mask) == value`. */
  mask?: bigint | number;
}

/** One seccomp rule. */
export interface SeccompRule {
  syscall: string;
  action: SeccompAction;
  args?: readonly SeccompArgCondition[];
}

/**
 * The seccomp filter of a sandbox. `strict`: an allow-list that still runs Node (no exec/fork, no new unix socket, IP
 * sockets only with the `full` network); `basic`/`moderate`: default-allow with deny-lists of growing length;
 * `permissive`: denies only the dangerous few (ptrace, mount, kexec…); `custom`: the user's rules; `disabled`: no
 * filter (refused unless explicitly configured).
 */
export type SeccompMode =
  | { mode: 'disabled' }
  | { mode: 'strict' }
  | { mode: 'basic' }
  | { mode: 'moderate' }
  | { mode: 'permissive' }
  | { mode: 'custom'; defaultAction: SeccompAction; rules: readonly SeccompRule[] };

/** Per-process cgroup limits. Absent fields are not limited. */
export interface CgroupConfig {
  /** Memory limit in bytes (hard; OOM-kill inside the cgroup at the limit). */
  memoryBytes?: number;
  /** Swap allowed in bytes; 0 turns swap off for the cgroup. */
  swapBytes?: number;
  /**
   * CPU quota per period, microseconds. @plugward/sandbox-linux always sets one: absent, the backend's default
   * (one CPU: quota = period, unless the host configured less).
   */
  cpuQuotaUs?: number;
  /** CPU period, microseconds (default 100 000). */
  cpuPeriodUs?: number;
  /** Maximum pids (processes + threads); Node needs at least MIN_THREADS_FOR_NODE. */
  pidsMax?: number;
  /** I/O weight, 1–10000 (v2) or 10–1000 (v1 blkio). */
  ioWeight?: number;
  /** Parent cgroup name under each controller (default `plugward`). */
  parent?: string;
}

/** Linux capabilities inside the sandbox. */
export interface CapabilitiesConfig {
  /**
   * Drop every capability, then add back `allowedCaps`. Default `true`. `false` is accepted only together with a
   * non-empty `allowedCaps` and then keeps exactly those: a sandbox never keeps a capability the host did not list
   * (the backends refuse `false` alone with `InvalidArgument`).
   */
  dropAll?: boolean;
  /** Capabilities kept (names like `CAP_NET_BIND_SERVICE`); everything else is dropped. Default: none. */
  allowedCaps: readonly string[];
  /** Set no_new_privs (always on for sandboxed plugins). */
  noNewPrivs: boolean;
}

/** A bind mount into the sandbox. */
export interface BindMount {
  source: string;
  /** Path inside the sandbox; the same as `source` when absent. */
  target?: string;
  mode: 'ro' | 'rw';
}

/** The filesystem view of a sandbox. */
export interface FilesystemConfig {
  binds: readonly BindMount[];
  /** Size of the private tmpfs `/tmp`, bytes. */
  tmpfsBytes: number;
  /** Paths hidden inside the sandbox (e.g. sensitive `/proc` entries). */
  maskPaths: readonly string[];
}

/** Network mode of a sandbox (the same shape as a plugin's network requirement). */
export type NetworkConfig = NetworkAccess;

/** Everything that shapes one sandboxed plugin process. */
export interface SandboxConfig {
  namespaces: NamespaceConfig;
  seccomp: SeccompMode;
  capabilities: CapabilitiesConfig;
  filesystem: FilesystemConfig;
  network: NetworkConfig;
  /** cgroup limits; `null` runs without a cgroup (refused unless explicitly configured). */
  cgroup: CgroupConfig | null;
  /** The complete environment inside the sandbox (the host's is cleared). */
  env: Readonly<Record<string, string>>;
}

/** What a backend found on this machine. */
export interface SandboxSupportReport {
  /** True when everything a default sandbox needs is present. */
  supported: boolean;
  /** Each feature, whether it is there, and what to do when it is not. */
  features: readonly { feature: string; available: boolean; detail: string; installHint?: string }[];
  /**
   * What a sandbox started here will *not* guarantee even though it starts (e.g. a non-root host: the plugin shares
   * the host user's uid). Empty or absent when every backend invariant holds.
   */
  warnings?: readonly string[];
}

/** How to start a command inside a sandbox. */
export interface SandboxSpawnSpec {
  /** Absolute path of the program inside the sandbox (e.g. the node binary). */
  command: string;
  args: readonly string[];
  config: SandboxConfig;
  /** Extra read-only paths the command needs (the runtime, the verified plugin copy). */
  readOnlyPaths: readonly string[];
  /** Limits used to derive cgroup settings when `config.cgroup` leaves them open. */
  limits?: ResourceLimits;
  /** A label for cgroup and log names (the plugin name). */
  label: string;
}

/** How a sandboxed process ended. */
export interface SandboxExit {
  code: number | null;
  signal: string | null;
  /** The cgroup recorded an OOM kill. */
  oomKilled: boolean;
}

/**
 * A process running inside a sandbox. `Socket` is the IPC endpoint type of the backend (a Node `Duplex` on Linux);
 * it is generic so that this package stays free of Node types.
 */
export interface SandboxedProcess<Socket = unknown> {
  readonly pid: number;
  /** The host's end of the IPC socket pair; the child has the other end as an inherited fd. */
  readonly ipc: Socket;
  /**
   * The host's end of the process's stdout pipe (a Node `Readable` on Linux), or `null` when the backend was told to
   * let the child inherit the host's own stdout (unsafe for untrusted code). The host must read it (with a budget):
   * a pipe nobody reads stalls the plugin once it is full.
   */
  readonly stdout?: unknown;
  /** The host's end of the process's stderr pipe; see {@link SandboxedProcess.stdout}. */
  readonly stderr?: unknown;
  /**
   * The host uid plugin code runs as, when the backend knows it (never 0 and never the host's own uid where the
   * backend can switch uids; see its `checkSupport()` warnings otherwise).
   */
  readonly uid?: number;
  /** The cgroup directories of the process, for metrics (one per controller on v1). */
  readonly cgroupPaths: Readonly<Record<string, string>>;
  /** Resolves once the process has exited and its cgroup is removed. */
  readonly exit: Promise<SandboxExit>;
  kill(signal?: string): void;
  metrics(): Promise<PluginMetrics>;
}

/** A way to run a plugin process in isolation. @plugward/sandbox-linux implements it with bubblewrap. */
export interface SandboxBackend<Socket = unknown> {
  readonly name: string;
  checkSupport(): Promise<SandboxSupportReport>;
  /** Starts `spec.command` in a sandbox; fails with `SandboxUnavailable` rather than run it unsandboxed. */
  spawn(spec: SandboxSpawnSpec): Promise<SandboxedProcess<Socket>>;
}
