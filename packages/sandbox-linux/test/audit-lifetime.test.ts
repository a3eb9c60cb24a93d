// audit s8: sandbox lifetimes attacked from inside — a sandboxed program that daemonizes (fork, setsid, fork again;
// the non-strict `basic` seccomp mode allows fork) and whose host then dies (SIGKILL, below a subreaper) or exits
// without awaiting it. Each test asserts the goal failed (nothing of the sandbox runs on), the host still serves (a
// fresh sandbox answers) and nothing is left (no process as a uid of the test's range, no lease, no cgroup).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanupStaleCgroups, detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect } from 'vitest';
import {
  cgroupsLeft,
  killedAfterSaid,
  killRange,
  runningIn,
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
const { EPERM } = os.constants.errno;

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
let out = '';
p.stdout.on('data', (d) => {
  out += d;
  if (!out.includes('\\n')) return;
  const line = JSON.stringify({ host: process.pid, uid: p.uid, said: out.trim() });
  fs.writeFileSync(${JSON.stringify(path.join(dir, 'said.json'))}, line);
  process.stdout.write(line + '\\n');
  ${then === 'exit' ? 'process.exit(0);' : ''}
});
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`,
  );
  return script;
}

describe('audit: a daemonizing sandboxed program does not outlive its host', () => {
  rootWithC(
    'host SIGKILLed after the daemon started: the pid namespace ends with its pid 1, nothing runs on',
    async () => {
      const dir = tempDir('pw-a5-dmk-');
      fs.chmodSync(dir, 0o755);
      const bin = compileC('audit-daemon');
      fs.chmodSync(path.dirname(bin), 0o755);
      const { said, left, hostPid } = await killedAfterSaid(dir, hostScript(dir, bin, 'wait'), range);
      expect(said).toMatch(/^daemonized \d+$/);
      expect(left).toEqual([]);
      // The next host (this test process) sweeps the dead host's cgroup and lease.
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
      cleanupStaleCgroups();
      expect(cgroupsOf([hostPid])).toEqual([]);
    },
    90_000,
  );

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

describe('audit: a sandboxed program that disarms its parent-death signal without fork or exec', () => {
  // The guard filter (every mode, stacked beside the mode's): prctl(PR_SET_PDEATHSIG) refused whatever the signal, and
  // with high bits set in the option (the kernel reads an int). `disabled` has no filter of its mode: only the guard.
  for (const mode of ['disabled', 'permissive', 'strict'] as const) {
    rootWithC(
      `seccomp ${mode}: prctl(PR_SET_PDEATHSIG) is refused (0, SIGCONT, high bits) and the program dies with its SIGKILLed host`,
      async () => {
        const dir = tempDir('pw-a5-pd-');
        fs.chmodSync(dir, 0o755);
        const script = hostScript(dir, survivorBinary(dir), 'wait', { args: ['prctl'], mode });
        const { said, left, hostPid } = await killedAfterSaid(dir, script, range);
        expect(said).toBe(`prctl zero=-1/${EPERM} cont=-1/${EPERM} high=-1/${EPERM} now=9`);
        expect(left).toEqual([]);
        // What a later host's sweep does (this process swept once, at its first sandbox).
        cleanupStaleCgroups();
        expect(cgroupsOf([hostPid])).toEqual([]);
        const r = await runScript('await done({ ok: true });');
        expect(firstMessage(r)).toEqual({ ok: true });
        expectHostHealthy(r);
      },
      90_000,
    );
  }

  rootWithC(
    'a program whose main thread ended alone (a zombie leader, a live second thread) dies with its SIGKILLed host',
    async () => {
      const dir = tempDir('pw-a5-zl-');
      fs.chmodSync(dir, 0o755);
      const script = hostScript(dir, survivorBinary(dir), 'wait', {
        args: ['zombie-leader'],
        mode: 'strict',
      });
      const { said, left, hostPid } = await killedAfterSaid(dir, script, range);
      expect(said).toBe('leader exiting');
      expect(left).toEqual([]);
      cleanupStaleCgroups();
      expect(cgroupsOf([hostPid])).toEqual([]);
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    90_000,
  );
});
