import fs from 'node:fs';
import {
  buildSeccompContext,
  checkSeccompRc as check,
  ERRNO,
  LOW_32,
  loadLibSeccomp,
  loadSeccompProfile,
  MOUNT_SYSCALLS,
  parentDeathSignalRule,
  type SeccompContextOptions,
  type SeccompProfile,
  setIdModeRules,
  withTempFile,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompAction, type SeccompMode, type SeccompRule } from '@plugward/types';

const EPERM: SeccompAction = { action: 'errno', errno: ERRNO.EPERM };

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
 * stricter of the two), so what it denies holds in every mode, whatever a custom profile or the strict allow-list
 * (which allows `prctl`, `chmod` and `open` with any mode) says. Default allow; denied:
 * `prctl(PR_SET_PDEATHSIG)` ({@link parentDeathSignalRule}: the sandboxed command can't disarm the parent-death signal
 * bwrap armed), set-user-ID/set-group-ID modes ({@link setIdModeRules}: nothing set-id leaves through a writable
 * bind), and every way to reach the sandbox's pid 1 — bwrap's own init — or to unmask its `/proc` entries
 * ({@link sandboxInitRules}).
 */
export function parentDeathGuardFilter(): Uint8Array {
  guardFilter ??= compileProfile({
    defaultAction: { action: 'allow' },
    rules: [parentDeathSignalRule(), ...setIdModeRules(), ...sandboxInitRules()],
  });
  return guardFilter;
}

/** Calls that act on another process named by the pid in the given argument(s). */
const PID_ARGS: readonly [string, readonly number[]][] = [
  ['ptrace', [1]],
  ['process_vm_readv', [0]],
  ['process_vm_writev', [0]],
  ['pidfd_open', [0]],
  ['kcmp', [0, 1]],
  ['prlimit64', [0]],
  ['perf_event_open', [1]],
  ['get_robust_list', [0]],
];

/**
 * Calls denied whatever their arguments: another way to a pidfd (`open_by_handle_at` opens pidfs handles
 * unprivileged, kernel ≥ 6.14 — and needs CAP_DAC_READ_SEARCH on every other filesystem; `name_to_handle_at` with it),
 * and the calls that use a pidfd of another process against it (`pidfd_getfd`, `process_madvise`). A sandbox needs
 * none of them.
 */
const PIDFD_CALLS: readonly string[] = [
  'open_by_handle_at',
  'name_to_handle_at',
  'pidfd_getfd',
  'process_madvise',
];

/**
 * The sandbox's pid 1 is bwrap's init, not the command: it holds the parent-death signal bwrap armed, and when it dies
 * the kernel ends every process of the pid namespace — a guarantee the command can't shed (a command that is pid 1
 * itself loses its signal by an `execve` from a second thread). It runs with the same uid and filters as the command, so
 * it must be out of the command's reach: its `/proc/1` is masked by an empty read-only tmpfs, and these rules deny, in
 * every mode, `ptrace`, `process_vm_readv`/`process_vm_writev`, `pidfd_open`, `kcmp` and `prlimit64` aimed at pid 1
 * (the pid's low 32 bits compared: the kernel reads it as a `pid_t`), `perf_event_open` and `get_robust_list` aimed at
 * it, every other way to a pidfd and every use of one against another process (`open_by_handle_at`,
 * `name_to_handle_at`, `pidfd_getfd`, `process_madvise`), and every call that changes the mount tree (so no mode,
 * custom or disabled, with or without a kept capability, can lift the mask). Signals can't end or stop an init from
 * inside its namespace.
 */
export function sandboxInitRules(): SeccompRule[] {
  const rules: SeccompRule[] = [];
  for (const [syscall, indexes] of PID_ARGS) {
    for (const index of indexes) {
      rules.push({ syscall, action: EPERM, args: [{ index, op: 'masked-eq', mask: LOW_32, value: 1 }] });
    }
  }
  // The mask over `/proc/1` is a mount: nothing may change the mount tree.
  for (const syscall of [...PIDFD_CALLS, ...MOUNT_SYSCALLS]) rules.push({ syscall, action: EPERM });
  return rules;
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
