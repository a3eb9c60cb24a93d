// The Landlock backend against bubblewrap and the process tier, in one run, through what a host calls: loadPlugin()
// (verify, copy, spawn, initialise, hooks registered) and one hook round trip (registry.hooks.execute). Rows whose
// backend can't run here are reported as failed rows with the reason, never dropped. Targets: the Landlock cold
// start ≤ 1.5× bwrap's (ratio ≥ 0.667; it starts node twice: launcher, then the runtime), its round trip ≤ 1.2×
// the process tier's (ratio ≥ 0.833: after start-up it is the same socket).
import fs from 'node:fs';
import { LandlockSandbox, LinuxSandbox, PluginRegistry, trialBwrap } from '@plugward/registry';
import { echoPluginFixture } from './fixtures.mjs';
import { writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const { dir, artifact, security } = await echoPluginFixture('pw-bench-ll-');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Each case: how to build its registry, or why it can't run here. */
const cases = {
  process: { tier: 'process', sandbox: undefined },
  bwrap: { tier: 'sandbox', sandbox: new LinuxSandbox() },
  landlock: { tier: 'sandbox', sandbox: new LandlockSandbox() },
};
const unavailable = {};
const bw = trialBwrap();
if (!bw.ok) unavailable.bwrap = bw.detail;
const ll = await cases.landlock.sandbox.checkSupport();
if (!ll.supported)
  unavailable.landlock = ll.features
    .filter((f) => !f.available)
    .map((f) => f.detail)
    .join('; ');

async function coldStart(name) {
  const c = cases[name];
  const registry = new PluginRegistry({ security, sandbox: c.sandbox, defaultTier: c.tier, log: () => {} });
  try {
    const t0 = performance.now();
    await registry.loadPlugin(artifact, 'trusted');
    return performance.now() - t0;
  } finally {
    await registry.close();
  }
}

async function roundTrip(name) {
  const c = cases[name];
  const registry = new PluginRegistry({ security, sandbox: c.sandbox, defaultTier: c.tier, log: () => {} });
  try {
    await registry.loadPlugin(artifact, 'trusted');
    const input = new Uint8Array([1, 2, 3, 4]);
    for (let i = 0; i < 200; i++) await registry.hooks.execute('echo', input);
    const times = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      const out = await registry.hooks.execute('echo', input);
      times.push(performance.now() - t0);
      if (out[3] !== 4) throw new Error(`echo in ${name} answered wrong`);
    }
    return median(times) * 1000;
  } finally {
    await registry.close();
  }
}

const names = Object.keys(cases).filter((n) => {
  if (unavailable[n]) console.log(`!!! ${n} can't run here: ${unavailable[n]}`);
  return !unavailable[n];
});
const cold = Object.fromEntries(names.map((n) => [n, []]));
for (const n of names) await coldStart(n); // warm-up: ldd, seccomp compile, koffi
for (let i = 0; i < ROUNDS; i++) for (const n of names) cold[n].push(await coldStart(n));
const rtt = Object.fromEntries(
  await Promise.all(names.map(async (n) => [n, await roundTrip(n)])).then((e) => e),
);
fs.rmSync(dir, { recursive: true, force: true });

const ms = (n) => (cold[n] ? Number(median(cold[n]).toFixed(2)) : Number.NaN);
const us = (n) => (rtt[n] !== undefined ? Number(rtt[n].toFixed(1)) : Number.NaN);
const failed = (n) => (unavailable[n] ? ` (can't run here: ${unavailable[n]})` : '');
writeReport('landlock', 'ms (median cold start) / µs (median hook round trip)', [
  {
    case: `cold start, landlock${failed('landlock')}`,
    ours: ms('landlock'),
    baseline: ms('bwrap'),
    baselineName: `bwrap${failed('bwrap')}`,
    target: 0.667,
  },
  {
    case: `cold start, landlock${failed('landlock')}`,
    ours: ms('landlock'),
    baseline: ms('process'),
    baselineName: 'process tier',
    target: 0.5,
  },
  {
    case: `cold start, bwrap${failed('bwrap')}`,
    ours: ms('bwrap'),
    baseline: ms('process'),
    baselineName: 'process tier',
    target: 0.5,
  },
  {
    case: `hook round trip µs, landlock${failed('landlock')}`,
    ours: us('landlock'),
    baseline: us('process'),
    baselineName: 'process tier',
    target: 0.833,
  },
  {
    case: `hook round trip µs, landlock${failed('landlock')}`,
    ours: us('landlock'),
    baseline: us('bwrap'),
    baselineName: `bwrap${failed('bwrap')}`,
    target: 0.833,
  },
]);
