// Cold start of a sandboxed Node process vs bare `node -e 0` (both: spawn → exit) and of a sandboxed plugin vs the
// unsandboxed `process` tier (both: spawn → first byte on the fd-3 IPC socket, what a plugin runtime sends before it
// registers hooks), in one run. Target: sandboxed ≤ 1.5× the baseline (ratio ≥ 0.667).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSandboxConfig, LinuxSandbox } from '@plugward/sandbox-linux';
import { BARE_NODE_ENV } from './fixtures.mjs';
import { notRun, stats, writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-sbx-'));
const plugin = path.join(dir, 'ready.mjs');
fs.writeFileSync(
  plugin,
  `import net from 'node:net'; const s = new net.Socket({ fd: 3, readable: true, writable: true }); s.end('r');`,
);

async function bare() {
  const t0 = performance.now();
  await new Promise((r) =>
    spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: BARE_NODE_ENV }).on('exit', r),
  );
  return performance.now() - t0;
}

async function processTier() {
  const t0 = performance.now();
  const c = spawn(process.execPath, [plugin], {
    stdio: ['ignore', 'inherit', 'inherit', 'pipe'],
    env: BARE_NODE_ENV,
  });
  await new Promise((r) => c.stdio[3].once('data', r));
  const t = performance.now() - t0;
  await new Promise((r) => c.on('exit', r));
  return t;
}

async function sandboxed(sandbox, mode, untilReady) {
  const t0 = performance.now();
  const p = await sandbox.spawn({
    command: process.execPath,
    args: untilReady ? [plugin] : ['-e', '0'],
    readOnlyPaths: [dir],
    config: defaultSandboxConfig({ seccomp: { mode } }),
    label: 'bench',
  });
  if (untilReady) await new Promise((r) => p.ipc.once('data', r));
  else await new Promise((r) => p.ipc.once('close', r));
  const t = performance.now() - t0;
  await p.exit;
  return untilReady ? t : performance.now() - t0;
}

const sandbox = new LinuxSandbox();
const support = await sandbox.checkSupport();
const CASES = [
  ['node -e 0 sandboxed, strict (+lockdown), to exit', 'bare node -e 0'],
  ['node -e 0 sandboxed, moderate, to exit', 'bare node -e 0'],
  ['plugin sandboxed, strict, to first IPC byte', 'process tier'],
];
if (!support.supported) {
  // Never a silent pass: every case is a row that does not meet its target, with the reason.
  const reason = `sandbox unsupported here: ${support.features
    .filter((f) => !f.available)
    .map((f) => `${f.feature} (${f.detail})`)
    .join('; ')}`;
  console.log(reason);
  writeReport(
    'sandbox',
    'ms (median cold start)',
    CASES.map(([c, b]) => notRun(c, b, 0.667, reason)),
  );
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
const times = { bare: [], process: [], strict: [], moderate: [], strictReady: [] };
// Warm-up (ldd, bwrap --version, seccomp compile are cached per host process).
await sandboxed(sandbox, 'strict', true);
await sandboxed(sandbox, 'moderate', false);
for (let i = 0; i < ROUNDS; i++) {
  times.bare.push(await bare());
  times.process.push(await processTier());
  times.strict.push(await sandboxed(sandbox, 'strict', false));
  times.moderate.push(await sandboxed(sandbox, 'moderate', false));
  times.strictReady.push(await sandboxed(sandbox, 'strict', true));
}
fs.rmSync(dir, { recursive: true, force: true });
const st = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, stats(v)]));
const m = Object.fromEntries(Object.entries(st).map(([k, v]) => [k, Number(v.median.toFixed(2))]));
const spread = (k) => `${st[k].p10.toFixed(1)}–${st[k].p90.toFixed(1)}`;
const ours = [
  ['strict', 'bare'],
  ['moderate', 'bare'],
  ['strictReady', 'process'],
];
writeReport(
  'sandbox',
  'ms (median cold start)',
  CASES.map(([c, b], i) => ({
    case: c,
    ours: m[ours[i][0]],
    spread: `${spread(ours[i][0])} (baseline ${spread(ours[i][1])})`,
    baseline: m[ours[i][1]],
    baselineName: b,
    target: 0.667,
  })),
);
