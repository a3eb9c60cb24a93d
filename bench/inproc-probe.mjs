// Probe of the in-process hook call (issue 17): `PluginRegistry` → a trusted echo plugin in process, beside the layers
// under it — bare `HookRegistry.execute` of `(d) => d`; the same handler with the registry's budgets (a whole-execution
// budget and the handler's own `timeoutMs` with an owner), no guard — so each layer's cost shows. Per call: CPU ns of
// this process (everything runs on this thread; rounds interleaved, rotating order; median and 10th–90th percentile)
// and on-heap bytes allocated (young generation sized so no scavenge runs during a round; rounds with a collection
// are dropped).
// Run: node --expose-gc --max-semi-space-size=64 --min-semi-space-size=64 bench/inproc-probe.mjs
// Env: PROBE_CALLS (20000), PROBE_ROUNDS (9), PROBE_CASES (comma list; default all), PROBE_PROFILE=1 (only the registry
// case, for `--cpu-prof`).
import { PerformanceObserver } from 'node:perf_hooks';
import { HookRegistry, PluginRegistry } from '@plugward/registry';
import { echoPluginFixture } from './fixtures.mjs';

const calls = Number(process.env.PROBE_CALLS ?? 20_000);
const rounds = Number(process.env.PROBE_ROUNDS ?? 9);
const payload = new Uint8Array(64).fill(7);

let gcs = 0;
new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });

const { artifact, security } = await echoPluginFixture('pw-inproc-probe-');
const registry = new PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
await registry.loadPlugin(artifact, 'trusted');

const bare = new HookRegistry();
bare.register('echo', 200, (d) => d);
// The registry's default budgets (hookCallBudget of the default limits) and a timed, owned handler: no guard.
const budgeted = new HookRegistry({
  executionTimeoutMs: 4000,
  executionTimeoutPerHandlerMs: 100,
  executionTimeoutMaxMs: 60_000,
});
budgeted.register('echo', 200, (d) => d, { owner: 'echo', timeoutMs: 1000 });

const all = {
  bare: () => bare.execute('echo', payload),
  budgeted: () => budgeted.execute('echo', payload),
  registry: () => registry.hooks.execute('echo', payload),
};
const names = process.env.PROBE_PROFILE
  ? ['registry']
  : (process.env.PROBE_CASES?.split(',') ?? Object.keys(all));

function cpuNs() {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

async function cpuRound(call) {
  const t0 = cpuNs();
  for (let i = 0; i < calls; i++) await call();
  return (cpuNs() - t0) / calls;
}

async function heapRound(call, n) {
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 10));
  const g0 = gcs;
  const h0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i++) await call();
  const h1 = process.memoryUsage().heapUsed;
  await new Promise((r) => setTimeout(r, 10));
  return gcs === g0 ? (h1 - h0) / n : undefined;
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
};

for (const n of names) await cpuRound(all[n]); // warm-up
const cpu = Object.fromEntries(names.map((n) => [n, []]));
const heap = Object.fromEntries(names.map((n) => [n, []]));
for (let r = 0; r < rounds; r++) {
  for (let j = 0; j < names.length; j++) {
    const n = names[(j + r) % names.length];
    if (!process.env.PROBE_HEAP) cpu[n].push(await cpuRound(all[n]));
    else {
      const b = await heapRound(all[n], 5000);
      if (b !== undefined) heap[n].push(b);
    }
  }
}
await registry.close();

const heapMode = Boolean(process.env.PROBE_HEAP);
const data = heapMode ? heap : cpu;
const base = pct(data[names[0]], 0.5);
const { loadavg } = await import('node:os');
console.log(
  `load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log(
  `case       ${heapMode ? 'bytes' : 'ns'}/call (p10–p90)   ${heapMode ? 'first / case' : 'first / case'}`,
);
for (const n of names) {
  const xs = data[n];
  if (xs.length === 0) {
    console.log(`${n.padEnd(10)} - (every round saw a collection)`);
    continue;
  }
  const m = pct(xs, 0.5);
  const spread = `(${pct(xs, 0.1).toFixed(0)}–${pct(xs, 0.9).toFixed(0)})`;
  console.log(
    `${n.padEnd(10)} ${m.toFixed(0).padStart(5)} ${spread.padEnd(14)} ${(base / m).toFixed(2).padStart(6)}`,
  );
}
