import { PluginError, type SeccompAction, type SeccompArgCondition } from '@plugward/types';
import { type ArgCmp, actErrno, SCMP } from './libseccomp.js';

const OPS: Record<SeccompArgCondition['op'], number> = {
  eq: SCMP.CMP_EQ,
  ne: SCMP.CMP_NE,
  lt: SCMP.CMP_LT,
  le: SCMP.CMP_LE,
  gt: SCMP.CMP_GT,
  ge: SCMP.CMP_GE,
  'masked-eq': SCMP.CMP_MASKED_EQ,
};

/**
 * The libseccomp action word of a {@link SeccompAction} (both backends build their filters from the same rule types).
 * @throws PluginError `InvalidArgument` for an errno outside 0–4095.
 */
export function seccompActionCode(action: SeccompAction): number {
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

/**
 * A rule's argument conditions as libseccomp comparisons, checked (index 0–5, known operator, unsigned 64-bit values).
 * @throws PluginError `InvalidArgument`.
 */
export function seccompArgCmps(args: readonly SeccompArgCondition[] | undefined): ArgCmp[] {
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

/** Throws `SandboxError` for a negative libseccomp return code (`-errno`) of the call named `what`. */
export function checkSeccompRc(rc: number, what: string): void {
  if (rc < 0)
    throw new PluginError('SandboxError', `${what} failed: errno ${-rc}`, { details: { errno: -rc } });
}
