import {
  AF,
  capabilitiesToKeep,
  DANGEROUS_SYSCALLS,
  denySyscalls,
  ERRNO,
  namespaceCloneRules,
  nodeSafetyRules,
  PRIVILEGE_SYSCALLS,
  parentDeathSignalRule,
  processCloneRule,
  setIdModeRules,
} from '@plugward/sandbox-common';
import { PluginError, type SandboxConfig, type SeccompRule } from '@plugward/types';
import { FS, handledFsRights, handledNetRights, knownScopes, MIN_LANDLOCK_ABI } from './landlock-abi.js';

/** `RLIMIT_*` numbers (the generic table: the same on x86_64 and arm64). */
export const RLIMIT = Object.freeze({ CPU: 0, FSIZE: 1, DATA: 2, CORE: 4, NPROC: 6, NOFILE: 7 });

/** One Landlock path rule: everything beneath `path` gets `access` (file rights only when it is not a directory). */
export interface PathRule {
  path: string;
  access: number;
  /**
   * The launcher's fd of the object the host opened for this rule (see `openRuleHandles`): the rule is added on it,
   * the path is only named in messages. Absent: the launcher opens the path itself.
   */
  fd?: number;
}

/** One resource limit, soft = hard (as decimal strings: they cross a JSON boundary and may exceed 2^53). */
export interface RlimitEntry {
  resource: number;
  value: string;
}

/**
 * Everything the launcher does, decided by the host (a pure function of the config) and handed to the launcher as
 * JSON on fd 4. The launcher adds nothing but `/proc/<its pid>` and refuses what it can't apply.
 */
export interface LaunchPlan {
  /** The Landlock ABI level the rules are written for. */
  abi: number;
  handledFs: number;
  handledNet: number;
  scoped: number;
  pathRules: PathRule[];
  /** Read access to the launcher's own `/proc/<pid>` (the same pid after exec): never another process's. */
  procSelf: boolean;
  rlimits: RlimitEntry[];
  /** Root hosts: the leased uid (= gid) the launcher drops to before restricting itself. */
  uid?: number;
  /** `cgroup.procs` files the launcher writes its pid into (as root, before dropping). */
  cgroupProcs: string[];
  /**
   * The host's pid: once the launcher armed its parent-death signal it checks its parent is still this process (a
   * host that died before that would leave it running, reparented to init or a subreaper) and stops otherwise.
   */
  hostPid: number;
  /** The fd number the command is opened at for `execveat`; at or above the NOFILE limit, so no later fd reaches it. */
  execFd: number;
  command: string;
  argv: string[];
  env: string[];
  seccomp: SeccompRule[];
}

/** What {@link buildLaunchPlan} needs. */
export interface PlanInput {
  abi: number;
  config: SandboxConfig;
  /** The node binary, canonical. */
  command: string;
  /** Its shared libraries and loader. */
  libraries: readonly string[];
  /** Paths the command reads (already relocated to where the plugin can read them). */
  readOnlyPaths: readonly string[];
  scratchDir: string;
  /** Public system files the runtime reads at start (OpenSSL config, ld.so cache), read-only, when they exist. */
  systemFiles?: readonly string[];
  args: readonly string[];
  fdLimit: number;
  /**
   * RLIMIT_DATA, only without a memory cgroup: with one, the cgroup OOM-kills at the limit (as under bwrap, and the
   * registry reports it), where RLIMIT_DATA would fail allocations long before (V8 reserves far more than it touches).
   */
  dataLimitBytes?: number;
  /** Root hosts only: a per-sandbox uid, so the process limit counts this sandbox alone. */
  uid?: number;
  pidsMax: number;
  /** RLIMIT_CPU in seconds, when set (hosts without a CPU cgroup). */
  cpuSeconds?: number;
  cgroupProcs: readonly string[];
  /** The host's pid (see {@link LaunchPlan.hostPid}). */
  hostPid: number;
  allowDisabledSeccomp: boolean;
}

const READ = FS.READ_FILE | FS.READ_DIR;
const WRITE =
  FS.WRITE_FILE | FS.REMOVE_DIR | FS.REMOVE_FILE | FS.MAKE_DIR | FS.MAKE_REG | FS.REFER | FS.TRUNCATE;

/**
 * Turns a sandbox config into a launch plan (pure). Refuses, with a coded error, whatever this backend can't honour
 * rather than run weaker: a seccomp mode other than `strict`, kept capabilities, no_new_privs off, a bind whose target
 * differs from its source (there is no mount namespace to move it), a Landlock ABI below {@link MIN_LANDLOCK_ABI}.
 */
export function buildLaunchPlan(input: PlanInput): LaunchPlan {
  const { config, abi } = input;
  if (!Number.isInteger(abi) || abi < MIN_LANDLOCK_ABI) {
    throw new PluginError(
      'SandboxUnavailable',
      `Landlock ABI ${abi} is below the ${MIN_LANDLOCK_ABI} this backend needs (kernel ≥ 6.2 with lsm=landlock)`,
    );
  }
  if (config.seccomp.mode === 'disabled') {
    if (!input.allowDisabledSeccomp) {
      throw new PluginError(
        'InvalidArgument',
        "seccomp mode 'disabled' needs LandlockSandbox({ allowDisabledSeccomp: true })",
      );
    }
  } else if (config.seccomp.mode !== 'strict') {
    throw new PluginError(
      'InvalidArgument',
      `the Landlock backend applies its own strict filter; seccomp mode '${config.seccomp.mode}' is not supported`,
    );
  }
  if (capabilitiesToKeep(config.capabilities).length > 0) {
    throw new PluginError(
      'InvalidArgument',
      'the Landlock backend keeps no capabilities (allowedCaps must be empty)',
    );
  }
  if (!config.capabilities.noNewPrivs) {
    throw new PluginError(
      'InvalidArgument',
      'capabilities.noNewPrivs must be true: Landlock and seccomp need it',
    );
  }
  if (!Number.isSafeInteger(input.fdLimit) || input.fdLimit < 32 || input.fdLimit > 65_536) {
    throw new PluginError(
      'InvalidResourceLimits',
      `maxFileDescriptors must be 32–65536, got ${input.fdLimit}`,
    );
  }
  const bytes = (v: number, what: string): string => {
    if (!Number.isSafeInteger(v) || v < 4096) {
      throw new PluginError('InvalidResourceLimits', `${what} must be an integer ≥ 4096, got ${v}`);
    }
    return String(v);
  };
  const handledFs = handledFsRights(abi);
  const rules: PathRule[] = [];
  const add = (p: string, access: number): void => {
    rules.push({ path: p, access: access & handledFs });
  };
  add(input.command, FS.READ_FILE | FS.EXECUTE);
  // The loader is opened for exec too (the kernel checks it like the binary); libraries are only mapped.
  for (const lib of input.libraries) add(lib, FS.READ_FILE | FS.EXECUTE);
  for (const p of input.readOnlyPaths) add(p, READ);
  add(input.scratchDir, READ | WRITE);
  add('/dev/null', FS.READ_FILE | FS.WRITE_FILE);
  // Node exits (13) when OpenSSL's config is unreadable (EACCES; a missing one is fine); ld.so reads its cache.
  for (const f of input.systemFiles ?? []) add(f, FS.READ_FILE);
  for (const b of config.filesystem.binds) {
    if (b.target !== undefined && b.target !== b.source) {
      throw new PluginError(
        'InvalidArgument',
        `bind ${b.source} → ${b.target}: the Landlock backend has no mount namespace; a grant is visible at its own path only`,
      );
    }
    add(b.source, b.mode === 'rw' ? READ | WRITE : READ);
  }
  const full = config.network.mode === 'full';
  const rlimits: RlimitEntry[] = [
    { resource: RLIMIT.NOFILE, value: String(input.fdLimit) },
    { resource: RLIMIT.FSIZE, value: bytes(config.filesystem.tmpfsBytes, 'filesystem.tmpfsBytes') },
    { resource: RLIMIT.CORE, value: '0' },
  ];
  if (input.dataLimitBytes !== undefined) {
    rlimits.push({ resource: RLIMIT.DATA, value: bytes(input.dataLimitBytes, 'the memory limit') });
  }
  if (input.uid !== undefined) {
    if (!Number.isSafeInteger(input.uid) || input.uid <= 0) {
      throw new PluginError(
        'InvalidArgument',
        `the sandbox uid must be a positive integer, got ${input.uid}`,
      );
    }
    rlimits.push({ resource: RLIMIT.NPROC, value: String(input.pidsMax) });
  }
  if (input.cpuSeconds !== undefined) rlimits.push({ resource: RLIMIT.CPU, value: String(input.cpuSeconds) });
  const execFd = input.fdLimit + 1;
  return {
    abi,
    handledFs,
    // isolated/restricted: every TCP bind/connect denied (no rule allows a port); full: the host network.
    handledNet: full ? 0 : handledNetRights(abi),
    scoped: knownScopes(abi),
    pathRules: rules,
    procSelf: true,
    rlimits,
    uid: input.uid,
    cgroupProcs: [...input.cgroupProcs],
    hostPid: input.hostPid,
    execFd,
    command: input.command,
    argv: [input.command, ...input.args],
    env: Object.entries(config.env)
      .map(([k, v]) => {
        if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
          throw new PluginError('InvalidArgument', `invalid environment entry ${JSON.stringify(k)}`);
        }
        return `${k}=${v}`;
      })
      .concat([`TMPDIR=${input.scratchDir}`]),
    seccomp: config.seccomp.mode === 'disabled' ? [] : launcherSeccompRules({ inet: full, execFd }),
  };
}

const EPERM = { action: 'errno', errno: ERRNO.EPERM } as const;
const EACCES = { action: 'errno', errno: ERRNO.EACCES } as const;
const AT_EMPTY_PATH = 0x1000;

/**
 * Denied outright: exec and fork, the syscalls every sandbox denies ({@link DANGEROUS_SYSCALLS}, {@link
 * PRIVILEGE_SYSCALLS}), Landlock's and seccomp's own (no new or stacked domains), metadata changes and SysV IPC.
 */
export const DENIED_SYSCALLS: readonly string[] = [
  'execve',
  'fork',
  'vfork',
  ...DANGEROUS_SYSCALLS,
  ...PRIVILEGE_SYSCALLS,
  'landlock_add_rule',
  'landlock_restrict_self',
  'seccomp',
  // Landlock has no right for metadata: without these a plugin could chmod/chown/retime/re-label any file its uid
  // owns (on a non-root host: the host user's files).
  'chmod',
  'fchmod',
  'fchmodat',
  'fchmodat2',
  'chown',
  'fchown',
  'lchown',
  'fchownat',
  'utime',
  'utimes',
  'utimensat',
  'futimesat',
  'setxattr',
  'lsetxattr',
  'fsetxattr',
  'removexattr',
  'lremovexattr',
  'fremovexattr',
  // No IPC namespace: the host's SysV IPC objects and POSIX message queues would be reachable.
  'shmget',
  'shmat',
  'shmctl',
  'msgget',
  'msgsnd',
  'msgrcv',
  'msgctl',
  'semget',
  'semop',
  'semtimedop',
  'semctl',
  'mq_open',
  'mq_unlink',
  'mq_timedsend',
  'mq_timedreceive',
  'mq_notify',
  'mq_getsetattr',
];

/**
 * The launcher's seccomp filter (pure): default allow with a deny list (a Node allow-list is brittle: it breaks on rare paths),
 * applied on the launcher's main thread and inherited by the whole runtime image through `execveat`:
 * - no exec: `execve` denied; `execveat` only of fd `execFd` with `AT_EMPTY_PATH` — the launcher's own exec of the
 *   runtime. That fd is close-on-exec and at or above the NOFILE limit, so the plugin can never hold it again;
 * - no fork: `fork`/`vfork`, `clone` without `CLONE_THREAD` or with any `CLONE_NEW*` flag; `clone3` → ENOSYS so glibc
 *   falls back to `clone`;
 * - sockets: `inet` false → only `AF_UNIX` stream sockets, no `connect`/`bind`/`listen`, no `sendto` with an address
 *   (so nothing reaches a host socket file or abstract name); `inet` true (network `full`) → unix and IP families;
 * - `io_uring_*` → ENOSYS; `TIOCSTI`/`TIOCLINUX` denied (low 32 bits compared);
 * - `prctl(PR_SET_PDEATHSIG)` denied: the parent-death signal the launcher armed stays armed;
 * - no set-user-ID/set-group-ID mode at creation (`open`, `mkdir`, `mknod` …; `openat2` → ENOSYS).
 */
export function launcherSeccompRules(opts: { inet: boolean; execFd: number }): SeccompRule[] {
  const rules: SeccompRule[] = denySyscalls(DENIED_SYSCALLS);
  rules.push(
    { syscall: 'execveat', action: EPERM, args: [{ index: 0, op: 'ne', value: opts.execFd }] },
    {
      syscall: 'execveat',
      action: EPERM,
      args: [{ index: 4, op: 'masked-eq', mask: AT_EMPTY_PATH, value: 0 }],
    },
    processCloneRule(),
    ...namespaceCloneRules(),
    ...nodeSafetyRules(),
    parentDeathSignalRule(),
    // chmod is denied above; a mode given at creation can't carry a set-id bit either.
    ...setIdModeRules().filter((r) => !DENIED_SYSCALLS.includes(r.syscall)),
  );
  if (opts.inet) {
    // Every family but unix and IP (libseccomp allows one comparison per argument and rule: one rule each).
    for (let family = 0; family < AF.INET6; family++) {
      if (family !== AF.UNIX && family !== AF.INET) {
        rules.push({ syscall: 'socket', action: EACCES, args: [{ index: 0, op: 'eq', value: family }] });
      }
    }
    rules.push({ syscall: 'socket', action: EACCES, args: [{ index: 0, op: 'gt', value: AF.INET6 }] });
  } else {
    rules.push(
      { syscall: 'socket', action: EACCES, args: [{ index: 0, op: 'ne', value: AF.UNIX }] },
      // AF_UNIX datagrams (SOCK_RAW is a datagram socket for AF_UNIX) could be sent to a host socket file.
      { syscall: 'socket', action: EACCES, args: [{ index: 1, op: 'masked-eq', mask: 0xf, value: 2 }] },
      { syscall: 'socket', action: EACCES, args: [{ index: 1, op: 'masked-eq', mask: 0xf, value: 3 }] },
      { syscall: 'connect', action: EACCES },
      { syscall: 'bind', action: EACCES },
      { syscall: 'listen', action: EACCES },
      { syscall: 'sendto', action: EACCES, args: [{ index: 4, op: 'ne', value: 0 }] },
    );
  }
  return rules;
}
