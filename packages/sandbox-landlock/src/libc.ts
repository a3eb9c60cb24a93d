import { requireKoffi } from '@plugward/sandbox-common';
import { PluginError } from '@plugward/types';
import {
  assertLandlockArch,
  CREATE_RULESET_VERSION,
  MAX_KNOWN_LANDLOCK_ABI,
  RULE_NET_PORT,
  RULE_PATH_BENEATH,
  rulesetAttrSize,
  SYS,
} from './landlock-abi.js';

type KoffiModule = typeof import('koffi');
type Fn = (...args: unknown[]) => unknown;

/** The libc calls the launcher makes (bound through koffi on first use). */
export interface Libc {
  /** `syscall()`; returns the raw result and errno. */
  landlockAbi(): { abi: number; errno: number };
  createRuleset(abi: number, fs: number, net: number, scoped: number): number;
  addPathRule(rulesetFd: number, access: number, parentFd: number): number;
  addNetRule(rulesetFd: number, access: number, port: number): number;
  restrictSelf(rulesetFd: number): number;
  prctl(option: number, arg2: number): number;
  unshare(flags: number): number;
  setrlimit(resource: number, soft: bigint, hard: bigint): number;
  dupFdCloexec(fd: number, minFd: number): number;
  setCloexec(fd: number): number;
  clearCloexec(fd: number): number;
  execveat(fd: number, argv: readonly string[], envp: readonly string[]): number;
  errno(): number;
}

let cached: Libc | undefined;

/** Binds libc through koffi once; `SandboxUnavailable` when koffi or libc can't be loaded. */
export function loadLibc(): Libc {
  if (cached !== undefined) return cached;
  assertLandlockArch();
  let koffi: KoffiModule;
  try {
    koffi = requireKoffi() as KoffiModule;
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', 'the koffi FFI module could not be loaded', { cause });
  }
  let lib: ReturnType<KoffiModule['load']>;
  try {
    lib = koffi.load('libc.so.6');
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', 'libc.so.6 could not be loaded through koffi', { cause });
  }
  const syscall = lib.func('long syscall(long number, ...)') as Fn;
  const prctl = lib.func(
    'int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)',
  ) as Fn;
  const setrlimit = lib.func('int setrlimit(int resource, const uint64_t *rlim)') as Fn;
  const unshare = lib.func('int unshare(int flags)') as Fn;
  const fcntl = lib.func('int fcntl(int fd, int cmd, ...)') as Fn;
  const execveat = lib.func(
    'int execveat(int dirfd, const char *path, const char **argv, const char **envp, int flags)',
  ) as Fn;
  const errnoFn = koffi.errno as () => number;
  const F_DUPFD_CLOEXEC = 1030;
  const F_SETFD = 2;
  const AT_EMPTY_PATH = 0x1000;
  const num = (v: unknown): number => Number(v);
  cached = {
    landlockAbi: () => {
      const r = num(
        syscall(SYS.landlock_create_ruleset, 'void *', null, 'size_t', 0, 'uint32_t', CREATE_RULESET_VERSION),
      );
      return { abi: r, errno: r < 0 ? errnoFn() : 0 };
    },
    createRuleset: (abi, fsRights, net, scoped) => {
      const size = rulesetAttrSize(Math.min(abi, MAX_KNOWN_LANDLOCK_ABI));
      const attr = Buffer.alloc(24);
      attr.writeBigUInt64LE(BigInt(fsRights), 0);
      attr.writeBigUInt64LE(BigInt(net), 8);
      attr.writeBigUInt64LE(BigInt(scoped), 16);
      return num(syscall(SYS.landlock_create_ruleset, 'void *', attr, 'size_t', size, 'uint32_t', 0));
    },
    addPathRule: (rulesetFd, access, parentFd) => {
      // struct landlock_path_beneath_attr is packed: u64 allowed_access, s32 parent_fd.
      const attr = Buffer.alloc(12);
      attr.writeBigUInt64LE(BigInt(access), 0);
      attr.writeInt32LE(parentFd, 8);
      return num(
        syscall(
          SYS.landlock_add_rule,
          'int',
          rulesetFd,
          'int',
          RULE_PATH_BENEATH,
          'void *',
          attr,
          'uint32_t',
          0,
        ),
      );
    },
    addNetRule: (rulesetFd, access, port) => {
      const attr = Buffer.alloc(16);
      attr.writeBigUInt64LE(BigInt(access), 0);
      attr.writeBigUInt64LE(BigInt(port), 8);
      return num(
        syscall(SYS.landlock_add_rule, 'int', rulesetFd, 'int', RULE_NET_PORT, 'void *', attr, 'uint32_t', 0),
      );
    },
    restrictSelf: (rulesetFd) => num(syscall(SYS.landlock_restrict_self, 'int', rulesetFd, 'uint32_t', 0)),
    prctl: (option, arg2) => num(prctl(option, arg2, 0, 0, 0)),
    unshare: (flags) => num(unshare(flags)),
    setrlimit: (resource, soft, hard) => num(setrlimit(resource, [soft, hard])),
    dupFdCloexec: (fd, minFd) => num(fcntl(fd, F_DUPFD_CLOEXEC, 'int', minFd)),
    setCloexec: (fd) => num(fcntl(fd, F_SETFD, 'int', 1)),
    clearCloexec: (fd) => num(fcntl(fd, F_SETFD, 'int', 0)),
    execveat: (fd, argv, envp) => num(execveat(fd, '', [...argv, null], [...envp, null], AT_EMPTY_PATH)),
    errno: () => errnoFn(),
  };
  return cached;
}
