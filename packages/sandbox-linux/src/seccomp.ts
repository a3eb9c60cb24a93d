import fs from 'node:fs';
import {
  seccompActionCode as actionCode,
  seccompArgCmps as argCmps,
  checkSeccompRc as check,
  expectedArch,
  type LibSeccomp,
  loadLibSeccomp,
  SCMP,
  withTempFile,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompMode } from '@plugward/types';
import {
  lockdownProfile,
  type ProfileOptions,
  type SeccompProfile,
  seccompProfile,
} from './seccomp-profiles.js';

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
