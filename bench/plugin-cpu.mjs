// What one hook call costs the plugin's side (a tool, not a benchmark: no report). `node plugin-cpu.mjs [tiers]
// [calls]` (default `worker,process`, 3000 calls a round, PLUGIN_CPU_ROUNDS rounds, default 7) loads the echo plugin
// at each tier through `PluginRegistry` and times 64-byte `hooks.execute` calls against the raw echoes of
// callpath.bench.mjs (a MessagePort echo worker, a Unix-socket echo child), rounds interleaved. Per call, median of
// rounds: CPU µs of the plugin's thread (the worker's thread; the plugin process's main thread), of its other threads
// (the process's V8 helpers; none of a worker's own), of the host's main thread — all from
// /proc/<pid>/task/<tid>/schedstat — and the wall time's p50. The plugin's side alone is what the host's numbers
// can't show: the runtime serving `ExecuteHook` (channel, transport, servePlugin, the handler).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';
import { PluginRegistry } from '@plugward/registry';
import { echoPluginFixture } from './fixtures.mjs';

const tiers = (process.argv[2] ?? 'worker,process').split(',');
const calls = Number(process.argv[3] ?? 3000);
const rounds = Number(process.env.PLUGIN_CPU_ROUNDS ?? 7);
const payload = new Uint8Array(64).fill(7);
const { dir, artifact, security } = await echoPluginFixture('pw-plugin-cpu-');

const tasks = (pid) => {
  try {
    return fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
};
/** CPU ns thread `tid` of `pid` has used. */
const threadNs = (pid, tid) => {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
};
const sumNs = (threads) => threads.reduce((ns, [pid, tid]) => ns + threadNs(pid, tid), 0);
const self = process.pid;

/** This process's children (pids). */
function children() {
  const out = [];
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === self) out.push(Number(p));
    } catch {}
  }
  return out;
}

/**
 * Starts a case and finds its plugin's threads once 2000 calls ran: a child process's main thread (and its other
 * threads), or the busiest thread of this process that was not there before (a worker).
 */
async function started(name, start, call, inProcess) {
  const threadsBefore = new Set(tasks(self));
  const childrenBefore = new Set(children());
  const handle = await start();
  for (let i = 0; i < 2000; i++) await call(handle);
  const c = { name, call: () => call(handle), close: () => handle.close() };
  if (inProcess) {
    const fresh = tasks(self).filter((t) => !threadsBefore.has(t));
    fresh.sort((a, b) => threadNs(self, b) - threadNs(self, a));
    return { ...c, plugin: [[self, fresh[0]]], helpers: [] };
  }
  const pid = children().find((p) => !childrenBefore.has(p));
  const others = tasks(pid).filter((t) => t !== String(pid));
  return { ...c, plugin: [[pid, String(pid)]], helpers: others.map((t) => [pid, t]) };
}

/** A call of the raw worker echo: `send()`, then wait for the answer (`on` is given its listener at the first call). */
function echoCaller(on, send) {
  let resolve;
  let listening = false;
  return () =>
    new Promise((r) => {
      if (!listening) {
        on(() => resolve());
        listening = true;
      }
      resolve = r;
      send();
    });
}

const rawEcho = `${dir}/raw-echo.cjs`;
fs.writeFileSync(
  rawEcho,
  `const s = new (require('node:net').Socket)({ fd: 3, readable: true, writable: true });
   s.on('data', (d) => s.write(d)); s.on('end', () => process.exit(0));`,
);
const cases = [];
for (const tier of tiers) {
  if (tier === 'worker') {
    let raw;
    const call = echoCaller(
      (l) => raw.on('message', l),
      () => raw.postMessage(payload),
    );
    const start = () => {
      raw = new Worker(
        `const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => parentPort.postMessage(m));`,
        { eval: true },
      );
      return { close: () => raw.terminate() };
    };
    cases.push(await started('raw MessagePort echo', start, call, true));
  } else {
    let raw;
    let want = 0;
    let answered;
    const call = () =>
      new Promise((r) => {
        answered = r;
        want = payload.length;
        raw.stdio[3].write(payload);
      });
    const start = () => {
      raw = spawn(process.execPath, [rawEcho], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
      raw.stdio[3].on('data', (d) => {
        want -= d.length;
        if (want <= 0) answered();
      });
      return { close: () => raw.kill() };
    };
    cases.push(await started('raw UDS echo child', start, call, false));
  }
  const load = async () => {
    const registry = new PluginRegistry({ security, defaultTier: tier, log: () => {} });
    await registry.loadPlugin(artifact, 'trusted');
    return registry;
  };
  const call = (registry) => registry.hooks.execute('echo', payload);
  cases.push(await started(`${tier} tier`, load, call, tier === 'worker'));
}

const host = [[self, String(self)]];
for (const c of cases) c.samples = [];
for (let round = 0; round < rounds; round++) {
  for (let j = 0; j < cases.length; j++) {
    const c = cases[(j + round) % cases.length];
    const before = [sumNs(c.plugin), sumNs(c.helpers), sumNs(host)];
    const wall = new Float64Array(calls);
    for (let i = 0; i < calls; i++) {
      const t0 = performance.now();
      await c.call();
      wall[i] = performance.now() - t0;
    }
    const after = [sumNs(c.plugin), sumNs(c.helpers), sumNs(host)];
    wall.sort();
    c.samples.push([...after.map((ns, k) => (ns - before[k]) / 1000 / calls), wall[calls >> 1] * 1000]);
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const f = (x) => x.toFixed(1).padStart(7);
console.log(
  `load ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}; ${rounds} rounds of ${calls} calls; µs per call, median of rounds`,
);
console.log(`${'case'.padEnd(22)} plugin thread  its other threads  host thread  p50 wall`);
for (const c of cases) {
  const m = [0, 1, 2, 3].map((k) => median(c.samples.map((s) => s[k])));
  console.log(`${c.name.padEnd(22)} ${f(m[0])}        ${f(m[1])}        ${f(m[2])}  ${f(m[3])}`);
}
for (const c of cases) await c.close();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
