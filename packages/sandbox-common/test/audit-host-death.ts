// audit s8, shared by both backends' audit-lifetime tests: what still runs as a uid of a test's own range after its
// host died, and a host killed below a subreaper once its sandboxed program said its first line.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { killHostUnderSubreaper } from './host-death.js';
import { compileFixture } from './sandbox-run.js';

/** A uid range of one test file alone: any process running as one of its uids afterwards is a survivor of its tests. */
export interface UidRangeOf {
  first: number;
  count: number;
}

/** `<pid>: <command line>` of every live (not zombie) process whose real uid is in `range`. */
export function runningIn(range: UidRangeOf): string[] {
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

/** Waits up to `ms` for nothing of `range` to run; returns what still runs then. */
export async function survivorsIn(range: UidRangeOf, ms: number): Promise<string[]> {
  for (let i = 0; i < ms / 20 && runningIn(range).length > 0; i++) await sleep(20);
  return runningIn(range);
}

/** Kills whatever of `range` runs (a failed test's survivors), so that later tests start clean. */
export function killRange(range: UidRangeOf): void {
  for (const line of runningIn(range)) {
    try {
      process.kill(Number(line.split(':')[0]), 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/**
 * Runs the host script `script` below a subreaper and SIGKILLs it once it printed `"said"` (after writing
 * `{ said }` to `<dir>/said.json`: its program's first line). Returns that line and what of `range` still runs up to
 * 10 s later — looked for before any other host starts (its sweep would kill it); whatever runs is killed after.
 */
export async function killedAfterSaid(
  dir: string,
  script: string,
  range: UidRangeOf,
): Promise<{ said: string; left: string[]; hostPid: number }> {
  const killed = await killHostUnderSubreaper(script, -1, 'never', '"said"');
  try {
    const orphans = await killed.orphans(10_000);
    const left = await survivorsIn(range, 10_000);
    const { said } = JSON.parse(fs.readFileSync(path.join(dir, 'said.json'), 'utf8')) as { said: string };
    return { said, left: [...orphans, ...left], hostPid: killed.hostPid };
  } finally {
    killRange(range);
    await killed.end();
  }
}

/** Compiles `fixtures/audit-survivor.c` into `dir` (which the sandbox's uid must be able to read). */
export function survivorBinary(dir: string): string {
  const src = fileURLToPath(new URL('./fixtures/audit-survivor.c', import.meta.url));
  const bin = compileFixture(src, path.join(dir, 'survivor'), ['-O1'], ['-lpthread']);
  fs.chmodSync(bin, 0o755);
  return bin;
}

/**
 * The cgroups named `<label>-<host pid>-…` of `hostPids` still under `<mount>/plugward` for each of `mounts` (the
 * controller mount points, e.g. the values of @plugward/limits' `detectCgroupLayout().mounts`).
 */
export function cgroupsLeft(mounts: readonly string[], label: string, hostPids: readonly number[]): string[] {
  const left: string[] = [];
  for (const m of new Set(mounts)) {
    const base = path.join(m, 'plugward');
    if (!fs.existsSync(base)) continue;
    left.push(...fs.readdirSync(base).filter((n) => hostPids.some((h) => n.startsWith(`${label}-${h}-`))));
  }
  return left;
}

/**
 * The tail of a host script for {@link killedAfterSaid}: once the sandboxed process `p` (its stdout piped) wrote its
 * first line, writes `{ host, uid, said }` to `<dir>/said.json`, prints it, then runs `then` (e.g. `process.exit(0);`);
 * the host then idles until killed. The script must import `fs` (`node:fs`).
 */
export function sayFirstLine(dir: string, then = ''): string {
  return `let out = '';
p.stdout.on('data', (d) => {
  out += d;
  if (!out.includes('\\n')) return;
  const line = JSON.stringify({ host: process.pid, uid: p.uid, said: out.trim() });
  fs.writeFileSync(${JSON.stringify(path.join(dir, 'said.json'))}, line);
  process.stdout.write(line + '\\n');
  ${then}
});
p.stderr.on('data', (d) => process.stderr.write(d));
setInterval(() => {}, 1000);`;
}

/**
 * The common check of a killed-host case: {@link killedAfterSaid}, then its program said `said`, nothing of `range`
 * runs on, and after `sweep()` (what a later host's cgroup sweep does) `cgroupsOf(hostPid)` is empty.
 */
export async function expectNothingOutlivesKilledHost(
  dir: string,
  script: string,
  range: UidRangeOf,
  check: { said: string | RegExp; sweep: () => void; cgroupsOf: (hostPid: number) => string[] },
): Promise<void> {
  const { said, left, hostPid } = await killedAfterSaid(dir, script, range);
  expect(said).toMatch(check.said);
  expect(left).toEqual([]);
  check.sweep();
  expect(check.cgroupsOf(hostPid)).toEqual([]);
}

/** What `fixtures/audit-survivor.c` tries (its argument) and the line it says once it did; see the fixture. */
export const SURVIVOR_CASES: readonly { what: string; args: string[]; said: string }[] = [
  {
    what: 'prctl(PR_SET_PDEATHSIG) is refused (0, SIGCONT, high bits in the option) and the program dies with its host',
    args: ['prctl'],
    said: `prctl zero=-1/${os.constants.errno.EPERM} cont=-1/${os.constants.errno.EPERM} high=-1/${os.constants.errno.EPERM} now=9`,
  },
  {
    what: 'a program whose main thread ended alone (a zombie leader, a live second thread) dies with its host',
    args: ['zombie-leader'],
    said: 'leader exiting',
  },
];
