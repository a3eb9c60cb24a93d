import { parseArgs } from 'node:util';
import { checkSandboxSupport } from '@plugward/sandbox-linux';
import { COMMON_OPTIONS, type Command, output, withUsage } from '../command.js';

const usage = `usage: plugward doctor [--json]

Reports what this machine offers the Linux sandbox (bubblewrap, user namespaces, seccomp through libseccomp, cgroup
v1/v2 controllers, root or delegation) and, for anything missing, the exact command that installs it.
Exit 0 when the default sandbox can run here, 1 when not.`;

/** `plugward doctor`: the sandbox support report with install hints. */
export const doctor: Command = {
  name: 'doctor',
  summary: 'check what the Linux sandbox needs on this machine, with install hints',
  usage,
  async run(argv, io) {
    const { values } = withUsage(usage, () =>
      parseArgs({ args: argv, options: COMMON_OPTIONS, strict: true }),
    );
    const report = await checkSandboxSupport();
    const lines = report.features.map(
      (f) =>
        `${f.available ? 'ok     ' : 'MISSING'} ${f.feature}: ${f.detail}${!f.available && f.installHint ? `\n        → ${f.installHint}` : ''}`,
    );
    lines.push(
      report.supported
        ? '\nthe sandbox can run here.'
        : '\nthe sandbox can NOT run here: untrusted plugins will be refused.',
    );
    output(io, values.json, { ...report, ok: report.supported }, lines.join('\n'));
    return report.supported ? 0 : 1;
  },
};
