// The registry's monitor sweep (`PluginRegistry.startResourceMonitor` is a `ResourceMonitor` whose targets are the
// registry's plugins; one tick per interval) over 100 and 500 process-tier plugins, against budgets (issue 17: < 5 ms at 100, < 25 ms at 500, never holding the event loop
// for more than 1 ms at a time) and against the sweep it replaced (one `collectProcessMetrics(pid)` per plugin, all
// at once, each re-reading the socket tables), measured in the same run, rounds interleaved.
//
// The plugin processes are simulated by `sleep` children (≈ 1 MiB each; 500 real Node runtimes would need ≈ 20 GiB),
// watched as the registry watches them (a sequential custom target calling the process tier's own reader,
// `processTierReading`, what its TierHandle calls) and read by `ResourceMonitor.tick()`. One in ten has a `full`
// network grant (its connections are counted: a readlink per fd). The host holds 20 TCP connections so the socket
// tables are not empty (an empty table lets the reader skip the per-fd work).
//
// Event-loop blocking is measured during each sweep as the longest gap between two turns of a setImmediate probe (the
// longest stretch the loop could not run anything) in the main thread's CPU time — the row: what our synchronous
// work (and GC on that thread) held the loop, without the time other processes had the core — and, in the spread, in
// process CPU time (it over-counts by what GC helper threads did meanwhile), in wall time (on a shared machine mostly
// preemption), as `perf_hooks.monitorEventLoopDelay`'s max (resolution 1 ms, so it includes that 1 ms), and as the
// tick's own timing of its longest slice (`TickReport.longestSliceMs`, wall; `longestSliceCpuMs`, process CPU).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';
import net from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collectProcessMetrics, ResourceMonitor } from '@plugward/limits';
import { processTierReading } from '@plugward/registry';
import { DEFAULT_RESOURCE_LIMITS, withRuntimeAllowance } from '@plugward/types';
import { stats, writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const CASES = [
  [100, false],
  [100, true],
  [500, false],
];
const BUDGET = { 100: 5, 500: 25 };
const MAX_BLOCK_MS = 1;

async function startSleepers(n) {
  const kids = [];
  for (let i = 0; i < n; i++) kids.push(spawn('sleep', ['3600'], { stdio: 'ignore' }));
  await Promise.all(kids.map((k) => once(k, 'spawn')));
  return kids;
}

async function stopSleepers(kids) {
  await Promise.all(
    kids.map((k) => {
      const done = once(k, 'exit');
      k.kill('SIGKILL');
      return done;
    }),
  );
}

/**
 * CPU time of the process, ms. It also counts V8's GC helper threads and the libuv thread pool (which don't hold the
 * event loop): an over-estimate of the main thread's share, never an under-estimate.
 */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * CPU time of this thread (the event loop's), ms: `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` through koffi (Node 20 has
 * no thread CPU clock; `/proc/thread-self/schedstat` only moves at scheduler ticks). Unlike wall time it doesn't
 * count the time other processes had the core (on a shared machine wall-time gaps are mostly that), and unlike the
 * process's CPU time it doesn't count GC helper threads; it does count GC work on this thread. ≈ 7 µs per call.
 */
const threadCpuMs = (() => {
  const koffi = createRequire(new URL('../packages/loader/package.json', import.meta.url))('koffi');
  const timespec = koffi.struct({ tv_sec: 'int64', tv_nsec: 'int64' });
  const clockGettime = koffi
    .load('libc.so.6')
    .func('clock_gettime', 'int', ['int', koffi.out(koffi.pointer(timespec))]);
  const CLOCK_THREAD_CPUTIME_ID = 3;
  const ts = {};
  return () => {
    clockGettime(CLOCK_THREAD_CPUTIME_ID, ts);
    return Number(ts.tv_sec) * 1000 + Number(ts.tv_nsec) / 1e6;
  };
})();

/** Runs `work` while probing the event loop; returns its duration and the longest blocks seen. */
async function probed(work) {
  const eld = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let lastCpu = cpuMs();
  let lastThread = threadCpuMs();
  let maxGap = 0;
  let maxCpuGap = 0;
  let maxThreadGap = 0;
  let probing = true;
  const probe = () => {
    const now = performance.now();
    const cpu = cpuMs();
    const thread = threadCpuMs();
    if (now - last > maxGap) maxGap = now - last;
    if (cpu - lastCpu > maxCpuGap) maxCpuGap = cpu - lastCpu;
    if (thread - lastThread > maxThreadGap) maxThreadGap = thread - lastThread;
    last = now;
    lastCpu = cpu;
    lastThread = thread;
    if (probing) setImmediate(probe);
  };
  eld.enable();
  setImmediate(probe);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const result = await work();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  probe();
  probing = false;
  eld.disable();
  return {
    ms,
    cpuMs: (c.user + c.system) / 1000,
    maxGap,
    maxCpuGap,
    maxThreadGap,
    eldMax: eld.max / 1e6,
    result,
  };
}

/**
 * A process-tier plugin as the registry's monitor watches it (see registry-monitoring.ts `watchTarget`): the process
 * tier's reader of its child (`processTierReading`, a `ProcessReader` kept open between sweeps).
 */
function tierTarget(child, connections, connectionLimit) {
  const reading = processTierReading(child);
  return {
    kind: 'custom',
    sequential: true,
    collect: (_signal, { netCache }) => reading({ netCache, connections, connectionLimit }),
  };
}

/**
 * The monitor over `kids` (one in ten with a `full` network grant), plus, with `over`, this process as one more
 * `full`-network plugin over its connection limit: the sweep must then read a socket table.
 */
function monitorOf(kids, over, readings) {
  const m = new ResourceMonitor({
    onMetrics: (_id, metrics) => readings.push(metrics),
    onError: (id, e) => {
      throw new Error(`${id}: ${e.message}`);
    },
  });
  // Roomy limits: the bench measures reading, not unmounting.
  const limits = withRuntimeAllowance({ ...DEFAULT_RESOURCE_LIMITS, maxConnections: 1000 });
  kids.forEach((k, i) => {
    m.watch(`p${i}`, tierTarget(k, i % 10 === 0, 50), limits);
  });
  if (over) m.watch('over-limit', tierTarget(selfAsChild, true, 10), limits);
  return m;
}

/** This process, as a child the process tier would read (it never exits during the bench). */
const selfAsChild = { pid: process.pid, exitCode: null, signalCode: null, once: () => selfAsChild };

/** The sweep the registry ran before: every plugin read at once, each reading its own socket tables. */
function oldSweep(kids) {
  return Promise.all(kids.map((k) => collectProcessMetrics(k.pid)));
}

const server = net.createServer((s) => s.on('error', () => undefined));
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const clients = [];
for (let i = 0; i < 20; i++) {
  const c = net.connect(server.address().port, '127.0.0.1');
  await once(c, 'connect');
  clients.push(c);
}

const rows = [];
for (const [n, over] of CASES) {
  const kids = await startSleepers(over ? n - 1 : n);
  try {
    const readings = [];
    const monitor = monitorOf(kids, over, readings);
    const what = over ? `${n} plugins, one over its connection limit` : `${n} plugins`;
    const keys = ['ms', 'cpuMs', 'maxGap', 'maxCpuGap', 'maxThreadGap', 'eldMax', 'sliceMs', 'sliceCpuMs'];
    const ours = Object.fromEntries(keys.map((k) => [k, []]));
    const old = Object.fromEntries(keys.map((k) => [k, []]));
    let checked = false;
    for (let r = 0; r < ROUNDS + 3; r++) {
      readings.length = 0;
      // Each sweep starts on a clean heap: the old sweep's garbage (it re-reads the socket tables per plugin) must not
      // be collected inside ours, nor ours inside its.
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 20)); // let concurrent GC sweeping finish
      const a = await probed(() => monitor.tick());
      a.sliceMs = a.result.longestSliceMs;
      a.sliceCpuMs = a.result.longestSliceCpuMs;
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 20));
      const b = await probed(() => oldSweep(over ? [...kids, process] : kids));
      b.sliceMs = b.maxGap; // not sliced: its one run is its longest block
      b.sliceCpuMs = b.maxCpuGap;
      if (!checked) {
        if (a.result.readings !== n || readings.some((m) => m.exited || m.memoryBytes === undefined))
          throw new Error(`bad sweep: ${JSON.stringify(a.result)}`);
        // Under their limit, sleepers are not counted; the over-limit plugin (this process: 20 clients, 20 accepted)
        // is, exactly.
        const counted = readings.filter((m) => m.connections !== undefined).map((m) => m.connections);
        if (counted.length !== (over ? 1 : 0) || (over && counted[0] < 40))
          throw new Error(`connections counted: ${JSON.stringify(counted)}`);
        checked = true;
      }
      if (r < 3) continue; // warm-up: JIT, first socket-table reads
      for (const k of keys) {
        ours[k].push(a[k]);
        old[k].push(b[k]);
      }
    }
    const S = (o) => Object.fromEntries(keys.map((k) => [k, stats(o[k])]));
    const s = S(ours);
    const o = S(old);
    const f = (x) => Number(x.toFixed(3));
    const sp = (st) => `${f(st.p10)}–${f(st.p90)}`;
    console.log(
      `${what}: sweep cpu ${f(s.cpuMs.median)} ms [${sp(s.cpuMs)}], wall ${f(s.ms.median)} ms [${sp(s.ms)}]; ` +
        `longest block: main thread cpu ${f(s.maxThreadGap.median)} ms (worst ${f(s.maxThreadGap.max)}), process cpu ` +
        `${f(s.maxCpuGap.median)} ms, wall ${f(s.maxGap.median)} ms (worst ${f(s.maxGap.max)}), eld max ` +
        `${f(s.eldMax.median)} ms; self-timed slice wall ${f(s.sliceMs.median)} ms, process cpu ` +
        `${f(s.sliceCpuMs.median)} ms; old sweep cpu ${f(o.cpuMs.median)} ms, ` +
        `wall ${f(o.ms.median)} ms, its block ${f(o.maxGap.median)} ms`,
    );
    rows.push(
      {
        case: `registry monitor sweep, ${what} (CPU ms) vs ${BUDGET[n]} ms budget`,
        ours: f(s.cpuMs.median),
        spread: `cpu ${sp(s.cpuMs)}; wall ${f(s.ms.median)} [${sp(s.ms)}]`,
        baseline: BUDGET[n],
        baselineName: 'budget',
        target: 1,
      },
      {
        case: `longest event-loop block (main-thread CPU ms), sweep of ${what}, vs ${MAX_BLOCK_MS} ms`,
        ours: f(s.maxThreadGap.median),
        spread:
          `${sp(s.maxThreadGap)} (worst ${f(s.maxThreadGap.max)}); process cpu ${f(s.maxCpuGap.median)}; ` +
          `wall ${f(s.maxGap.median)}; eld max ${f(s.eldMax.median)}; self-timed slice ${f(s.sliceMs.median)} wall, ` +
          `${f(s.sliceCpuMs.median)} process cpu`,
        baseline: MAX_BLOCK_MS,
        baselineName: 'budget',
        target: 1,
      },
      {
        case: `registry monitor sweep, ${what} (CPU ms) vs the per-plugin sweep it replaced`,
        ours: f(s.cpuMs.median),
        spread: sp(s.cpuMs),
        baseline: f(o.cpuMs.median),
        baselineName: 'old sweep (same run)',
        // The new sweep must be an order of magnitude cheaper, not merely sliced.
        target: 10,
      },
    );
  } finally {
    await stopSleepers(kids);
  }
}
for (const c of clients) c.destroy();
server.close();
writeReport('monitor', 'ms (median of rounds; CPU time of the host process)', rows);
