import { PluginError, type SeccompAction, type SeccompRule } from '@plugward/types';
import { expectedArch, type LibSeccomp, SCMP } from './libseccomp.js';
import { checkSeccompRc as check, seccompActionCode, seccompArgCmps } from './seccomp-rules.js';

/** A seccomp profile: the default action and the rules, before libseccomp compiles them. */
export interface SeccompProfile {
  defaultAction: SeccompAction;
  rules: readonly SeccompRule[];
}

/** Options of {@link buildSeccompContext}. */
export interface SeccompContextOptions {
  /** A syscall name unknown on this architecture is refused (user rules) instead of skipped (built-in lists). */
  strictNames: boolean;
}

/**
 * Builds a libseccomp filter context for `profile` (the caller loads or exports it, then releases it): the native
 * architecture checked, a syscall of another ABI (int 0x80 on x86_64, x32) kills the process, each rule's name,
 * action and argument comparisons checked, rules equal to the default left out (libseccomp refuses them).
 * @throws PluginError `SandboxUnavailable` on an architecture mismatch, `InvalidArgument` for a bad rule,
 * `SandboxError` when libseccomp fails.
 */
export function buildSeccompContext(
  lib: LibSeccomp,
  profile: SeccompProfile,
  options: SeccompContextOptions,
): unknown {
  if (lib.archNative() !== expectedArch()) {
    throw new PluginError(
      'SandboxUnavailable',
      `libseccomp's native architecture does not match ${process.arch}`,
    );
  }
  const defaultCode = seccompActionCode(profile.defaultAction);
  const ctx = lib.init(defaultCode);
  try {
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
      const code = seccompActionCode(rule.action);
      // libseccomp refuses a rule whose action equals the default; it would change nothing anyway.
      if (code === defaultCode) continue;
      check(lib.ruleAdd(ctx, code, nr, seccompArgCmps(rule.args)), `seccomp_rule_add(${rule.syscall})`);
    }
    return ctx;
  } catch (e) {
    lib.release(ctx);
    throw e;
  }
}

/**
 * Builds `profile` and loads it on the calling thread with no_new_privs set; with `allThreads`, on every thread of the
 * process (TSYNC: Node already runs several), else on the calling thread only (a launcher right before `execve`,
 * whose new image inherits it whole). Filters stack; the strictest answer wins.
 * @throws PluginError `SandboxError` when the kernel refuses (see {@link buildSeccompContext} for the others).
 */
export function loadSeccompProfile(
  lib: LibSeccomp,
  profile: SeccompProfile,
  options: { allThreads: boolean },
): void {
  const ctx = buildSeccompContext(lib, profile, { strictNames: false });
  try {
    check(lib.attrSet(ctx, SCMP.FLTATR_CTL_NNP, 1), 'seccomp_attr_set(CTL_NNP)');
    if (options.allThreads) check(lib.attrSet(ctx, SCMP.FLTATR_CTL_TSYNC, 1), 'seccomp_attr_set(CTL_TSYNC)');
    check(lib.load(ctx), 'seccomp_load');
  } finally {
    lib.release(ctx);
  }
}
