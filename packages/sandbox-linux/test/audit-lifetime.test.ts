// audit s8: sandbox lifetimes attacked from inside — a sandboxed program that daemonizes (fork, setsid, fork again;
// the non-strict `basic` seccomp mode allows fork) and whose host then dies (SIGKILL, below a subreaper) or exits
// without awaiting it. Each test asserts the goal failed (nothing of the sandbox runs on), the host still serves (a
// fresh sandbox answers) and nothing is left (no process as a uid of the test's range, no lease, no cgroup).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect } from 'vitest';
import { killHostUnderSubreaper } from '../../sandbox-common/test/host-death.js';
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

function inRange(): string[] {
  return fs.readdirSync('/proc').flatMap((n) => {
    if (!/^\d+$/.test(n)) return [];
    try {
      const st = fs.readFileSync(`/proc/${n}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(st)?.[1]);
      if (/^State:\s+Z/m.test(st) || uid < range.first || uid >= range.first + range.count) return [];
      return [`${n}: ${fs.readFileSync(`/proc/${n}/cmdline`, 'utf8').replaceAll('\0', ' ')}`];
    } catch {
      return [];
    }
  });
}

/** Waits up to `ms` for no process of the range to run; returns those still running then. */
async function survivors(ms: number): Promise<string[]> {
  for (let i = 0; i < ms / 20 && inRange().length > 0; i++) await sleep(20);
  return inRange();
}

/** Kills whatever of the range runs (a failed test's survivors) so that later tests start clean. */
function killRange(): void {
  for (const line of inRange()) {
    try {
      process.kill(Number(line.split(':')[0]), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** cgroups of these tests' hosts still there (named `<label>-<host pid>-…`). */
function cgroupsOf(hosts: readonly number[]): string[] {
  const left: string[] = [];
  for (const m of new Set(Object.values(detectCgroupLayout()?.mounts ?? {}))) {
    const base = path.join(m, 'plugward');
    if (!fs.existsSync(base)) continue;
    left.push(...fs.readdirSync(base).filter((n) => hosts.some((h) => n.startsWith(`a5-daemon-${h}-`))));
  }
  return left;
}

/** A host script: one sandbox (basic seccomp: fork allowed) running `bin`; says the daemon's line, then `then`. */
function hostScript(dir: string, bin: string, then: 'exit' | 'wait'): string {
  const script = path.join(dir, `host-${then}.mjs`);
  const dist = new URL('../dist/index.js', import.meta.url).href;
  fs.writeFileSync(
    script,
    `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(dist)};
const s = new LinuxSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))}, stdio: 'pipe' });
const p = await s.spawn({ command: ${JSON.stringify(bin)}, args: [], readOnlyPaths: [${JSON.stringify(path.dirname(bin))}],
  config: defaultSandboxConfig({ seccomp: { mode: 'basic' } }), label: 'a5-daemon' });
let out = '';
p.stdout.on('data', (d) => {
  out += d;
  if (!out.includes('\\n')) return;
  process.stdout.write(JSON.stringify({ host: process.pid, uid: p.uid, said: out.trim() }) + '\\n');
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
      const killed = await killHostUnderSubreaper(hostScript(dir, bin, 'wait'), -1, 'never', '"said"');
      let left: string[];
      try {
        // Before any other host starts (its sweep would kill what this one left).
        const orphans = await killed.orphans(10_000);
        left = await survivors(10_000);
        expect(orphans).toEqual([]);
      } finally {
        killRange();
        await killed.end();
      }
      expect(left).toEqual([]);
      // The next host (this test process) sweeps the dead host's cgroup and lease.
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
      expect(cgroupsOf([killed.hostPid])).toEqual([]);
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
        const left = inRange();
        killRange();
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
