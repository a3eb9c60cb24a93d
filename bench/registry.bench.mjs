// Cold start of a plugin through the registry — loadPlugin() from call to resolve, i.e. verified, copied, spawned,
// initialised and its hooks registered — at every tier, against bare `node -e 0` (spawn → exit) measured in the same
// run, rounds interleaved, medians with spread. Targets: sandbox ≤ 1.2× bare node (issue 17: ratio ≥ 0.833), process
// ≤ 1.1× (0.9), worker faster than a bare process (1.0), in process 5× faster than one. A tier that can't run here is a
// row with `meets: false` and the reason, never a dropped row.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { checkSandboxSupport, LinuxSandbox, PluginRegistry } from '@plugward/registry';
import { echoPluginFixture } from './fixtures.mjs';
import { notRun, stats, writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const { dir, artifact, security } = await echoPluginFixture('pw-bench-reg-');

const TARGETS = { 'in-process': 5, worker: 1, process: 0.9, sandbox: 0.833 };
const caseOf = (t) => `loadPlugin → hooks registered, ${t} tier`;

async function bare() {
  const t0 = performance.now();
  await new Promise((r) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('exit', r));
  return performance.now() - t0;
}

async function coldStart(tier, sandbox) {
  const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
  const t0 = performance.now();
  await registry.loadPlugin(artifact, 'trusted');
  const t = performance.now() - t0;
  const out = await registry.hooks.execute('echo', new Uint8Array([1]));
  if (out[0] !== 1) throw new Error(`echo at ${tier} answered wrong`);
  await registry.close();
  return t;
}

const support = await checkSandboxSupport();
const sandbox = support.supported ? new LinuxSandbox() : undefined;
const unsupported = sandbox
  ? undefined
  : `sandbox unsupported here: ${support.features
      .filter((f) => !f.available)
      .map((f) => `${f.feature} (${f.detail})`)
      .join('; ')}`;
if (unsupported) console.log(`!!! ${unsupported}: the sandbox row is reported as not run`);
const tiers = ['in-process', 'worker', 'process', ...(sandbox ? ['sandbox'] : [])];
const samples = Object.fromEntries([['bare', []], ...tiers.map((t) => [t, []])]);
// Warm-up, then interleaved rounds so machine load hits every case alike.
await bare();
for (const t of tiers) await coldStart(t, sandbox);
for (let i = 0; i < ROUNDS; i++) {
  samples.bare.push(await bare());
  for (const t of tiers) samples[t].push(await coldStart(t, sandbox));
}
const base = stats(samples.bare);
const sp = (st) => `${st.p10.toFixed(1)}–${st.p90.toFixed(1)}`;
writeReport('registry-cold-start', 'ms (median)', [
  ...tiers.map((t) => {
    const st = stats(samples[t]);
    return {
      case: caseOf(t),
      ours: Number(st.median.toFixed(2)),
      spread: `${sp(st)} (baseline ${sp(base)})`,
      baseline: Number(base.median.toFixed(2)),
      baselineName: 'node -e 0',
      target: TARGETS[t],
    };
  }),
  ...(unsupported ? [notRun(caseOf('sandbox'), 'node -e 0', TARGETS.sandbox, unsupported)] : []),
]);
fs.rmSync(dir, { recursive: true, force: true });
