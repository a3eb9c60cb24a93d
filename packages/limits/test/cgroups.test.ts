import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CgroupReader,
  type CgroupSupport,
  cgroupPathsForPid,
  collectCgroupMetrics,
  collectCgroupV1Metrics,
  collectCgroupV2Metrics,
  collectMetrics,
  collectProcessMetrics,
  detectCgroupVersion,
} from '../src/index.js';
import { burnCpu, type Child, MiB, sleep, startChild } from './helpers.js';

const FIXTURE_V2 = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'cgroup-v2');
const created: string[] = [];
const children: Child[] = [];

/** Creates a uniquely named cgroup below the one this test process is in (so a host's limits still apply). */
function makeGroup(parent: string): string {
  const dir = path.join(parent, `plugward-test-${process.pid}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir);
  created.push(dir);
  return dir;
}

function join(dir: string, pid: number): void {
  writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
}

async function child(): Promise<Child> {
  const c = await startChild();
  children.push(c);
  return c;
}

afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
  // Deepest first; a just-emptied cgroup can be briefly busy.
  for (const dir of created.reverse()) {
    for (let i = 0; i < 20; i++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') break;
        await sleep(50);
      }
    }
  }
});

let support: CgroupSupport;
beforeAll(async () => {
  support = await detectCgroupVersion();
});

describe('detectCgroupVersion', () => {
  it('finds what /proc/self/mountinfo says is mounted', async () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    const hasV1 = / - cgroup /.test(mounts);
    const hasV2 = / - cgroup2 /.test(mounts);
    expect(support.version).toBe(hasV1 ? (hasV2 ? 'hybrid' : 'v1') : hasV2 ? 'v2' : 'none');
    if (hasV2) {
      const controllers = readFileSync(`${support.v2?.mountPoint}/cgroup.controllers`, 'utf8').trim();
      expect(support.v2?.controllers.join(' ')).toBe(controllers);
    }
  });

  it('maps /proc/<pid>/cgroup to directories that exist', async () => {
    const paths = await cgroupPathsForPid(process.pid, support);
    for (const dir of [...Object.values(paths?.v1 ?? {}), paths?.v2]) {
      if (dir !== undefined)
        expect(readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')).toContain(String(process.pid));
    }
    expect(await cgroupPathsForPid(4_000_000, support)).toBeUndefined();
  });
});

const v1 = ['memory', 'cpu', 'cpuacct', 'pids'] as const;

describe('cgroup v1 (real groups)', () => {
  let skip = '';
  let parents: Record<(typeof v1)[number], string>;
  beforeAll(async () => {
    const missing = v1.filter((c) => support.v1[c] === undefined);
    if (missing.length > 0) {
      skip = `cgroup v1 controllers missing on this machine: ${missing.join(', ')}`;
      console.warn(`\n!!! SKIPPING cgroup v1 tests: ${skip}\n`);
      return;
    }
    const own = await cgroupPathsForPid(process.pid, support);
    parents = Object.fromEntries(v1.map((c) => [c, own?.v1?.[c] as string])) as typeof parents;
    try {
      rmdirSync(makeGroup(parents.memory));
      created.pop();
    } catch (e) {
      skip = `cannot create a cgroup under ${parents.memory} (${(e as Error).message}); run as root`;
      console.warn(`\n!!! SKIPPING cgroup v1 tests: ${skip}\n`);
    }
  });

  it('reads memory, CPU, pids of a child moved into fresh groups', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const dirs = Object.fromEntries(v1.map((c) => [c, makeGroup(parents[c])])) as typeof parents;
    const c = await child();
    for (const d of Object.values(dirs)) join(d, c.pid);
    expect((await cgroupPathsForPid(c.pid, support))?.v1).toEqual(dirs);
    // Charges made before the move stay with the old group (v1 move_charge_at_immigrate = 0), so the 100 MiB
    // allocated after it are what the new group holds: 95…140 MiB.
    await c.send({ cmd: 'alloc', bytes: 100 * MiB });
    await burnCpu(c, 150);
    const m = await collectCgroupV1Metrics(dirs);
    const proc = await collectProcessMetrics(c.pid);
    expect(m.source).toBe('cgroup-v1');
    expect(m.memoryBytes).toBeGreaterThanOrEqual(95 * MiB);
    expect(m.memoryBytes).toBeLessThanOrEqual(140 * MiB);
    expect(m.peakMemoryBytes).toBeGreaterThanOrEqual(m.memoryBytes as number);
    expect(m.memoryLimitBytes).toBeUndefined(); // unlimited group
    expect(m.oomKills).toBe(0);
    expect(m.memoryFailCount).toBe(0);
    // cpuacct counts only CPU spent after the move (≥ 100 ms of the 400 ms burn on 2 shared cores), never more than the process total.
    expect(m.cpuTimeMs).toBeGreaterThanOrEqual(100);
    expect(m.cpuTimeMs).toBeLessThanOrEqual((proc.cpuTimeMs as number) + 20);
    // pids.current counts tasks, i.e. the child's threads.
    expect(Math.abs((m.threads as number) - (proc.threads as number))).toBeLessThanOrEqual(2);
    expect(m.throttledPeriods).toBe(0);
    // The process-cgroup target finds the same groups by pid.
    const viaPid = await collectMetrics({ kind: 'process-cgroup', pid: c.pid });
    expect(viaPid.memoryBytes).toBeGreaterThanOrEqual(95 * MiB);
    expect(viaPid.pid).toBe(c.pid);
  });

  it('counts an OOM kill at the memory limit', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const mem = makeGroup(parents.memory);
    writeFileSync(path.join(mem, 'memory.limit_in_bytes'), String(64 * MiB));
    const c = await child();
    join(mem, c.pid);
    const exit = once(c.proc, 'exit');
    c.send({ cmd: 'alloc', bytes: 100 * MiB }).catch(() => undefined); // never answers: the kernel kills it
    const [, signal] = await exit;
    expect(signal).toBe('SIGKILL');
    const m = await collectCgroupV1Metrics({ memory: mem });
    expect(m.oomKills).toBe(1);
    expect(m.memoryFailCount).toBeGreaterThan(0);
    expect(m.memoryLimitBytes).toBe(64 * MiB);
  });

  it('counts CPU throttling under a quota', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const cpu = makeGroup(parents.cpu);
    writeFileSync(path.join(cpu, 'cpu.cfs_period_us'), '100000');
    writeFileSync(path.join(cpu, 'cpu.cfs_quota_us'), '10000'); // 10 % of one CPU
    const c = await child();
    join(cpu, c.pid);
    await c.send({ cmd: 'burn' });
    await sleep(500);
    await c.send({ cmd: 'stop-burn' });
    const m = await collectCgroupV1Metrics({ cpu });
    expect(m.throttledPeriods).toBeGreaterThan(0);
    expect(m.throttledTimeMs).toBeGreaterThan(0);
  });

  it('reads through kept files what a read by path reads; a removed group reads exited, even re-made', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const dirs = Object.fromEntries(v1.map((c) => [c, makeGroup(parents[c])])) as typeof parents;
    writeFileSync(path.join(dirs.memory, 'memory.limit_in_bytes'), String(512 * MiB));
    const c = await child();
    for (const d of Object.values(dirs)) join(d, c.pid);
    const fdsBefore = readdirSync('/proc/self/fd').length;
    const reader = new CgroupReader({ v1: dirs });
    // One per file of the controllers given (memory's five, cpuacct.usage, cpu.stat, pids.current).
    const files = (dirs.memory ? 5 : 0) + (dirs.cpuacct ? 1 : 0) + (dirs.cpu ? 1 : 0) + (dirs.pids ? 1 : 0);
    expect(readdirSync('/proc/self/fd').length).toBe(fdsBefore + files);
    const kept = reader.read();
    const byPath = await collectCgroupV1Metrics(dirs);
    expect(kept.source).toBe('cgroup-v1');
    expect(kept.exited).toBeUndefined();
    expect(kept.memoryLimitBytes).toBe(512 * MiB);
    expect(kept.threads).toBe(byPath.threads);
    expect(kept.oomKills).toBe(0);
    expect(kept.memoryFailCount).toBe(byPath.memoryFailCount);
    expect(kept.throttledPeriods).toBe(byPath.throttledPeriods);
    expect(Math.abs((kept.memoryBytes as number) - (byPath.memoryBytes as number))).toBeLessThan(4 * MiB);
    expect(kept.cpuTimeMs).toBeLessThanOrEqual(byPath.cpuTimeMs as number);
    // It follows the group: 20 MiB more charged to it.
    await c.send({ cmd: 'alloc', bytes: 20 * MiB });
    expect(reader.read().memoryBytes).toBeGreaterThanOrEqual((kept.memoryBytes as number) + 18 * MiB);
    // Removed, then made again under the same names: the kept files were the old group's.
    await c.kill();
    for (const d of Object.values(dirs)) {
      for (let i = 0; i < 40; i++) {
        try {
          rmdirSync(d);
          break;
        } catch {
          await sleep(50); // a just-emptied group can be briefly busy
        }
      }
    }
    for (const d of Object.values(dirs)) mkdirSync(d);
    const open = readdirSync('/proc/self/fd').length; // the child's IPC fd is gone by now
    expect(reader.read()).toMatchObject({ exited: true, source: 'cgroup-v1' });
    // Finding the group gone closed its files.
    expect(reader.closed).toBe(true);
    expect(readdirSync('/proc/self/fd').length).toBe(open - files);
    // A fresh read by path sees the new (empty) groups.
    expect((await collectCgroupV1Metrics(dirs)).exited).toBeUndefined();
  });

  it('reports a removed group as exited', async (ctx) => {
    if (skip) return ctx.skip(skip);
    const dir = makeGroup(parents.pids);
    rmdirSync(dir);
    await expect(collectCgroupV1Metrics({ pids: dir })).resolves.toMatchObject({ exited: true });
  });
});

describe('cgroup v2', () => {
  it('reads a real v2 group (whatever controllers this machine has)', async (ctx) => {
    if (!support.v2) return ctx.skip('no cgroup v2 mount on this machine');
    const ctl = new Set(support.v2.controllers);
    const missing = ['memory', 'pids', 'cpu'].filter((c) => !ctl.has(c));
    if (missing.length > 0) {
      console.warn(
        `\n!!! cgroup v2 at ${support.v2.mountPoint} lacks the ${missing.join(', ')} controller(s): ` +
          'only the core cpu.stat usage is tested for real here; memory.current, memory.events, pids.current and ' +
          `the throttling counters are tested against the real-format fixture ${FIXTURE_V2}\n`,
      );
    }
    const own = await cgroupPathsForPid(process.pid, support);
    let dir: string;
    try {
      dir = makeGroup(own?.v2 ?? support.v2.mountPoint);
    } catch (e) {
      return ctx.skip(`cannot create a v2 group: ${(e as Error).message}`);
    }
    const c = await child();
    try {
      join(dir, c.pid);
    } catch (e) {
      // On pure v2 a process can't join a group whose parent has controllers enabled for children and processes.
      return ctx.skip(`cannot move a process into ${dir}: ${(e as Error).message}`);
    }
    expect((await cgroupPathsForPid(c.pid, support))?.v2).toBe(dir);
    if (ctl.has('memory')) await c.send({ cmd: 'alloc', bytes: 50 * MiB });
    await burnCpu(c, 150);
    const m = await collectCgroupV2Metrics(dir);
    const proc = await collectProcessMetrics(c.pid);
    expect(m.source).toBe('cgroup-v2');
    expect(m.cpuTimeMs).toBeGreaterThanOrEqual(100);
    expect(m.cpuTimeMs).toBeLessThanOrEqual((proc.cpuTimeMs as number) + 20);
    if (ctl.has('memory')) {
      expect(m.memoryBytes).toBeGreaterThanOrEqual(45 * MiB);
      expect(m.oomKills).toBe(0);
    } else {
      expect(m.memoryBytes).toBeUndefined(); // no made-up zero
    }
    if (ctl.has('pids')) expect(m.threads).toBeGreaterThan(0);
    else expect(m.threads).toBeUndefined();
    // On a hybrid machine the merged reading takes memory from v1 and nothing is lost.
    const merged = await collectCgroupMetrics({ v2: dir });
    expect(merged.cpuTimeMs).toBeGreaterThanOrEqual(m.cpuTimeMs as number);
    await c.kill();
  });

  it('parses every v2 file in the real-format fixture', async () => {
    const m = await collectCgroupV2Metrics(FIXTURE_V2);
    expect(m).toMatchObject({
      source: 'cgroup-v2',
      memoryBytes: 110862336,
      peakMemoryBytes: 134217728,
      memoryLimitBytes: 268435456,
      oomKills: 2,
      cpuTimeMs: 5381.217,
      throttledPeriods: 14,
      throttledTimeMs: 1203.33,
      threads: 9,
    });
  });

  it('reads memory.max "max" as no limit and a removed group as exited', async () => {
    const m = await collectCgroupV2Metrics(path.join(FIXTURE_V2, 'unlimited'));
    expect(m.memoryLimitBytes).toBeUndefined();
    expect(m.memoryBytes).toBe(4096);
    await expect(collectCgroupV2Metrics(path.join(FIXTURE_V2, 'no-such-group'))).resolves.toMatchObject({
      exited: true,
    });
  });
});
