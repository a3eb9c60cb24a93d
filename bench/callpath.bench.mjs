// The call path users take — `PluginRegistry` → `hooks.execute` of a 64-byte echo hook — at every tier, beside the
// floor of its parts measured in the same run: bare `HookRegistry.execute` (in process), a raw MessagePort echo worker
// (worker tier), a raw Unix-socket echo child and `fork` IPC (process tier), the same raw echo child inside the
// sandbox (sandbox tier). Rounds interleaved (every case once per round, rotating order), µs per call (in process:
// CPU time of the process, robust on a loaded machine; out of process: wall time), median of rounds with the spread.
// Targets are issue 17's goals. A case that can't run here is a row with `meets: false` and the reason. Peers at
// their fastest API: Extism 1.0.3 `plugin.call` of a wasm echo that hands its input block back as its output (no
// copy inside wasm), piscina 5.3.2 `run()` on one thread. The 64 KiB rows (worker, process) time every call of a round
// and take the round's 99th percentile, against the raw echo at 64 KiB; median of rounds.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import createExtismPlugin from '@extism/extism';
import { defaultSandboxConfig, HookRegistry, PluginRegistry } from '@plugward/registry';
import { Piscina } from 'piscina';
import { benchSandbox, echoPluginFixture } from './fixtures.mjs';
import { notRun, stats, writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
// `CALLPATH_TIERS=in-process,worker` runs only those tiers (the others are then rows not run, with that reason).
const TIERS = new Set((process.env.CALLPATH_TIERS ?? 'in-process,worker,process,sandbox').split(','));
const CALLS = { fast: 20_000, ipc: 1_500 };
// The out-of-process cases are timed in CPU time too (`CALLPATH_CPU=0` turns it off): this process plus the processes
// the case started (its plugin or echo child, the sandbox's launcher chain), per call — what a call costs, not how long
// it waits on a loaded machine, where the wall-time rows of one run can swing by 2×. A separate report,
// `callpath-cpu`.
const CPU_MODE = process.env.CALLPATH_CPU !== '0';
const payload = new Uint8Array(64).fill(7);
// The 64 KiB rows (issue 17: p99 ≥ 0.8× raw): per-call latencies of a round, its 99th percentile; median of rounds.
const big = new Uint8Array(64 * 1024).fill(9);
const BIG_CALLS = 400;

const { dir, artifact, security } = await echoPluginFixture('pw-bench-call-');

// A raw echo over fd 3 (a Unix socket pair, as the process and sandbox tiers use): what IPC costs without Plugward.
const rawEcho = path.join(dir, 'raw-echo.cjs');
fs.writeFileSync(
  rawEcho,
  `const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
   s.on('data', (d) => s.write(d)); s.on('end', () => process.exit(0));`,
);
const forkEcho = path.join(dir, 'fork-echo.cjs');
fs.writeFileSync(forkEcho, `process.on('message', (m) => process.send(m));`);
const workerEcho = `const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (m) => parentPort.postMessage(m));`;
const piscinaEcho = path.join(dir, 'piscina-echo.cjs');
fs.writeFileSync(piscinaEcho, 'module.exports = (d) => d;');

/**
 * The smallest Extism plugin that echoes: export `echo` calls `output_set(input_offset(), input_length())` — the
 * output is the input block itself — and returns 0. Encoded here (no toolchain needed).
 */
function extismEchoWasm() {
  const bytes = (...xs) => xs.flat();
  const str = (t) => [t.length, ...Buffer.from(t)];
  const section = (id, content) => [id, content.length, ...content];
  const env = 'extism:host/env';
  const imp = (name, type) => [...str(env), ...str(name), 0x00, type];
  return new Uint8Array(
    bytes(
      [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
      // types: 0 () -> i64, 1 (i64, i64) -> (), 2 () -> i32
      section(1, [3, 0x60, 0, 1, 0x7e, 0x60, 2, 0x7e, 0x7e, 0, 0x60, 0, 1, 0x7f]),
      section(2, [3, ...imp('input_offset', 0), ...imp('input_length', 0), ...imp('output_set', 1)]),
      section(3, [1, 2]),
      section(7, [1, ...str('echo'), 0x00, 3]),
      // echo: call input_offset; call input_length; call output_set; i32.const 0; end
      section(10, [1, 10, 0, 0x10, 0, 0x10, 1, 0x10, 2, 0x41, 0, 0x0b]),
    ),
  );
}

/** A request/response over a byte stream: write 64 B, wait for 64 B back. */
function streamCaller(socket, bytes = payload) {
  let want = 0;
  let resolve;
  socket.on('data', (d) => {
    want -= d.length;
    if (want <= 0) resolve();
  });
  return () =>
    new Promise((r) => {
      resolve = r;
      want = bytes.length;
      socket.write(bytes);
    });
}

function portCaller(port, bytes = payload) {
  let resolve;
  port.on('message', () => resolve());
  return () =>
    new Promise((r) => {
      resolve = r;
      port.postMessage(bytes);
    });
}

/** This process's descendants (pids), from /proc. */
function descendants() {
  const children = new Map();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    let stat;
    try {
      stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
    } catch {
      continue;
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(e));
  }
  const out = [];
  const queue = [process.pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.pop()) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/** CPU time of the processes `pids` (all their threads), ns, from schedstat. */
function treeCpuNs(pids) {
  let ns = 0;
  for (const pid of pids) {
    let tasks;
    try {
      tasks = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
      } catch {}
    }
  }
  return ns;
}

/** Records in `cases[name]` the processes its setup started (for {@link treeCpuNs}). */
async function withPids(name, setup) {
  const before = new Set(descendants());
  cases[name] = await setup();
  cases[name].pids = descendants().filter((p) => !before.has(p));
}

async function registryAt(tier, sandbox) {
  const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
  await registry.loadPlugin(artifact, 'trusted');
  const out = await registry.hooks.execute('echo', payload);
  if (out.length !== 64 || out[0] !== 7) throw new Error(`echo at ${tier} answered wrong`);
  return {
    call: () => registry.hooks.execute('echo', payload),
    callBig: () => registry.hooks.execute('echo', big),
    close: () => registry.close(),
  };
}

const { sandbox, unsupported } = await benchSandbox();

const cases = {};
const bare = new HookRegistry();
bare.register('echo', 200, (d) => d);
if (TIERS.has('in-process')) {
  cases.bareHooks = {
    calls: CALLS.fast,
    cpu: true,
    call: () => bare.execute('echo', payload),
    close: () => undefined,
  };
  cases.inProcess = { calls: CALLS.fast, cpu: true, ...(await registryAt('in-process')) };
  const extism = await createExtismPlugin({ wasm: [{ data: extismEchoWasm() }] }, { useWasi: false });
  const echoed = await extism.call('echo', payload);
  if (echoed?.byteLength !== 64 || echoed.getUint8(0) !== 7) throw new Error('Extism echo answered wrong');
  cases.extism = {
    calls: CALLS.fast,
    cpu: true,
    call: () => extism.call('echo', payload),
    // Extism 1.0.3 keeps every call's input block until reset() (past 32 767 blocks its addresses overflow): reset
    // after each round, outside the timing.
    after: () => extism.reset(),
    close: () => extism.close(),
  };
}

if (TIERS.has('worker')) {
  const w = new Worker(workerEcho, { eval: true });
  cases.rawPort = { calls: CALLS.ipc, call: portCaller(w), close: () => w.terminate() };
  await withPids('worker', async () => ({ calls: CALLS.ipc, ...(await registryAt('worker')) }));
  const wBig = new Worker(workerEcho, { eval: true });
  cases.rawPortBig = {
    calls: BIG_CALLS,
    p99: true,
    call: portCaller(wBig, big),
    close: () => wBig.terminate(),
  };
  cases.workerBig = { calls: BIG_CALLS, p99: true, call: cases.worker.callBig, close: () => undefined };
  const pool = new Piscina({ filename: piscinaEcho, minThreads: 1, maxThreads: 1 });
  cases.piscina = { calls: CALLS.ipc, call: () => pool.run(payload), close: () => pool.destroy() };
}

if (TIERS.has('process')) {
  const raw = spawn(process.execPath, [rawEcho], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  cases.rawUds = {
    calls: CALLS.ipc,
    call: streamCaller(raw.stdio[3]),
    close: () => raw.kill(),
    pids: [raw.pid],
  };
  const rawBig = spawn(process.execPath, [rawEcho], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  cases.rawUdsBig = {
    calls: BIG_CALLS,
    p99: true,
    call: streamCaller(rawBig.stdio[3], big),
    close: () => rawBig.kill(),
  };
  const f = fork(forkEcho, { serialization: 'json', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await once(f, 'spawn');
  {
    let resolve;
    f.on('message', () => resolve());
    const arr = Array.from(payload);
    cases.forkIpc = {
      calls: CALLS.ipc,
      call: () =>
        new Promise((r) => {
          resolve = r;
          f.send(arr);
        }),
      close: () => f.kill(),
      pids: [f.pid],
    };
  }
  await withPids('process', async () => ({ calls: CALLS.ipc, ...(await registryAt('process')) }));
  cases.processBig = { calls: BIG_CALLS, p99: true, call: cases.process.callBig, close: () => undefined };
}

let sbxRaw;
if (sandbox && TIERS.has('sandbox')) {
  const before = new Set(descendants());
  sbxRaw = await sandbox.spawn({
    command: process.execPath,
    args: [rawEcho],
    readOnlyPaths: [dir],
    config: defaultSandboxConfig(),
    label: 'bench-raw-echo',
  });
  cases.rawUdsSandbox = {
    calls: CALLS.ipc,
    call: streamCaller(sbxRaw.ipc),
    close: () => sbxRaw.kill(),
    pids: descendants().filter((p) => !before.has(p)),
  };
  await withPids('sandbox', async () => ({ calls: CALLS.ipc, ...(await registryAt('sandbox', sandbox)) }));
}

/** CPU time of this process, ms: the in-process cases run entirely on this thread, so other load stays out. */
function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// In-process cases (`cpu: true`) are timed in CPU time of the process; out-of-process ones in wall time (a round trip
// is mostly waiting for the other side).
async function timeOne(c) {
  if (c.p99) {
    // Per-call wall time, µs; the round's 99th percentile.
    const times = new Float64Array(c.calls);
    for (let i = 0; i < c.calls; i++) {
      const t0 = performance.now();
      await c.call();
      times[i] = (performance.now() - t0) * 1000;
    }
    times.sort();
    return times[Math.min(c.calls - 1, Math.floor(c.calls * 0.99))];
  }
  const clock = c.cpu ? cpuMs : () => performance.now();
  const t0 = clock();
  const cpu0 = CPU_MODE ? cpuMs() * 1e6 + treeCpuNs(c.pids ?? []) : 0;
  for (let i = 0; i < c.calls; i++) await c.call();
  const t = ((clock() - t0) * 1000) / c.calls;
  if (CPU_MODE) c.cpuSamples.push((cpuMs() * 1e6 + treeCpuNs(c.pids ?? []) - cpu0) / 1000 / c.calls);
  await c.after?.();
  return t;
}

const names = Object.keys(cases);
for (const n of names) cases[n].cpuSamples = [];
const samples = Object.fromEntries(names.map((n) => [n, []]));
for (const n of names) await timeOne({ ...cases[n], calls: Math.ceil(cases[n].calls / 4), cpuSamples: [] }); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (let j = 0; j < names.length; j++) {
    const n = names[(j + r) % names.length];
    samples[n].push(await timeOne(cases[n]));
  }
}
for (const n of names) await cases[n].close();
fs.rmSync(dir, { recursive: true, force: true });

const st = Object.fromEntries(names.map((n) => [n, stats(samples[n])]));
const f3 = (x) => Number(x.toFixed(3));
const cpuKeys = {};
const row = (caseName, ours, base, baselineName, target) => {
  cpuKeys[caseName + baselineName] = [ours, base];
  return rowOf(caseName, ours, base, baselineName, target);
};
const rowOf = (caseName, ours, base, baselineName, target) =>
  st[ours] === undefined || st[base] === undefined
    ? notRun(
        caseName,
        baselineName,
        target,
        ours === 'sandbox' && unsupported ? unsupported : 'not selected (CALLPATH_TIERS)',
      )
    : {
        case: caseName,
        ours: f3(st[ours].median),
        spread: `${f3(st[ours].p10)}–${f3(st[ours].p90)} (baseline ${f3(st[base].p10)}–${f3(st[base].p90)})`,
        baseline: f3(st[base].median),
        baselineName,
        target,
      };
const rows = [
  row('in process: PluginRegistry hook', 'inProcess', 'bareHooks', 'bare HookRegistry.execute', 0.5),
  row('in process: PluginRegistry hook', 'inProcess', 'extism', 'Extism 1.0.3 plugin.call (wasm echo)', 2),
  row('worker tier: PluginRegistry hook', 'worker', 'rawPort', 'raw MessagePort echo', 0.9),
  row('worker tier: PluginRegistry hook', 'worker', 'piscina', 'piscina 5.3.2 run() (1 thread)', 1),
  row('process tier: PluginRegistry hook', 'process', 'rawUds', 'raw UDS echo child', 0.9),
  row('process tier: PluginRegistry hook', 'process', 'forkIpc', 'fork IPC (JSON)', 1),
  row('sandbox tier: PluginRegistry hook', 'sandbox', 'rawUdsSandbox', 'raw UDS echo in bwrap', 0.9),
  row('worker tier: 64 KiB hook, p99', 'workerBig', 'rawPortBig', 'raw MessagePort echo, 64 KiB p99', 0.8),
  row('process tier: 64 KiB hook, p99', 'processBig', 'rawUdsBig', 'raw UDS echo child, 64 KiB p99', 0.8),
];
writeReport('callpath', 'µs per call (median of rounds)', rows);
if (CPU_MODE) {
  // The same rows in CPU time per call (this process + the case's processes), out of process only.
  for (const n of names) samples[n] = cases[n].cpuSamples;
  for (const n of names) st[n] = stats(samples[n]);
  writeReport(
    'callpath-cpu',
    'µs CPU per call, host + plugin processes (median of rounds)',
    rows
      .filter((r) => !r.case.startsWith('in process') && !r.case.includes('64 KiB'))
      .map((r) => {
        const [ours, base] = cpuKeys[r.case + r.baselineName] ?? [];
        return ours === undefined ? r : row(r.case, ours, base, r.baselineName, r.target);
      }),
  );
}
