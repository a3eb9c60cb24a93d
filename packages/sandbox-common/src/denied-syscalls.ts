import type { SeccompAction, SeccompRule } from '@plugward/types';

/** errno values the sandboxes' seccomp rules answer with (Linux, every architecture the backends support). */
export const ERRNO = Object.freeze({ EPERM: 1, EACCES: 13, ENOSYS: 38, EAFNOSUPPORT: 97 });

const EPERM: SeccompAction = { action: 'errno', errno: ERRNO.EPERM };
const ENOSYS: SeccompAction = { action: 'errno', errno: ERRNO.ENOSYS };

/** `CLONE_THREAD` of clone(2): a thread, not a new process. */
export const CLONE_THREAD = 0x00010000;
/** The namespace flags of clone(2)/unshare(2): a sandboxed plugin creates no namespaces. */
export const CLONE_NS_FLAGS: readonly number[] = [
  0x00000080, 0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000,
];
/** Socket address families the rules name. */
export const AF = Object.freeze({ UNIX: 1, INET: 2, INET6: 10 });
/** Socket types: the low bits of the `type` argument of socket(2)/socketpair(2) (the rest are flags). */
export const SOCK = Object.freeze({ TYPE_MASK: 0xf, STREAM: 1, DGRAM: 2, RAW: 3, SEQPACKET: 5 });
const EACCES: SeccompAction = { action: 'errno', errno: ERRNO.EACCES };
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;
/** Mask of an ioctl request's low 32 bits (the kernel compares no more). */
export const LOW_32 = 0xffffffff;

/** Calls that change the mount tree. */
export const MOUNT_SYSCALLS: readonly string[] = [
  'mount',
  'umount2',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
];

/**
 * Denied by every sandbox (with EPERM), whatever else it allows: ways out (mounts, namespaces, ptrace and other
 * processes' memory), kernel attack surface (modules, kexec, BPF, perf, keyrings, userfaultfd) and host-wide effects
 * (clock, swap, reboot, hostname, quotas).
 */
export const DANGEROUS_SYSCALLS: readonly string[] = [
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'process_madvise',
  'kcmp',
  'pidfd_getfd',
  ...MOUNT_SYSCALLS,
  'pivot_root',
  'chroot',
  'unshare',
  'setns',
  'kexec_load',
  'kexec_file_load',
  'reboot',
  'init_module',
  'finit_module',
  'delete_module',
  'swapon',
  'swapoff',
  'bpf',
  'perf_event_open',
  'keyctl',
  'add_key',
  'request_key',
  'open_by_handle_at',
  'name_to_handle_at',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'iopl',
  'ioperm',
  'syslog',
  'userfaultfd',
  'lookup_dcookie',
  'quotactl',
  'quotactl_fd',
  'vhangup',
  'uselib',
  'sethostname',
  'setdomainname',
  'fanotify_init',
  'landlock_create_ruleset',
  'nfsservctl',
  'afs_syscall',
];

/** Identity and device changes: new uids, gids or capabilities, device nodes, personality and LDT tricks. */
export const PRIVILEGE_SYSCALLS: readonly string[] = [
  'mknod',
  'mknodat',
  'personality',
  'modify_ldt',
  'setuid',
  'setgid',
  'setreuid',
  'setregid',
  'setresuid',
  'setresgid',
  'setfsuid',
  'setfsgid',
  'setgroups',
  'capset',
];

/** One rule per name: `names` denied with `action` (default EPERM). */
export function denySyscalls(names: readonly string[], action: SeccompAction = EPERM): SeccompRule[] {
  return names.map((syscall) => ({ syscall, action }));
}

/**
 * Rules every sandbox carries for Node's sake and the terminal's: `clone3` → ENOSYS (Node aborts on EPERM from it;
 * ENOSYS makes glibc fall back to `clone`, whose flags a rule can inspect), `io_uring_*` → ENOSYS (io_uring performs
 * operations seccomp never sees), `TIOCSTI`/`TIOCLINUX` denied (they inject input into a terminal; the low 32 bits
 * compared, so high bits can't dodge it).
 */
export function nodeSafetyRules(): SeccompRule[] {
  return [
    { syscall: 'clone3', action: ENOSYS },
    ...denySyscalls(['io_uring_setup', 'io_uring_enter', 'io_uring_register'], ENOSYS),
    ...[TIOCSTI, TIOCLINUX].map((cmd) => ({
      syscall: 'ioctl',
      action: EPERM,
      args: [{ index: 1, op: 'masked-eq' as const, mask: LOW_32, value: cmd }],
    })),
  ];
}

/**
 * `socketpair` of datagram sockets denied (EACCES; `SOCK_RAW` is a datagram socket for AF_UNIX). A unix datagram
 * socket, one of a pair too, sends to the socket file an address names (`sendto`, or `sendmsg`, whose address seccomp
 * can't read), so a sandbox that may make no unix socket would still reach every host socket its uid may write. Stream
 * and seqpacket pairs (libuv's pipes) ignore an address.
 */
export function datagramPairRules(): SeccompRule[] {
  return [SOCK.DGRAM, SOCK.RAW].map((type) => ({
    syscall: 'socketpair',
    action: EACCES,
    args: [{ index: 1, op: 'masked-eq' as const, mask: SOCK.TYPE_MASK, value: type }],
  }));
}

/** `prctl` option that sets the signal a process gets when its parent dies. */
export const PR_SET_PDEATHSIG = 1;

/**
 * `prctl(PR_SET_PDEATHSIG, …)` denied, whatever the signal (setting a harmless one disarms it as well as 0): the
 * parent-death signal armed before the sandboxed command runs is what ends it with its host, and it must not be able
 * to disarm it. The option's low 32 bits are compared (the kernel reads it as an `int`, so high bits can't dodge it).
 * Node never sets a parent-death signal.
 */
export function parentDeathSignalRule(): SeccompRule {
  return {
    syscall: 'prctl',
    action: EPERM,
    args: [{ index: 0, op: 'masked-eq', mask: LOW_32, value: PR_SET_PDEATHSIG }],
  };
}

/** The set-user-ID and set-group-ID mode bits. */
export const S_ISUID = 0o4000;
export const S_ISGID = 0o2000;

/** Which argument of each call carries a file mode. */
const MODE_ARG: readonly [string, number][] = [
  ['chmod', 1],
  ['fchmod', 1],
  ['fchmodat', 2],
  ['fchmodat2', 2],
  ['open', 2],
  ['openat', 3],
  ['creat', 1],
  ['mkdir', 1],
  ['mkdirat', 2],
  ['mknod', 1],
  ['mknodat', 2],
];

/**
 * No file the sandbox makes or changes gets a set-user-ID or set-group-ID bit: the calls that take a mode are denied
 * (EPERM) when it has either bit (one rule per bit: a masked compare is an equality), and `openat2` (its mode sits in a
 * struct seccomp can't read) answers ENOSYS, so libc falls back to `openat`. Inside the sandbox every mount is
 * `nosuid`, but a file written through a writable bind lands in the host's directory, where such a bit is honoured: a
 * set-user-ID program owned by the sandbox's uid would be a key to that uid for anyone on the host after the lease is
 * given back to another sandbox. Node never asks for these bits.
 */
export function setIdModeRules(): SeccompRule[] {
  const rules: SeccompRule[] = [];
  for (const [syscall, index] of MODE_ARG) {
    for (const bit of [S_ISUID, S_ISGID]) {
      rules.push({ syscall, action: EPERM, args: [{ index, op: 'masked-eq', mask: bit, value: bit }] });
    }
  }
  rules.push({ syscall: 'openat2', action: ENOSYS });
  return rules;
}

/** `clone` with any namespace flag denied (one rule per flag: libseccomp compares one mask per argument and rule). */
export function namespaceCloneRules(): SeccompRule[] {
  return CLONE_NS_FLAGS.map((flag) => ({
    syscall: 'clone',
    action: EPERM,
    args: [{ index: 0, op: 'masked-eq' as const, mask: flag, value: flag }],
  }));
}

/** `clone` without `CLONE_THREAD` (a new process) denied; threads stay allowed. */
export function processCloneRule(): SeccompRule {
  return {
    syscall: 'clone',
    action: EPERM,
    args: [{ index: 0, op: 'masked-eq', mask: CLONE_THREAD, value: 0 }],
  };
}
