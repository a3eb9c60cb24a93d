import {
  seccompActionCode as actionCode,
  seccompArgCmps as argCmps,
  checkSeccompRc as check,
  expectedArch,
  type LibSeccomp,
  loadLibSeccomp,
  SCMP,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompRule } from '@plugward/types';

/**
 * Builds a default-allow filter from `rules` and loads it on the **calling thread only** (no TSYNC): the launcher
 * calls it on its main thread right before `execveat`, and the new image inherits it whole. Sets no_new_privs.
 * Syscall names unknown on this architecture are skipped.
 */
export function loadThreadFilter(rules: readonly SeccompRule[], lib: LibSeccomp = loadLibSeccomp()): void {
  if (lib.archNative() !== expectedArch()) {
    throw new PluginError(
      'SandboxUnavailable',
      `libseccomp's native architecture does not match ${process.arch}`,
    );
  }
  const ctx = lib.init(SCMP.ACT_ALLOW);
  try {
    check(lib.attrSet(ctx, SCMP.FLTATR_ACT_BADARCH, SCMP.ACT_KILL_PROCESS), 'seccomp_attr_set(ACT_BADARCH)');
    check(lib.attrSet(ctx, SCMP.FLTATR_CTL_NNP, 1), 'seccomp_attr_set(CTL_NNP)');
    for (const rule of rules) {
      const nr = lib.resolveName(rule.syscall);
      if (nr === -1) continue;
      check(
        lib.ruleAdd(ctx, actionCode(rule.action), nr, argCmps(rule.args)),
        `seccomp_rule_add(${rule.syscall})`,
      );
    }
    check(lib.load(ctx), 'seccomp_load');
  } finally {
    lib.release(ctx);
  }
}
