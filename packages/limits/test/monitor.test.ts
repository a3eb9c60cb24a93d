import { once } from 'node:events';
import net from 'node:net';
import {
  DEFAULT_MONITOR_INTERVAL_MS,
  DEFAULT_RESOURCE_LIMITS,
  type PluginError,
  type PluginMetrics,
  type ResourceLimits,
  UnmountBehaviors,
  type ViolationRecord,
} from '@plugward/types';
import { afterAll, describe, expect, it } from 'vitest';
import { ResourceMonitor, type UnmountRequest, ViolationTracker } from '../src/index.js';
import { type Child, MiB, sleep, startChild } from './helpers.js';

const children: Child[] = [];
afterAll(async () => {
  await Promise.all(children.map((c) => c.kill()));
});
async function child(): Promise<Child> {
  const c = await startChild();
  children.push(c);
  return c;
}

const roomy: ResourceLimits = {
  ...DEFAULT_RESOURCE_LIMITS,
  maxHeapBytes: 1024 * MiB,
  maxFileDescriptors: 1000,
  maxThreads: 100,
  maxConnections: 100,
  maxCpuTimeMs: 60_000,
};

/** Collects a monitor's events for one test. */
function recorder() {
  const violations: { id: string; record: ViolationRecord }[] = [];
  const unmounts: UnmountRequest[] = [];
  const errors: { id: string; error: PluginError }[] = [];
  const exits: { id: string; metrics: PluginMetrics }[] = [];
  return {
    violations,
    unmounts,
    errors,
    exits,
    options: {
      onViolation: (id: string, record: ViolationRecord) => violations.push({ id, record }),
      onUnmount: (r: UnmountRequest) => {
        unmounts.push(r);
      },
      onError: (id: string, error: PluginError) => errors.push({ id, error }),
      onExit: (id: string, metrics: PluginMetrics) => exits.push({ id, metrics }),
    },
  };
}

describe('ResourceMonitor on real child processes', () => {
  it('defaults to a 10 s interval', () => {
    expect(new ResourceMonitor().intervalMs).toBe(DEFAULT_MONITOR_INTERVAL_MS);
    expect(DEFAULT_MONITOR_INTERVAL_MS).toBe(10_000);
  });

  it('records FileDescriptors (Low) each tick and unmounts at the threshold, not before', async () => {
    const c = await child();
    await c.send({ cmd: 'fds', count: 50 });
    const r = recorder();
    const m = new ResourceMonitor({ ...r.options, tracker: { maxViolations: 3 } });
    m.watch('fds', { kind: 'process', pid: c.pid }, { ...roomy, maxFileDescriptors: 40 });
    await m.tick();
    await m.tick();
    expect(r.unmounts).toHaveLength(0);
    expect(m.tracker('fds')?.violationCount()).toBe(2);
    await m.tick();
    expect(r.violations.map((v) => v.record.violation.type)).toEqual([
      'FileDescriptors',
      'FileDescriptors',
      'FileDescriptors',
    ]);
    expect(r.violations.every((v) => v.record.severity === 'Low')).toBe(true);
    const v = r.violations[0]?.record.violation;
    expect(v).toMatchObject({ type: 'FileDescriptors', limit: 40 });
    expect((v as { used: number }).used).toBeGreaterThanOrEqual(50);
    expect(r.unmounts).toHaveLength(1);
    expect(r.unmounts[0]).toMatchObject({ id: 'fds', reason: { kind: 'threshold', count: 3, threshold: 3 } });
    expect(m.watched()).toEqual([]); // unwatched once unmounted: onUnmount is called once
    await m.tick();
    expect(r.unmounts).toHaveLength(1);
  });

  it('with severity escalation on, unmounts at once on HeapMemory (Critical) from a ~100 MiB allocation', async () => {
    const c = await child();
    await c.send({ cmd: 'alloc', bytes: 100 * MiB });
    const r = recorder();
    const m = new ResourceMonitor({ ...r.options, tracker: { severityEscalation: true } });
    m.watch('mem', { kind: 'process', pid: c.pid }, { ...roomy, maxHeapBytes: 100 * MiB });
    await m.tick();
    expect(r.violations).toHaveLength(1);
    expect(r.violations[0]?.record).toMatchObject({
      severity: 'Critical',
      violation: { type: 'HeapMemory' },
    });
    expect(r.unmounts[0]?.reason.kind).toBe('critical');
  });

  it('records Threads, Connections violations for 6 workers and 3 TCP connections', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const c = await child();
      await c.send({ cmd: 'threads', count: 6 });
      await c.send({ cmd: 'tcp', port: (server.address() as net.AddressInfo).port, count: 3 });
      const r = recorder();
      const m = new ResourceMonitor(r.options);
      m.watch('t', { kind: 'process', pid: c.pid }, { ...roomy, maxThreads: 12, maxConnections: 2 });
      await m.tick();
      const types = r.violations.map((v) => v.record.violation);
      expect(types).toContainEqual({ type: 'Connections', used: 3, limit: 2 });
      const threads = types.find((t) => t.type === 'Threads') as { used: number } | undefined;
      expect(threads?.used).toBeGreaterThanOrEqual(13); // 7 of Node + 6 workers
      expect(r.unmounts).toHaveLength(0);
    } finally {
      server.close();
    }
  });

  it('with severity escalation on, unmounts a CPU burner after 3 CpuTime (High) violations', async () => {
    const c = await child();
    await c.send({ cmd: 'burn' });
    const r = recorder();
    const ac = new AbortController();
    const done = new Promise<UnmountRequest>((resolve) => {
      const m = new ResourceMonitor({
        ...r.options,
        intervalMs: 600,
        signal: ac.signal,
        keepAlive: true,
        tracker: { severityEscalation: true, windowMs: 60_000 },
        onUnmount: (req) => resolve(req),
      });
      // 20 ms of CPU per ~600 ms interval (3 % of a core): a spinning child far exceeds it even when 30 runnable
      // threads share 2 cores.
      m.watch('cpu', { kind: 'process', pid: c.pid }, { ...roomy, maxCpuTimeMs: 20 });
      m.start();
    });
    const req = await done;
    ac.abort();
    await c.send({ cmd: 'stop-burn' });
    expect(req.reason).toMatchObject({ kind: 'high-severity', count: 3 });
    expect(req.violations.map((v) => v.violation.type)).toEqual(['CpuTime', 'CpuTime', 'CpuTime']);
    for (const v of req.violations) expect((v.violation as { usedMs: number }).usedMs).toBeGreaterThan(20);
  });

  it('with autoUnmount off, counts violations but never calls onUnmount', async () => {
    const c = await child();
    const r = recorder();
    const m = new ResourceMonitor({
      ...r.options,
      tracker: { maxViolations: 2 },
      unmountBehavior: UnmountBehaviors.manual,
    });
    m.watch('x', { kind: 'process', pid: c.pid }, { ...roomy, maxHeapBytes: MiB });
    await m.tick();
    await m.tick();
    expect(r.violations).toHaveLength(2);
    expect(m.tracker('x')?.shouldUnmount()).toBe(true);
    expect(r.unmounts).toHaveLength(0);
  });

  it('reports an exited child through onExit and stops watching it', async () => {
    const c = await child();
    const r = recorder();
    const m = new ResourceMonitor(r.options);
    m.watch('gone', { kind: 'process', pid: c.pid }, roomy);
    await m.tick();
    await c.kill();
    const report = await m.tick();
    expect(report.exited).toBe(1);
    expect(r.exits[0]).toMatchObject({ id: 'gone', metrics: { exited: true } });
    expect(m.watched()).toEqual([]);
    expect(r.errors).toHaveLength(0);
  });
});

describe('ResourceMonitor loop', () => {
  it('never overlaps ticks, and tick() during a tick returns the running one', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const slow = async (): Promise<PluginMetrics> => {
      active++;
      calls++;
      maxActive = Math.max(maxActive, active);
      await sleep(60);
      active--;
      return { timestamp: Date.now(), source: 'plugin', memoryBytes: 1 };
    };
    const ac = new AbortController();
    const m = new ResourceMonitor({ intervalMs: 1, signal: ac.signal, keepAlive: true });
    m.watch('slow', { kind: 'custom', collect: slow }, roomy);
    const a = m.tick();
    const b = m.tick();
    expect(a).toBe(b);
    await a;
    m.start();
    await sleep(400);
    ac.abort();
    expect(m.running).toBe(false);
    expect(maxActive).toBe(1);
    expect(calls).toBeGreaterThanOrEqual(3);
    const after = calls;
    await sleep(150);
    expect(calls).toBeLessThanOrEqual(after + 1); // at most the tick in flight at abort
  });

  it('keeps going when one reading fails, throws, or hangs', async () => {
    const r = recorder();
    let good = 0;
    const m = new ResourceMonitor({ ...r.options, collectTimeoutMs: 50 });
    m.watch('fails', { kind: 'custom', collect: () => Promise.reject(new Error('boom')) }, roomy);
    m.watch('hangs', { kind: 'custom', collect: () => new Promise(() => undefined) }, roomy);
    m.watch('bad-pid', { kind: 'process', pid: 0 }, roomy);
    m.watch(
      'good',
      {
        kind: 'custom',
        collect: async () => {
          good++;
          return { timestamp: Date.now(), source: 'plugin', memoryBytes: 2 };
        },
      },
      roomy,
    );
    const first = await m.tick();
    expect(first).toMatchObject({ targets: 4, readings: 1, errors: 3 });
    expect(r.errors.map((e) => e.id).sort()).toEqual(['bad-pid', 'fails', 'hangs']);
    expect(r.errors.find((e) => e.id === 'hangs')?.error.code).toBe('Timeout');
    expect(r.errors.find((e) => e.id === 'bad-pid')?.error.code).toBe('InvalidArgument');
    const second = await m.tick();
    expect(good).toBe(2);
    // The hung reading is still in flight: it is skipped, not stacked.
    expect(second.errors).toBe(3);
    expect(r.errors.filter((e) => e.id === 'hangs').at(-1)?.error.message).toContain('still running');
  });

  it('survives a throwing onUnmount and a throwing onMetrics', async () => {
    const errors: string[] = [];
    const m = new ResourceMonitor({
      onMetrics: () => {
        throw new Error('metrics callback');
      },
      onUnmount: () => Promise.reject(new Error('unmount callback')),
      onError: (_id, e) => errors.push(e.message),
      tracker: { maxViolations: 1 },
    });
    m.watch(
      'x',
      {
        kind: 'custom',
        collect: async () => ({ timestamp: Date.now(), source: 'plugin', memoryBytes: 2 * MiB }),
      },
      {
        ...roomy,
        maxHeapBytes: MiB,
      },
    );
    const report = await m.tick();
    expect(report.unmounted).toBe(1);
    await sleep(0); // onUnmount is not awaited by the tick; its rejection lands just after
    expect(errors.some((e) => e.includes('metrics callback'))).toBe(true);
    expect(errors.some((e) => e.includes('unmount callback'))).toBe(true);
  });

  it('does not start when the signal is already aborted', () => {
    const m = new ResourceMonitor({ signal: AbortSignal.abort() });
    m.start();
    expect(m.running).toBe(false);
  });

  it('rejects a bad interval, bad limits and an empty id', () => {
    expect(() => new ResourceMonitor({ intervalMs: 0 })).toThrow(/intervalMs/);
    const m = new ResourceMonitor();
    const collect = async (): Promise<PluginMetrics> => ({ timestamp: 0, source: 'plugin' });
    expect(() => m.watch('x', { kind: 'custom', collect }, { ...roomy, maxThreads: 0 })).toThrow(
      expect.objectContaining({
        code: 'InvalidResourceLimits',
        details: expect.objectContaining({ field: 'maxThreads' }),
      }),
    );
    expect(() => m.watch('', { kind: 'custom', collect }, roomy)).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
  });

  it('does not stall on a slow onUnmount, and a stop/start during a tick leaves one loop', async () => {
    let ticks = 0;
    const ac = new AbortController();
    const m = new ResourceMonitor({
      intervalMs: 20,
      collectTimeoutMs: 1000,
      keepAlive: true,
      signal: ac.signal,
      onMetrics: (id) => {
        if (id === 'steady') ticks++;
      },
      onUnmount: () => new Promise<void>(() => undefined), // never settles
      tracker: { maxViolations: 1 },
    });
    const collect = async (): Promise<PluginMetrics> => {
      await sleep(30);
      return { timestamp: Date.now(), source: 'plugin', memoryBytes: 2 * MiB };
    };
    m.watch('heavy', { kind: 'custom', collect }, { ...roomy, maxHeapBytes: MiB });
    m.watch(
      'steady',
      { kind: 'custom', collect: async () => ({ timestamp: Date.now(), source: 'plugin' }) },
      roomy,
    );
    m.start();
    await sleep(10); // first tick in flight
    m.stop();
    m.start();
    await sleep(500);
    ac.abort();
    // 'heavy' is unmounted (threshold 1) in the first tick, then ticks are ~instant: one loop makes ≈ 500 / 20 = 25 ticks
    // (fewer on a loaded machine), two loops would make ≈ 50.
    expect(ticks).toBeGreaterThanOrEqual(8);
    expect(ticks).toBeLessThanOrEqual(32);
    expect(m.watched()).toEqual(['steady']);
  });
});

describe('ResourceMonitor as the loop of another owner (the registry)', () => {
  const reading = (extra: Partial<PluginMetrics> = {}): PluginMetrics => ({
    timestamp: Date.now(),
    source: 'plugin',
    ...extra,
  });

  it('runs sequential readers in slices that yield to the event loop, concurrent ones meanwhile', async () => {
    let spun = 0;
    const m = new ResourceMonitor();
    let concurrentStartedAt = -1;
    // Watched first, read last: a concurrent reader starts without waiting for the sequential ones.
    m.watch(
      'w',
      {
        kind: 'custom',
        collect: async () => {
          concurrentStartedAt = spun;
          return reading();
        },
      },
      roomy,
    );
    for (let i = 0; i < 40; i++) {
      m.watch(
        `p${i}`,
        {
          kind: 'custom',
          sequential: true,
          collect: async () => {
            // A synchronous reading of ~0.2 ms, as a /proc read of a busy process can be.
            const end = performance.now() + 0.2;
            while (performance.now() < end) spun++;
            return reading();
          },
        },
        roomy,
      );
    }
    await m.tick(); // warm-up: the first tick compiles its code
    concurrentStartedAt = -1;
    const before = spun;
    let ranDuringTick = false;
    let done = false;
    setImmediate(() => {
      ranDuringTick = !done;
    });
    const report = await m.tick();
    done = true;
    expect(report).toMatchObject({ targets: 41, readings: 41, errors: 0 });
    // 40 × 0.2 ms in slices of 0.25 ms (the default): the loop ran between slices (the tick did not hold it for 8 ms).
    expect(report.yields).toBeGreaterThanOrEqual(5);
    expect(ranDuringTick).toBe(true);
    // The tick timed its own slices (at least one reading each). No upper bound here: wall time stretches when the
    // machine preempts the process, and the process's CPU time counts the other test files' threads; the bench
    // measures the main thread's own CPU time.
    expect(report.longestSliceCpuMs).toBeGreaterThan(0);
    expect(report.longestSliceMs).toBeGreaterThan(0.1);
    // The concurrent reader did not wait for the sequential ones.
    expect(concurrentStartedAt).toBe(before);
  });

  it('reads cgroup targets (synchronous files) in slices too', async () => {
    const m = new ResourceMonitor();
    for (let i = 0; i < 60; i++) m.watch(`cg${i}`, { kind: 'process-cgroup', pid: process.pid }, roomy);
    await m.tick(); // warm-up (a process without a cgroup reads as exited and is unwatched)
    const report = await m.tick();
    if (report.targets === 0) {
      console.warn('!!! SKIPPED: this process is in no cgroup here');
      return;
    }
    expect(report).toMatchObject({ targets: 60, readings: 60, errors: 0 });
    // 60 readings of several cgroup files each take more than one slice: the tick yielded between them.
    expect(report.yields).toBeGreaterThan(0);
  });

  it('calls refresh before each tick and drops readings that are no longer current', async () => {
    let current = true;
    let refreshes = 0;
    const seen: string[] = [];
    const m = new ResourceMonitor({
      refresh: (mon) => {
        refreshes++;
        if (refreshes === 1)
          mon.watch('a', { kind: 'custom', collect: async () => reading() }, roomy, {
            isCurrent: () => current,
          });
        if (refreshes === 3) mon.unwatch('a');
      },
      onMetrics: (id) => seen.push(id),
    });
    expect((await m.tick()).readings).toBe(1);
    current = false;
    const second = await m.tick();
    expect(second).toMatchObject({ targets: 1, readings: 0 });
    expect((await m.tick()).targets).toBe(0);
    expect(seen).toEqual(['a']);
    const failing = new ResourceMonitor({
      refresh: () => {
        throw new Error('refresh broke');
      },
      onError: (id, e) => seen.push(`${id}: ${e.message}`),
    });
    expect((await failing.tick()).errors).toBe(1);
    expect(seen.at(-1)).toMatch(/^: .*refresh broke/);
  });

  it('flags the one violation that reached the unmount decision, then calls onUnmount once', async () => {
    const flags: [string, boolean][] = [];
    const unmounts: UnmountRequest[] = [];
    const m = new ResourceMonitor({
      tracker: { maxViolations: 2 },
      onViolation: (_id, record, _t, willUnmount) => flags.push([record.violation.type, willUnmount]),
      onUnmount: (r) => {
        unmounts.push(r);
      },
    });
    m.watch(
      'x',
      {
        kind: 'custom',
        collect: async () => reading({ memoryBytes: 2 * MiB, threads: 500, fileDescriptors: 5000 }),
      },
      { ...roomy, maxHeapBytes: MiB },
    );
    await m.tick();
    expect(flags).toEqual([
      ['HeapMemory', false],
      ['Threads', true],
      ['FileDescriptors', false],
    ]);
    expect(unmounts).toHaveLength(1);
    expect(unmounts[0]?.reason).toMatchObject({ kind: 'threshold', count: 2 });
    // With autoUnmount off the decision never holds: no flag, no unmount.
    const off: boolean[] = [];
    const quiet = new ResourceMonitor({
      tracker: { maxViolations: 1 },
      unmountBehavior: { autoUnmount: false },
      onViolation: (_id, _r, _t, willUnmount) => off.push(willUnmount),
      onUnmount: () => {
        throw new Error('never');
      },
    });
    quiet.watch('y', { kind: 'custom', collect: async () => reading({ threads: 500 }) }, roomy);
    await quiet.tick();
    expect(off).toEqual([false]);
  });

  it('unmounts at the next reading when a tracker fed elsewhere already says so', async () => {
    const unmounts: UnmountRequest[] = [];
    const m = new ResourceMonitor({ onUnmount: (r) => void unmounts.push(r) });
    const tracker = new ViolationTracker({ maxViolations: 1 });
    tracker.recordViolation({ type: 'HookTimeout', hookName: 'h', durationMs: 5, limitMs: 1 });
    m.watch('fed', { kind: 'custom', collect: async () => reading() }, roomy, { tracker });
    await m.tick();
    expect(unmounts.map((u) => u.id)).toEqual(['fed']);
  });

  it('keeps the last reading when the same target is watched again (the next CPU verdict still has one)', async () => {
    let cpu = 0;
    const target = {
      kind: 'custom' as const,
      collect: async () => {
        cpu += 5000;
        return reading({ cpuTimeMs: cpu });
      },
    };
    const types: string[] = [];
    const m = new ResourceMonitor({ onViolation: (_id, r) => types.push(r.violation.type) });
    const limits = { ...roomy, maxCpuTimeMs: 1000 };
    m.watch('cpu', target, limits);
    await m.tick(); // first reading: no CPU verdict without a previous one
    m.watch('cpu', target, limits, { unmountBehavior: { autoUnmount: false } });
    await m.tick();
    expect(types).toEqual(['CpuTime']);
    m.watch('cpu', { ...target }, limits); // another target: starts over
    await m.tick();
    expect(types).toEqual(['CpuTime']);
  });
});
