import fs from 'node:fs';
import {
  buildSeccompContext,
  checkSeccompRc as check,
  loadLibSeccomp,
  loadSeccompProfile,
  parentDeathSignalRule,
  type SeccompContextOptions,
  type SeccompProfile,
  withTempFile,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompMode } from '@plugward/types';
import { lockdownProfile, type ProfileOptions, seccompProfile } from './seccomp-profiles.js';

/** Compiles a profile to classic BPF (the bytes `bwrap --seccomp FD` reads). */
export function compileProfile(
  profile: SeccompProfile,
  options: SeccompContextOptions = { strictNames: false },
): Uint8Array {
  const lib = loadLibSeccomp();
  const ctx = buildSeccompContext(lib, profile, options);
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

let guardFilter: Uint8Array | undefined;

/**
 * The second filter every bubblewrap sandbox carries beside its mode's (bwrap stacks them; the kernel answers with the
 * stricter of the two): default allow, `prctl(PR_SET_PDEATHSIG)` denied ({@link parentDeathSignalRule}), so the
 * sandboxed command can't disarm the parent-death signal bwrap armed — in every mode, whatever a custom profile or
 * the strict allow-list (which allows `prctl`) says.
 */
export function parentDeathGuardFilter(): Uint8Array {
  guardFilter ??= compileProfile({ defaultAction: { action: 'allow' }, rules: [parentDeathSignalRule()] });
  return guardFilter;
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
  const profile = lockdownProfile({ denyExec: options.denyExec ?? true, denyFork: options.denyFork ?? true });
  loadSeccompProfile(loadLibSeccomp(), profile, { allThreads: true });
}
