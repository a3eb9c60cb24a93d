import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PluginError } from '@plugward/types';
import { koffiModule } from './koffi-module.js';
import { assertPrivateHostState } from './private-state.js';

// koffi is loaded lazily: importing this package must not need a native module until a filter is built.
type KoffiModule = typeof import('koffi');
type Fn = (...args: unknown[]) => unknown;

/** libseccomp constants (seccomp.h of libseccomp 2.5). */
export const SCMP = Object.freeze({
  ACT_KILL_PROCESS: 0x80000000,
  ACT_KILL_THREAD: 0x00000000,
  ACT_TRAP: 0x00030000,
  ACT_LOG: 0x7ffc0000,
  ACT_ALLOW: 0x7fff0000,
  FLTATR_ACT_BADARCH: 2,
  FLTATR_CTL_NNP: 3,
  FLTATR_CTL_TSYNC: 4,
  CMP_NE: 1,
  CMP_LT: 2,
  CMP_LE: 3,
  CMP_EQ: 4,
  CMP_GE: 5,
  CMP_GT: 6,
  CMP_MASKED_EQ: 7,
  /** `AUDIT_ARCH_*` tokens as returned by `seccomp_arch_native()`. */
  ARCH_X86_64: 0xc000003e,
  ARCH_AARCH64: 0xc00000b7,
});

/** `SCMP_ACT_ERRNO(errno)`. */
export function actErrno(errno: number): number {
  return (0x00050000 | (errno & 0xffff)) >>> 0;
}

/** The functions of libseccomp this package calls. */
export interface LibSeccomp {
  readonly path: string;
  init(defaultAction: number): unknown;
  release(ctx: unknown): void;
  archNative(): number;
  resolveName(name: string): number;
  ruleAdd(ctx: unknown, action: number, syscall: number, args: readonly ArgCmp[]): number;
  attrSet(ctx: unknown, attr: number, value: number): number;
  exportBpf(ctx: unknown, fd: number): number;
  load(ctx: unknown): number;
}

/** One `struct scmp_arg_cmp`. */
export interface ArgCmp {
  arg: number;
  op: number;
  datumA: bigint;
  datumB: bigint;
}

/** Where libseccomp is looked for, in order (Debian/Ubuntu multiarch, Fedora, Alpine). */
export const LIBSECCOMP_CANDIDATES: readonly string[] = [
  '/usr/lib/x86_64-linux-gnu/libseccomp.so.2',
  '/lib/x86_64-linux-gnu/libseccomp.so.2',
  '/usr/lib/aarch64-linux-gnu/libseccomp.so.2',
  '/lib/aarch64-linux-gnu/libseccomp.so.2',
  '/usr/lib64/libseccomp.so.2',
  '/usr/lib/libseccomp.so.2',
  '/lib/libseccomp.so.2',
];

/** The first existing libseccomp shared object, or `undefined`. */
export function findLibSeccomp(): string | undefined {
  for (const candidate of LIBSECCOMP_CANDIDATES) {
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

let cached: LibSeccomp | undefined;

/** Loads libseccomp through koffi once; throws `SandboxUnavailable` with an install hint when it is missing. */
export function loadLibSeccomp(): LibSeccomp {
  if (cached !== undefined) return cached;
  const libPath = findLibSeccomp();
  if (libPath === undefined) {
    throw new PluginError(
      'SandboxUnavailable',
      'libseccomp.so.2 not found; install it: apt-get install libseccomp2',
      {
        details: { searched: LIBSECCOMP_CANDIDATES },
      },
    );
  }
  let koffi: KoffiModule;
  try {
    koffi = koffiModule();
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', 'the koffi FFI module could not be loaded', { cause });
  }
  try {
    const lib = koffi.load(libPath);
    const ArgCmpType = koffi.struct('plugward_scmp_arg_cmp', {
      arg: 'uint32',
      op: 'int',
      datum_a: 'uint64',
      datum_b: 'uint64',
    });
    const seccompInit = lib.func('void *seccomp_init(uint32_t def_action)') as Fn;
    const seccompRelease = lib.func('void seccomp_release(void *ctx)') as Fn;
    const archNative = lib.func('uint32_t seccomp_arch_native(void)') as Fn;
    const resolveName = lib.func('int seccomp_syscall_resolve_name(const char *name)') as Fn;
    const ruleAddArray = lib.func('seccomp_rule_add_array', 'int', [
      'void *',
      'uint32_t',
      'int',
      'unsigned int',
      koffi.pointer(ArgCmpType),
    ]) as Fn;
    const attrSet = lib.func('int seccomp_attr_set(void *ctx, int attr, uint32_t value)') as Fn;
    const exportBpf = lib.func('int seccomp_export_bpf(void *ctx, int fd)') as Fn;
    const load = lib.func('int seccomp_load(void *ctx)') as Fn;
    cached = {
      path: libPath,
      init: (a) => {
        const ctx = seccompInit(a);
        if (ctx === null) throw new PluginError('SandboxError', 'seccomp_init failed');
        return ctx;
      },
      release: (ctx) => void seccompRelease(ctx),
      archNative: () => Number(archNative()),
      resolveName: (name) => Number(resolveName(name)),
      ruleAdd: (ctx, action, nr, args) =>
        Number(
          ruleAddArray(
            ctx,
            action,
            nr,
            args.length,
            args.length === 0
              ? null
              : args.map((a) => ({ arg: a.arg, op: a.op, datum_a: a.datumA, datum_b: a.datumB })),
          ),
        ),
      attrSet: (ctx, attr, value) => Number(attrSet(ctx, attr, value)),
      exportBpf: (ctx, fd) => Number(exportBpf(ctx, fd)),
      load: (ctx) => Number(load(ctx)),
    };
    return cached;
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', `libseccomp at ${libPath} could not be bound through koffi`, {
      cause,
    });
  }
}

/** The libseccomp arch token of the running Node, or throws `Unsupported`. */
export function expectedArch(): number {
  switch (process.arch) {
    case 'x64':
      return SCMP.ARCH_X86_64;
    case 'arm64':
      return SCMP.ARCH_AARCH64;
    default:
      throw new PluginError(
        'Unsupported',
        `seccomp filters are built for x64 and arm64 only, not ${process.arch}`,
      );
  }
}

/**
 * Runs `fn` with a private temporary file path, removed afterwards. The directory holding it must be one no other user
 * can swap (a filter written there is what a sandbox is confined by).
 */
export function withTempFile<T>(fn: (file: string) => T): T {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-bpf-'));
  try {
    assertPrivateHostState(dir, 'directory', 'the seccomp filter directory');
  } catch (e) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  try {
    return fn(path.join(dir, 'filter.bpf'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
