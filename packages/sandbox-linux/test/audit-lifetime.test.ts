// audit s8: sandbox lifetimes attacked from inside — a sandboxed program that daemonizes (fork, setsid, fork again;
// the non-strict `basic` seccomp mode allows fork) and whose host then dies (SIGKILL, below a subreaper) or exits
// without awaiting it. Each test asserts the goal failed (nothing of the sandbox runs on), the host still serves (a
// fresh sandbox answers) and nothing is left (no process as a uid of the test's range, no lease, no cgroup).
import fs from 'node:fs';
import path from 'node:path';
import { cleanupStaleCgroups, detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect } from 'vitest';
import {
  cgroupsLeft,
  expectNothingOutlivesKilledHost,
  killRange,
  runningIn,
  SURVIVOR_CASES,
  sayFirstLine,
  survivorBinary,
} from '../../sandbox-common/test/audit-host-death.js';
import {
  cleanupDirs,
  compileC,
  expectHostHealthy,
  firstMessage,
  itWithC,
  runScript,
  tempDir,
} from './helpers.js';

const isRoot = process.getuid?.() === 0;
const rootWithC = isRoot ? itWithC : itWithC.skip;
if (!isRoot) console.warn('\n*** audit-lifetime: not root; the host-death tests need a root host ***\n');
afterAll(cleanupDirs);

// A uid range of this file alone: any process running as one of its uids afterwards is a survivor of these tests.
const range = { first: 1_974_000_000, count: 100_000 };

/** cgroups of these tests' hosts still there. */
function cgroupsOf(hosts: readonly number[]): string[] {
  return cgroupsLeft(Object.values(detectCgroupLayout()?.mounts ?? {}), 'a5-daemon', hosts);
}

/**
 * A host script: one sandbox running `bin args` in seccomp `mode`; prints `{ host, uid, said }` once the program wrote
 * its first line, then exits (`exit`) or waits to be killed (`wait`).
 */
function hostScript(
  dir: string,
  bin: string,
  then: 'exit' | 'wait',
  { args = [], mode = 'basic' }: { args?: string[]; mode?: string } = {},
): string {
  const script = path.join(dir, `host-${then}-${mode}-${args.join('-')}.mjs`);
  const dist = new URL('../dist/index.js', import.meta.url).href;
  fs.writeFileSync(
    script,
    `import fs from 'node:fs';
import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(dist)};
const s = new LinuxSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, stdio: 'pipe', allowDisabledSeccomp: ${mode === 'disabled'} });
const p = await s.spawn({ command: ${JSON.stringify(bin)}, args: ${JSON.stringify(args)}, readOnlyPaths: [${JSON.stringify(path.dirname(bin))}],
  config: defaultSandboxConfig({ seccomp: { mode: ${JSON.stringify(mode)} } }), label: 'a5-daemon' });
${sayFirstLine(dir, then === 'exit' ? 'process.exit(0);' : '')}`,
  );
  return script;
}

describe('audit: a daemonizing sandboxed program does not outlive its host', () => {
  rootWithC(
    'host exits without awaiting the daemonized sandbox: its exit handler kills the cgroup, gives the uid back, leaves nothing',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const dir = tempDir('pw-a5-dme-');
      fs.chmodSync(dir, 0o755);
      const bin = compileC('audit-daemon');
      fs.chmodSync(path.dirname(bin), 0o755);
      let line: { host: number; uid: number; said: string };
      try {
        const out = execFileSync(process.execPath, [hostScript(dir, bin, 'exit')], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        line = JSON.parse(out.trim().split('\n').at(-1) as string) as typeof line;
      } finally {
        // Looked for before anything else starts a sandbox: nothing of the exited host may run on.
        const left = runningIn(range);
        killRange(range);
        expect(left).toEqual([]);
      }
      expect(line.said).toMatch(/^daemonized \d+$/);
      expect(line.uid >= range.first && line.uid < range.first + range.count).toBe(true);
      expect(fs.readdirSync(path.join(dir, 'uids'))).toEqual([]);
      expect(cgroupsOf([line.host])).toEqual([]);
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    90_000,
  );
});

describe('audit: a sandboxed program that tries to outlive its SIGKILLed host', () => {
  // A daemon: the pid namespace ends with its pid 1. The guard filter (every mode, stacked beside the mode's):
  // prctl(PR_SET_PDEATHSIG) refused whatever the signal, and with high bits set in the option (the kernel reads an
  // int); `disabled` has no filter of its mode, only the guard. A main thread that ends alone (SYS_exit; the leader
  // shows as a zombie, a second thread runs on): the group still gets the signal armed on its leader.
  const cases = [
    {
      title:
        'a daemon (basic seccomp: fork, setsid, fork) ends with the pid namespace of its pid 1 when its host is SIGKILLed',
      mode: 'basic',
      bin: (_dir: string) => compileC('audit-daemon'),
      args: [] as string[],
      said: /^daemonized \d+$/ as string | RegExp,
    },
    ...(['disabled', 'permissive', 'strict'] as const).map((mode) => ({
      title: `seccomp ${mode}: ${SURVIVOR_CASES[0]?.what}`,
      mode,
      bin: survivorBinary,
      args: SURVIVOR_CASES[0]?.args ?? [],
      said: SURVIVOR_CASES[0]?.said ?? '',
    })),
    ...SURVIVOR_CASES.slice(1).map((c) => ({
      title: `seccomp strict: ${c.what}`,
      mode: 'strict',
      bin: survivorBinary,
      ...c,
    })),
  ];
  for (const c of cases) {
    rootWithC(
      c.title,
      async () => {
        const dir = tempDir('pw-a5-pd-');
        fs.chmodSync(dir, 0o755);
        const bin = c.bin(dir);
        fs.chmodSync(path.dirname(bin), 0o755);
        const script = hostScript(dir, bin, 'wait', { args: c.args, mode: c.mode });
        await expectNothingOutlivesKilledHost(dir, script, range, {
          said: c.said,
          sweep: cleanupStaleCgroups,
          cgroupsOf: (h) => cgroupsOf([h]),
        });
        const r = await runScript('await done({ ok: true });');
        expect(firstMessage(r)).toEqual({ ok: true });
        expectHostHealthy(r);
      },
      90_000,
    );
  }
});
