import fs from 'node:fs';
import {
  type ArgCmp,
  actErrno,
  expectedArch,
  type LibSeccomp,
  loadLibSeccomp,
  SCMP,
  withTempFile,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompAction, type SeccompArgCondition, type SeccompMode } from '@plugward/types';
import {
  lockdownProfile,
  type ProfileOptions,
  type SeccompProfile,
  seccompProfile,
} from './seccomp-profiles.js';

const OPS: Record<SeccompArgCondition['op'], number> = {
  eq: SCMP.CMP_EQ,
  ne: SCMP.CMP_NE,
  lt: SCMP.CMP_LT,
  le: SCMP.CMP_LE,
  gt: SCMP.CMP_GT,
  ge: SCMP.CMP_GE,
  'masked-eq': SCMP.CMP_MASKED_EQ,
};

/** The libseccomp action word of a {@link SeccompAction}. */
export function actionCode(action: SeccompAction): number {
  switch (action.action) {
    case 'allow':
      return SCMP.ACT_ALLOW;
    case 'errno':
      if (!Number.isInteger(action.errno) || action.errno < 0 || action.errno > 4095) {
        throw new PluginError(
          'InvalidArgument',
          `seccomp errno must be an integer 0–4095, got ${action.errno}`,
        );
      }
      return actErrno(action.errno);
    case 'kill':
      return SCMP.ACT_KILL_PROCESS;
    case 'trap':
      return SCMP.ACT_TRAP;
    case 'log':
      return SCMP.ACT_LOG;
  }
}

function toBigInt(v: bigint | number, what: string): bigint {
  const b = typeof v === 'bigint' ? v : Number.isSafeInteger(v) ? BigInt(v) : Number.NaN;
  if (typeof b !== 'bigint' || b < 0n || b > 0xffffffffffffffffn) {
    throw new PluginError('InvalidArgument', `seccomp ${what} must be an unsigned 64-bit integer`);
  }
  return b;
}

function argCmps(args: readonly SeccompArgCondition[] | undefined): ArgCmp[] {
  return (args ?? []).map((a) => {
    if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
      throw new PluginError('InvalidArgument', `seccomp argument index must be 0–5, got ${a.index}`);
    }
    const op = OPS[a.op];
    if (op === undefined)
      throw new PluginError('InvalidArgument', `unknown seccomp comparison '${String(a.op)}'`);
    // libseccomp's masked-eq takes (mask, value); the others take (value, unused).
    return a.op === 'masked-eq'
      ? {
          arg: a.index,
          op,
          datumA: toBigInt(a.mask ?? 0xffffffffffffffffn, 'mask'),
          datumB: toBigInt(a.value, 'value'),
        }
      : { arg: a.index, op, datumA: toBigInt(a.value, 'value'), datumB: 0n };
  });
}

/** Options of {@link compileProfile}. */
interface CompileOptions {
  /** Syscall names unknown on this architecture are skipped (built-in lists) or refused (user rules). */
  strictNames: boolean;
}

/** Builds a libseccomp context for `profile`; the caller releases it. */
function buildContext(lib: LibSeccomp, profile: SeccompProfile, options: CompileOptions): unknown {
  const arch = expectedArch();
  if (lib.archNative() !== arch) {
    throw new PluginError(
      'SandboxUnavailable',
      `libseccomp's native architecture does not match ${process.arch}`,
    );
  }
  const defaultCode = actionCode(profile.defaultAction);
  const ctx = lib.init(defaultCode);
  try {
    // A syscall of another ABI (int 0x80 on x86_64, x32) never runs: the process is killed.
    check(lib.attrSet(ctx, SCMP.FLTATR_ACT_BADARCH, SCMP.ACT_KILL_PROCESS), 'seccomp_attr_set(ACT_BADARCH)');
    for (const rule of profile.rules) {
      if (typeof rule.syscall !== 'string' || !/^[a-z0-9_]{1,64}$/.test(rule.syscall)) {
        throw new PluginError('InvalidArgument', `invalid syscall name ${JSON.stringify(rule.syscall)}`);
      }
      const nr = lib.resolveName(rule.syscall);
      if (nr === -1) {
        if (options.strictNames) {
          throw new PluginError('InvalidArgument', `unknown syscall '${rule.syscall}' on ${process.arch}`);
        }
        continue;
      }
      const code = actionCode(rule.action);
      // libseccomp refuses a rule whose action equals the default; it would change nothing anyway.
      if (code === defaultCode) continue;
      check(lib.ruleAdd(ctx, code, nr, argCmps(rule.args)), `seccomp_rule_add(${rule.syscall})`);
    }
    return ctx;
  } catch (e) {
    lib.release(ctx);
    throw e;
  }
}

function check(rc: number, what: string): void {
  if (rc < 0)
    throw new PluginError('SandboxError', `${what} failed: errno ${-rc}`, { details: { errno: -rc } });
}

/** Compiles a profile to classic BPF (the bytes `bwrap --seccomp FD` reads). */
export function compileProfile(
  profile: SeccompProfile,
  options: CompileOptions = { strictNames: false },
): Uint8Array {
  const lib = loadLibSeccomp();
  const ctx = buildContext(lib, profile, options);
  try {
    return withTempFile((file) => {
      const fd = fs.openSync(file, 'w', 0o600);
      try {
        check(lib.exportBpf(ctx, fd), 'seccomp_export_bpf');
      } finally {
        fs.closeSync(fd);
      }
      return new Uint8Array(fs.readFileSync(file));
    });
  } finally {
    lib.release(ctx);
  }
}

/**
 * Compiles a {@link SeccompMode} to a BPF program for `bwrap --seccomp`. Returns `undefined` for `disabled`.
 * `options.inetSockets` lets `strict` open IP sockets (the sandbox does so for the `full` network mode).
 *
 * @example
 * ```ts
 * const bpf = buildSeccompFilter({ mode: 'strict' }); // Uint8Array of sock_filter instructions
 * ```
 */
export function buildSeccompFilter(mode: SeccompMode, options: ProfileOptions = {}): Uint8Array | undefined {
  const key = JSON.stringify([mode, options], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
  const hit = filterCache.get(key);
  if (hit !== undefined) return hit;
  const profile = seccompProfile(mode, options);
  if (profile === undefined) return undefined;
  const bpf = compileProfile(profile, { strictNames: mode.mode === 'custom' });
  if (bpf.length === 0 || bpf.length % 8 !== 0) {
    throw new PluginError(
      'SandboxError',
      `libseccomp produced a malformed BPF program (${bpf.length} bytes)`,
    );
  }
  if (filterCache.size > 64) filterCache.clear();
  filterCache.set(key, bpf);
  return bpf;
}

// Compiling takes a few ms through libseccomp; spawns of one config reuse the program (callers never mutate it).
const filterCache = new Map<string, Uint8Array>();

/** Options of {@link installProcessFilter}. */
export interface ProcessFilterOptions {
  /** Deny `execve`/`execveat` (default true). */
  denyExec?: boolean;
  /** Deny `fork`/`vfork`/`clone` without CLONE_THREAD (default true). */
  denyFork?: boolean;
}

/**
 * Installs a second seccomp filter on the *calling* process, on every thread (TSYNC; Node already runs several), with
 * no_new_privs set. Meant for a plugin-side runtime right after start: bwrap's filter must allow the `execve` of node,
 * this one then denies exec and process creation for the rest of the process's life. Filters stack; the strictest
 * answer wins, so this can only narrow what the process may do. Throws `SandboxError` if the kernel refuses.
 */
export function installProcessFilter(options: ProcessFilterOptions = {}): void {
  const lib = loadLibSeccomp();
  const profile = lockdownProfile({ denyExec: options.denyExec ?? true, denyFork: options.denyFork ?? true });
  const ctx = buildContext(lib, profile, { strictNames: false });
  try {
    check(lib.attrSet(ctx, SCMP.FLTATR_CTL_NNP, 1), 'seccomp_attr_set(CTL_NNP)');
    check(lib.attrSet(ctx, SCMP.FLTATR_CTL_TSYNC, 1), 'seccomp_attr_set(CTL_TSYNC)');
    check(lib.load(ctx), 'seccomp_load');
  } finally {
    lib.release(ctx);
  }
}
