// Probe of the host's side of an out-of-process hook call (issue 17): `PluginRegistry` → echo plugin at one tier.
// Per call: host CPU (all host threads, schedstat), plugin CPU (its process's threads; worker: included in host),
// p50/p99 wall, on-heap bytes the host allocated (young generation sized so no scavenge runs during a round) and
// ArrayBuffer bytes it allocated (20 calls after a gc()).
// Run: node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 bench/callhost-probe.mjs
// Env: PROBE_TIER (process|worker|sandbox, default process), PROBE_BYTES (64), PROBE_CALLS (2000), PROBE_ROUNDS (7).
import fs from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { PluginRegistry } from '@plugward/registry';
import { benchSandbox, echoPluginFixture } from './fixtures.mjs';

const tier = process.env.PROBE_TIER ?? 'process';
const bytes = Number(process.env.PROBE_BYTES ?? 64);
const calls = Number(process.env.PROBE_CALLS ?? 2000);
const rounds = Number(process.env.PROBE_ROUNDS ?? 7);
const payload = new Uint8Array(bytes).fill(7);

function tasksNs(pid) {
  let ns = 0;
  for (const t of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    } catch {}
  }
  return ns;
}
function childPids() {
  const out = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid) out.push(Number(e));
    } catch {}
  }
  return out;
}
function descendants(root) {
  const all = [];
  const queue = [...root];
  while (queue.length) {
    const p = queue.pop();
    all.push(p);
    try {
      for (const t of fs.readdirSync(`/proc/${p}/task`)) {
        const c = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        if (c) queue.push(...c.split(' ').map(Number));
      }
    } catch {}
  }
  return all;
}

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const { artifact, security } = await echoPluginFixture('pw-probe-');
const { sandbox } = tier === 'sandbox' ? await benchSandbox() : { sandbox: undefined };
const before = new Set(childPids());
const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
await registry.loadPlugin(artifact, 'trusted');
const plugin = descendants(childPids().filter((p) => !before.has(p)));
for (let i = 0; i < 2000; i++) await registry.hooks.execute('echo', payload);

// ArrayBuffer bytes the host allocates per call (external memory: what drives V8's full collections at 64 KiB):
// 20 calls after a gc(), counted only when no collection ran meanwhile.
const abRows = [];
for (let r = 0; r < rounds && globalThis.gc; r++) {
  globalThis.gc();
  // The observer hears of that collection asynchronously: let it, before counting.
  await new Promise((res) => setTimeout(res, 20));
  const gc0 = gcs;
  const ab0 = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 20; i++) await registry.hooks.execute('echo', payload);
  const ab1 = process.memoryUsage().arrayBuffers;
  if (gcs === gc0) abRows.push((ab1 - ab0) / 20);
}
abRows.sort((a, b) => a - b);

const rows = [];
for (let r = 0; r < rounds; r++) {
  globalThis.gc?.();
  await new Promise((res) => setTimeout(res, 20));
  const lat = new Float64Array(calls);
  const gc0 = gcs;
  const heap0 = process.memoryUsage().heapUsed;
  const h0 = tasksNs(process.pid);
  const p0 = plugin.reduce((s, p) => s + tasksNs(p), 0);
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    await registry.hooks.execute('echo', payload);
    lat[i] = performance.now() - t;
  }
  const heap1 = process.memoryUsage().heapUsed;
  const h1 = tasksNs(process.pid);
  const p1 = plugin.reduce((s, p) => s + tasksNs(p), 0);
  lat.sort();
  rows.push({
    hostUs: (h1 - h0) / 1e3 / calls,
    pluginUs: (p1 - p0) / 1e3 / calls,
    p50: lat[Math.floor(calls * 0.5)] * 1e3,
    p99: lat[Math.floor(calls * 0.99)] * 1e3,
    heapB: gcs === gc0 ? (heap1 - heap0) / calls : Number.NaN,
  });
}
await registry.close();
const med = (k) => {
  const v = rows.map((x) => x[k]).sort((a, b) => a - b);
  return v[v.length >> 1];
};
const load = fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
console.log(
  JSON.stringify({
    tier,
    bytes,
    load,
    hostUs: +med('hostUs').toFixed(1),
    pluginUs: +med('pluginUs').toFixed(1),
    p50: +med('p50').toFixed(0),
    p99: +med('p99').toFixed(0),
    heapBPerCall: +med('heapB').toFixed(0),
    arrayBufferBPerCall: abRows.length > 0 ? Math.round(abRows[abRows.length >> 1]) : null,
  }),
);
