import { chooseSandboxBackend, type SandboxChoice, type SandboxPreference } from '@plugward/registry';
import { PluginError } from '@plugward/types';

/** The `--sandbox` option of `run` and `doctor`. */
export const SANDBOX_OPTION = { sandbox: { type: 'string' } } as const;

/** Help text for `--sandbox`. */
export const SANDBOX_SYNTAX = `--sandbox auto|bwrap|landlock   which sandbox backend runs untrusted plugins (default auto: bubblewrap when
                                 it can create namespaces here, else Landlock — e.g. in a Docker container)`;

/** Parses `--sandbox`; `InvalidArgument` for anything but auto, bwrap, landlock. */
export function parseSandboxFlag(flag: string | undefined): SandboxPreference {
  const v = flag ?? 'auto';
  if (v !== 'auto' && v !== 'bwrap' && v !== 'landlock') {
    throw new PluginError(
      'InvalidArgument',
      `--sandbox must be auto, bwrap or landlock, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

/**
 * Picks the sandbox backend for `--sandbox` and says which and why on `say`. A forced backend that can't run here is a
 * `SandboxUnavailable` error (never a silent fallback); `auto` with none returns no backend (untrusted plugins are
 * then refused, with this reason printed).
 */
export async function pickSandbox(
  flag: string | undefined,
  say: (line: string) => void,
): Promise<SandboxChoice> {
  const prefer = parseSandboxFlag(flag);
  const choice = await chooseSandboxBackend({ prefer });
  say(`sandbox: ${choice.id ?? 'none'} — ${choice.reason}`);
  if (choice.backend === undefined && prefer !== 'auto')
    throw new PluginError('SandboxUnavailable', choice.reason);
  return choice;
}

/** The doctor's lines for every probed backend and the choice. */
export function describeSandboxChoice(choice: SandboxChoice): string[] {
  const lines: string[] = [];
  for (const p of choice.probes) {
    lines.push(`\n${p.id}:`);
    for (const f of p.report.features) {
      lines.push(
        `${f.available ? 'ok     ' : 'MISSING'} ${f.feature}: ${f.detail}${!f.available && f.installHint ? `\n        → ${f.installHint}` : ''}`,
      );
    }
    if (p.trial !== undefined)
      lines.push(`${p.trial.ok ? 'ok     ' : 'FAILED '} trial run: ${p.trial.detail}`);
    for (const w of p.report.warnings ?? []) lines.push(`warning ${w}`);
  }
  lines.push(
    choice.id === undefined
      ? `\nthe sandbox can NOT run here: untrusted plugins will be refused (${choice.reason}).`
      : `\nthe sandbox can run here: ${choice.id} — ${choice.reason}`,
  );
  return lines;
}
