import {
  type ArgCmp,
  actErrno,
  expectedArch,
  type LibSeccomp,
  loadLibSeccomp,
  SCMP,
} from '@plugward/sandbox-common';
import { PluginError, type SeccompAction, type SeccompArgCondition, type SeccompRule } from '@plugward/types';

const OPS: Record<SeccompArgCondition['op'], number> = {
  eq: SCMP.CMP_EQ,
  ne: SCMP.CMP_NE,
  lt: SCMP.CMP_LT,
  le: SCMP.CMP_LE,
  gt: SCMP.CMP_GT,
  ge: SCMP.CMP_GE,
  'masked-eq': SCMP.CMP_MASKED_EQ,
};

function actionCode(action: SeccompAction): number {
  switch (action.action) {
    case 'allow':
      return SCMP.ACT_ALLOW;
    case 'errno':
      return actErrno(action.errno);
    case 'kill':
      return SCMP.ACT_KILL_PROCESS;
    case 'trap':
      return SCMP.ACT_TRAP;
    case 'log':
      return SCMP.ACT_LOG;
  }
}

function argCmps(args: readonly SeccompArgCondition[] | undefined): ArgCmp[] {
  return (args ?? []).map((a) => {
    const value = BigInt(a.value);
    // libseccomp's masked-eq takes (mask, value); the others take (value, unused).
    return a.op === 'masked-eq'
      ? { arg: a.index, op: OPS[a.op], datumA: BigInt(a.mask ?? 0xffffffffffffffffn), datumB: value }
      : { arg: a.index, op: OPS[a.op], datumA: value, datumB: 0n };
  });
}

function check(rc: number, what: string): void {
  if (rc < 0)
    throw new PluginError('SandboxError', `${what} failed: errno ${-rc}`, { details: { errno: -rc } });
}

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
