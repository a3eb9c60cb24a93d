import {
  AF,
  CLONE_NS_FLAGS,
  CLONE_THREAD,
  nodeSafetyRules as commonRules,
  DANGEROUS_SYSCALLS,
  datagramPairRules,
  denySyscalls as deny,
  ERRNO,
  LOW_32,
  namespaceCloneRules as noNamespaceClones,
  processCloneRule as noProcessClones,
  PRIVILEGE_SYSCALLS,
  type SeccompProfile,
  SOCK,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompAction, type SeccompMode, type SeccompRule } from '@plugward/types';

export type { SeccompProfile } from '@plugward/sandbox-common';

const NS_MASK = CLONE_NS_FLAGS.reduce((a, b) => a | b, 0) >>> 0;

/** What a profile depends on besides its mode. */
export interface ProfileOptions {
  /** `strict` allows AF_INET/AF_INET6 sockets (the `full` network mode; otherwise no `socket` at all). */
  inetSockets?: boolean;
}
/**
 * ioctl requests a Node process makes (non-blocking and close-on-exec flags, terminal size and mode, bytes readable).
 * The strict allow-list names requests instead of denying a few: an unconditional ioctl allow would override any
 * argument rule (libseccomp keeps the broader one).
 */
const NODE_IOCTLS = [
  0x5401, 0x5402, 0x5403, 0x5404, 0x540f, 0x5413, 0x5414, 0x541b, 0x5421, 0x5450, 0x5451, 0x5452,
];

const EPERM: SeccompAction = { action: 'errno', errno: ERRNO.EPERM };
const ENOSYS: SeccompAction = { action: 'errno', errno: ERRNO.ENOSYS };
const EACCES: SeccompAction = { action: 'errno', errno: ERRNO.EACCES };
const ALLOW: SeccompAction = { action: 'allow' };

/**
 * Syscalls Node 20 needs to run a JS plugin host (traced with strace on a workload of fs, net over fd 3, crypto,
 * timers, workers), plus their close relatives so that an unexpected libuv path gets an answer instead of an abort.
 */
export const NODE_ALLOW_LIST: readonly string[] = [
  // memory
  'brk',
  'mmap',
  'munmap',
  'mprotect',
  'mremap',
  'madvise',
  'mincore',
  'msync',
  'membarrier',
  'mlock',
  'munlock',
  // threads, signals, time
  'futex',
  'futex_waitv',
  'set_robust_list',
  'get_robust_list',
  'rseq',
  'set_tid_address',
  'gettid',
  'getpid',
  'getppid',
  'tgkill',
  'tkill',
  'kill',
  'exit',
  'exit_group',
  'rt_sigaction',
  'rt_sigprocmask',
  'rt_sigreturn',
  'rt_sigpending',
  'rt_sigtimedwait',
  'rt_sigsuspend',
  'rt_sigqueueinfo',
  'sigaltstack',
  'restart_syscall',
  'nanosleep',
  'clock_nanosleep',
  'clock_gettime',
  'clock_getres',
  'gettimeofday',
  'time',
  'times',
  'sched_yield',
  'sched_getaffinity',
  'sched_getparam',
  'sched_getscheduler',
  'sched_get_priority_max',
  'sched_get_priority_min',
  'getpriority',
  'getrusage',
  'prlimit64',
  'getrlimit',
  'sysinfo',
  'uname',
  'wait4',
  'waitid',
  'arch_prctl',
  'prctl',
  'seccomp',
  'getrandom',
  'capget',
  // identity (read-only)
  'getuid',
  'getgid',
  'geteuid',
  'getegid',
  'getresuid',
  'getresgid',
  'getgroups',
  'getpgrp',
  'getpgid',
  'getsid',
  // files
  'read',
  'write',
  'readv',
  'writev',
  'pread64',
  'pwrite64',
  'preadv',
  'pwritev',
  'preadv2',
  'pwritev2',
  'open',
  'openat',
  'openat2',
  'close',
  'close_range',
  'creat',
  'lseek',
  'stat',
  'fstat',
  'lstat',
  'newfstatat',
  'statx',
  'statfs',
  'fstatfs',
  'access',
  'faccessat',
  'faccessat2',
  'readlink',
  'readlinkat',
  'getcwd',
  'chdir',
  'fchdir',
  'getdents',
  'getdents64',
  'mkdir',
  'mkdirat',
  'rmdir',
  'unlink',
  'unlinkat',
  'rename',
  'renameat',
  'renameat2',
  'link',
  'linkat',
  'symlink',
  'symlinkat',
  'chmod',
  'fchmod',
  'fchmodat',
  'umask',
  'truncate',
  'ftruncate',
  'fsync',
  'fdatasync',
  'sync_file_range',
  'fallocate',
  'fadvise64',
  'utimensat',
  'futimesat',
  'utime',
  'utimes',
  'copy_file_range',
  'sendfile',
  'splice',
  'tee',
  'flock',
  'fcntl',
  'dup',
  'dup2',
  'dup3',
  'pipe',
  'pipe2',
  'getxattr',
  'lgetxattr',
  'fgetxattr',
  'listxattr',
  'llistxattr',
  'flistxattr',
  // events
  'poll',
  'ppoll',
  'select',
  'pselect6',
  'epoll_create',
  'epoll_create1',
  'epoll_ctl',
  'epoll_wait',
  'epoll_pwait',
  'epoll_pwait2',
  'eventfd',
  'eventfd2',
  'timerfd_create',
  'timerfd_settime',
  'timerfd_gettime',
  'signalfd',
  'signalfd4',
  'inotify_init',
  'inotify_init1',
  'inotify_add_watch',
  'inotify_rm_watch',
  // sockets (`socket` and `socketpair` are limited by their arguments below)
  'connect',
  'accept',
  'accept4',
  'bind',
  'listen',
  'shutdown',
  'sendto',
  'recvfrom',
  'sendmsg',
  'recvmsg',
  'sendmmsg',
  'recvmmsg',
  'getsockname',
  'getpeername',
  'getsockopt',
  'setsockopt',
  // bwrap execs the command after installing the filter; the runtime's second filter denies it afterwards.
  'execve',
];

/** Added by `basic` and stricter: identity and device changes, old ABIs, scheduling and memory policy with host effects. */
const BASIC_EXTRA: readonly string[] = [
  ...PRIVILEGE_SYSCALLS,
  'vm86',
  'vm86old',
  'ioprio_set',
  'sched_setscheduler',
  'sched_setparam',
  'sched_setattr',
  'set_mempolicy',
  'mbind',
  'migrate_pages',
  'move_pages',
  'memfd_secret',
];

/** Added by `moderate`: no new processes (threads stay allowed) and no raw sockets. */
const MODERATE_EXTRA: readonly string[] = ['fork', 'vfork', 'execveat'];

/**
 * The profile of a {@link SeccompMode}. `disabled` has none (`undefined`). Throws `InvalidArgument` for a custom
 * profile whose default would kill Node (KILL/TRAP defaults end the process on the first unlisted syscall).
 */
export function seccompProfile(mode: SeccompMode, options: ProfileOptions = {}): SeccompProfile | undefined {
  switch (mode.mode) {
    case 'disabled':
      return undefined;
    case 'strict': {
      const allowed = NODE_ALLOW_LIST.map((syscall) => ({ syscall, action: ALLOW }));
      return {
        defaultAction: EPERM,
        rules: [
          ...allowed,
          ...commonRules(),
          // Threads only: clone must carry CLONE_THREAD and no namespace flag (anything else gets the EPERM default).
          {
            syscall: 'clone',
            action: ALLOW,
            args: [{ index: 0, op: 'masked-eq', mask: CLONE_THREAD | NS_MASK, value: CLONE_THREAD }],
          },
          ...(options.inetSockets === true ? [AF.INET, AF.INET6] : []).map((family) => ({
            syscall: 'socket',
            action: ALLOW,
            args: [{ index: 0, op: 'eq' as const, value: family }],
          })),
          // No new unix socket: a read-only bind stops no `connect` to a socket file (EROFS is for files, directories
          // and symlinks), so one would reach every host service whose socket lies in a grant. The runtime's channel
          // is the inherited fd 3; libuv's pipes are stream pairs.
          {
            syscall: 'socket',
            action: EACCES,
            args: [{ index: 0, op: 'masked-eq', mask: LOW_32, value: AF.UNIX }],
          },
          ...[SOCK.STREAM, SOCK.SEQPACKET].map((type) => ({
            syscall: 'socketpair',
            action: ALLOW,
            args: [{ index: 1, op: 'masked-eq' as const, mask: SOCK.TYPE_MASK, value: type }],
          })),
          ...datagramPairRules(),
          { syscall: 'pkey_alloc', action: ENOSYS },
          ...NODE_IOCTLS.map((cmd) => ({
            syscall: 'ioctl',
            action: ALLOW,
            args: [{ index: 1, op: 'masked-eq' as const, mask: LOW_32, value: cmd }],
          })),
        ],
      };
    }
    case 'permissive':
      return {
        defaultAction: ALLOW,
        rules: [...commonRules(), ...deny(DANGEROUS_SYSCALLS), ...noNamespaceClones()],
      };
    case 'basic':
      return {
        defaultAction: ALLOW,
        rules: [...commonRules(), ...deny(DANGEROUS_SYSCALLS), ...deny(BASIC_EXTRA), ...noNamespaceClones()],
      };
    case 'moderate':
      return {
        defaultAction: ALLOW,
        rules: [
          ...commonRules(),
          ...deny(DANGEROUS_SYSCALLS),
          ...deny(BASIC_EXTRA),
          ...deny(MODERATE_EXTRA),
          ...noNamespaceClones(),
          noProcessClones(),
          // Raw and packet sockets: AF_PACKET (17) and SOCK_RAW (3) need CAP_NET_RAW anyway; deny them outright.
          {
            syscall: 'socket',
            action: { action: 'errno', errno: ERRNO.EAFNOSUPPORT },
            args: [{ index: 0, op: 'eq', value: 17 }],
          },
          { syscall: 'socket', action: EPERM, args: [{ index: 1, op: 'masked-eq', mask: 0xff, value: 3 }] },
        ],
      };
    case 'custom': {
      const d = mode.defaultAction.action;
      if (d === 'kill' || d === 'trap') {
        throw new PluginError(
          'InvalidArgument',
          `a custom seccomp default of '${d}' kills Node on its first unlisted syscall; use 'errno' or 'allow'`,
        );
      }
      const has = (name: string): boolean => mode.rules.some((r) => r.syscall === name);
      // The profile also applies to bwrap's init (the sandbox's pid 1), which waits for its children with wait4: a
      // default that denies it would end the sandbox at once. A rule of the user's for wait4 is kept as written.
      return {
        defaultAction: mode.defaultAction,
        rules: [
          ...(has('clone3') ? [] : [{ syscall: 'clone3', action: ENOSYS }]),
          ...(has('wait4') || d === 'allow' ? [] : [{ syscall: 'wait4', action: ALLOW }]),
          ...mode.rules,
        ],
      };
    }
  }
}

/**
 * The rules of the second, in-process filter a plugin runtime installs after Node has started (bwrap's filter must
 * allow the `execve` of node itself): no exec and no new processes; threads stay allowed.
 */
export function lockdownProfile(options: { denyExec: boolean; denyFork: boolean }): SeccompProfile {
  const rules: SeccompRule[] = [{ syscall: 'clone3', action: ENOSYS }];
  if (options.denyExec) rules.push(...deny(['execve', 'execveat']));
  if (options.denyFork) rules.push(...deny(['fork', 'vfork']), noProcessClones());
  return { defaultAction: ALLOW, rules };
}
