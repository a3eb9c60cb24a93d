import { execFileSync, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clockTicksPerSecond,
  collectMetrics,
  collectProcessMetrics,
  descendantPids,
  processStartTime,
} from '../src/index.js';
import { burnCpu, type Child, MiB, sleep, startChild, useLocalServer } from './helpers.js';

// Tolerances (stated, and why):
// - memory: +100 MiB allocated and touched → RSS grows by 90…130 MiB (V8/allocator overhead, page rounding);
//   our reading is within 8 MiB of the child's own process.memoryUsage().rss taken right after;
// - fds: exactly +50 (the child opens 50 fds of /dev/null and nothing else in between);
// - threads: +6…+8 for 6 workers (each worker is one OS thread; V8 may add a helper thread lazily);
// - connections: exactly 3 (3 TCP client sockets; its listening socket and its IPC Unix socket are not connections);
// - CPU: within 30 ms of the child's own process.cpuUsage() (10 ms clock ticks, and the read is not simultaneous),
//   and a 600 ms burn adds ≥ 150 ms (2 cores shared with the rest of a parallel test run).

describe('collectProcessMetrics on real child processes', () => {
  const children: Child[] = [];
  const server = useLocalServer();

  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
  });

  async function child(): Promise<Child> {
    const c = await startChild();
    children.push(c);
    return c;
  }

  it('uses the real clock tick', async () => {
    expect(await clockTicksPerSecond()).toBe(
      Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })),
    );
  });

  it('reads ~100 MiB more RSS after a 100 MiB allocation, matching the child’s own view', async () => {
    const c = await child();
    const before = await collectProcessMetrics(c.pid);
    await c.send({ cmd: 'alloc', bytes: 100 * MiB });
    const after = await collectProcessMetrics(c.pid);
    const own = (await c.send({ cmd: 'usage' })) as { rss: number };
    const grown = (after.memoryBytes as number) - (before.memoryBytes as number);
    expect(grown).toBeGreaterThanOrEqual(90 * MiB);
    expect(grown).toBeLessThanOrEqual(130 * MiB);
    expect(Math.abs((after.memoryBytes as number) - own.rss)).toBeLessThan(8 * MiB);
    expect(after.peakMemoryBytes).toBeGreaterThanOrEqual(after.memoryBytes as number);
    expect(after.source).toBe('procfs');
    expect(after.pid).toBe(c.pid);
  });

  it('counts exactly 50 more open fds', async () => {
    const c = await child();
    const before = await collectProcessMetrics(c.pid);
    await c.send({ cmd: 'fds', count: 50 });
    const after = await collectProcessMetrics(c.pid);
    expect((after.fileDescriptors as number) - (before.fileDescriptors as number)).toBe(50);
  });

  it('counts 6 worker threads', async () => {
    const c = await child();
    const before = await collectProcessMetrics(c.pid);
    await c.send({ cmd: 'threads', count: 6 });
    const after = await collectProcessMetrics(c.pid);
    const added = (after.threads as number) - (before.threads as number);
    expect(added).toBeGreaterThanOrEqual(6);
    expect(added).toBeLessThanOrEqual(8);
  });

  it('counts exactly 3 TCP connections to a local server (listening socket excluded)', async () => {
    const c = await child();
    expect((await collectProcessMetrics(c.pid)).connections).toBe(0);
    await c.send({ cmd: 'tcp', port: server.port, count: 3, listen: true });
    const m = await collectProcessMetrics(c.pid);
    expect(m.connections).toBe(3);
    // The server side lives in this process: once accepted, our own count includes the 3 accepted sockets.
    for (let i = 0; i < 50 && server.accepted.length < 3; i++) await sleep(10);
    expect((await collectProcessMetrics(process.pid)).connections).toBeGreaterThanOrEqual(3);
  });

  it('counts 60 connections: tables longer than one kernel page are read whole', async () => {
    // /proc/net/tcp hands out one 4 KiB page per read(); 60 client + 60 server lines are ~18 KiB.
    const c = await child();
    await c.send({ cmd: 'tcp', port: server.port, count: 60 });
    expect((await collectProcessMetrics(c.pid)).connections).toBe(60);
  });

  it('counts UDP sockets', async () => {
    const c = await child();
    await c.send({ cmd: 'udp', count: 2 });
    expect((await collectProcessMetrics(c.pid)).connections).toBe(2);
  });

  it('does not read sockets when connections are turned off', async () => {
    const c = await child();
    const m = await collectProcessMetrics(c.pid, { connections: false });
    expect(m.connections).toBeUndefined();
    expect(m.fileDescriptors).toBeGreaterThan(0);
  });

  it('measures CPU time in ms with the real clock tick, matching process.cpuUsage()', async () => {
    const c = await child();
    const before = await collectProcessMetrics(c.pid);
    await burnCpu(c, 250);
    const own = (await c.send({ cmd: 'usage' })) as { cpuMs: number };
    const after = await collectProcessMetrics(c.pid);
    expect((after.cpuTimeMs as number) - (before.cpuTimeMs as number)).toBeGreaterThanOrEqual(150);
    expect(Math.abs((after.cpuTimeMs as number) - own.cpuMs)).toBeLessThanOrEqual(30);
  });

  it('reports a dead pid as exited instead of throwing', async () => {
    const c = await child();
    await c.kill();
    await expect(collectProcessMetrics(c.pid)).resolves.toMatchObject({ exited: true, pid: c.pid });
    await expect(collectMetrics({ kind: 'process', pid: c.pid })).resolves.toMatchObject({ exited: true });
  });

  it('reports a reused pid (start time differs) as exited', async () => {
    const c = await child();
    const start = (await processStartTime(c.pid)) as number;
    expect(start).toBeGreaterThan(0);
    expect((await collectProcessMetrics(c.pid, { startTime: start })).exited).toBeUndefined();
    expect((await collectProcessMetrics(c.pid, { startTime: start + 1 })).exited).toBe(true);
  });

  it('reports a zombie (exited, not reaped) as exited, and sums a process tree', async () => {
    // sh forks a short sleep, then becomes a long sleep that never reaps it: the short one turns zombie.
    const sh = spawn('sh', ['-c', 'sleep 0.05 & sleep 30 & exec sleep 30'], { stdio: 'ignore' });
    try {
      await sleep(400);
      const kids = await descendantPids(sh.pid as number);
      expect(kids).toHaveLength(2);
      const states = await Promise.all(kids.map((k) => collectProcessMetrics(k)));
      const zombies = states.filter((m) => m.exited);
      expect(zombies).toHaveLength(1);
      const root = await collectProcessMetrics(sh.pid as number);
      const tree = await collectProcessMetrics(sh.pid as number, { tree: true });
      const live = states.find((m) => !m.exited);
      expect(tree.threads).toBe((root.threads as number) + (live?.threads as number));
      expect(tree.memoryBytes).toBe((root.memoryBytes as number) + (live?.memoryBytes as number));
      expect(tree.fileDescriptors).toBe((root.fileDescriptors as number) + (live?.fileDescriptors as number));
    } finally {
      sh.kill('SIGKILL');
      // The inner long sleep is re-parented to init when sh dies; kill it through its pid.
      for (const k of await descendantPids(sh.pid as number).catch(() => [])) process.kill(k, 'SIGKILL');
    }
  });

  it('rejects a non-pid with InvalidArgument', async () => {
    await expect(collectProcessMetrics(0)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(collectProcessMetrics(-5)).rejects.toMatchObject({ code: 'InvalidArgument' });
    await expect(collectProcessMetrics(1.5)).rejects.toMatchObject({ code: 'InvalidArgument' });
  });
});
