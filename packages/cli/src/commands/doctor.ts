import { chooseSandboxBackend } from '@plugward/registry';
import { type Command, output, parseCommand } from '../command.js';
import {
  describeSandboxChoice,
  parseSandboxFlag,
  SANDBOX_OPTION,
  SANDBOX_SYNTAX,
} from '../sandbox-choice.js';

const usage = `usage: plugward doctor [--sandbox auto|bwrap|landlock] [--json]

Reports what this machine offers each sandbox backend — bubblewrap (user namespaces, seccomp through libseccomp,
cgroup v1/v2 controllers, root or delegation, and a trial run creating its namespaces) and, when bwrap can't run,
Landlock (ABI and features, libseccomp, cgroups, uid switch) — with the exact command that installs what is missing,
and which backend untrusted plugins would run in, and why.
Exit 0 when a sandbox backend can run here, 1 when not.

${SANDBOX_SYNTAX}`;

/** `plugward doctor`: the sandbox support report with install hints. */
export const doctor: Command = {
  name: 'doctor',
  summary: 'check what the Linux sandbox needs on this machine, with install hints',
  usage,
  async run(argv, io) {
    const { values } = parseCommand(usage, argv, SANDBOX_OPTION, false);
    const choice = await chooseSandboxBackend({ prefer: parseSandboxFlag(values.sandbox), probeAll: true });
    // The bwrap report keeps its old place in --json (supported, features, warnings); the choice comes beside it.
    const first = choice.probes[0]?.report ?? { supported: false, features: [] };
    const json = {
      ...first,
      supported: choice.backend !== undefined,
      ok: choice.backend !== undefined,
      sandbox: { id: choice.id ?? null, reason: choice.reason },
      backends: choice.probes.map((p) => ({ id: p.id, ...p.report, trial: p.trial })),
    };
    output(io, values.json, json, describeSandboxChoice(choice).join('\n').trimStart());
    return choice.backend !== undefined ? 0 : 1;
  },
};
