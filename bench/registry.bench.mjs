// Cold start of a plugin through the registry — loadPlugin() from call to resolve, i.e. verified, copied, spawned,
// initialised and its hooks registered — at the worker, process and sandbox tiers, against bare `node -e 0`
// (spawn → exit) measured in the same run. Target (issue 8): sandboxed cold start ≤ 1.5× bare node (ratio ≥ 0.667).
// The in-process row is reported against the same baseline for scale.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  checkSandboxSupport,
  generateKeyPair,
  LinuxSandbox,
  PluginRegistry,
  PluginSecurity,
  readManifest,
  toHex,
  trustEntryFromManifest,
  writeSignedManifest,
} from '@plugward/registry';
import { writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 11);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-reg-'));
const artifact = path.join(dir, 'echo.mjs');
fs.writeFileSync(
  artifact,
  `export default { name: 'echo', version: '1.0.0', author: 'bench', init() {},
     registerHooks(h) { h.register('echo', 200, (d) => d); } };`,
);
const keys = generateKeyPair();
await writeSignedManifest(
  { artifactPath: artifact, name: 'echo', version: '1.0.0', author: 'bench', kind: 'js' },
  keys.privateKey,
);
const security = new PluginSecurity(
  { onlyTrusted: true },
  [toHex(keys.publicKey)],
  [trustEntryFromManifest(await readManifest(artifact), keys.publicKey)],
);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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
if (!sandbox) console.log('!!! sandbox unsupported here: the sandbox row is skipped');
const tiers = ['in-process', 'worker', 'process', ...(sandbox ? ['sandbox'] : [])];
const samples = Object.fromEntries([['bare', []], ...tiers.map((t) => [t, []])]);
// Warm-up, then interleaved rounds so machine load hits every case alike.
await bare();
for (const t of tiers) await coldStart(t, sandbox);
for (let i = 0; i < ROUNDS; i++) {
  samples.bare.push(await bare());
  for (const t of tiers) samples[t].push(await coldStart(t, sandbox));
}
const base = median(samples.bare);
writeReport(
  'registry-cold-start',
  'ms (median)',
  tiers.map((t) => ({
    case: `loadPlugin → hooks registered, ${t} tier`,
    ours: Number(median(samples[t]).toFixed(2)),
    baseline: Number(base.toFixed(2)),
    baselineName: 'node -e 0',
    target: t === 'sandbox' ? 0.667 : 0,
  })),
);
fs.rmSync(dir, { recursive: true, force: true });
