// Cold start of a sandboxed Node process vs bare `node -e 0` (both: spawn → exit) and of a sandboxed plugin vs the
// unsandboxed `process` tier (both: spawn → first byte on the fd-3 IPC socket, what a plugin runtime sends before it
// registers hooks), in one run. Target: sandboxed ≤ 1.5× the baseline (ratio ≥ 0.667).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { defaultSandboxConfig, LinuxSandbox } from '@plugward/sandbox-linux';
import { writeReport } from './report.mjs';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-bench-sbx-'));
const plugin = path.join(dir, 'ready.mjs');
fs.writeFileSync(
  plugin,
  `import net from 'node:net'; const s = new net.Socket({ fd: 3, readable: true, writable: true }); s.end('r');`,
);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function bare() {
  const t0 = performance.now();
  await new Promise((r) => spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }).on('exit', r));
  return performance.now() - t0;
}

async function processTier() {
  const t0 = performance.now();
  const c = spawn(process.execPath, [plugin], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
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
if (!support.supported) {
  console.log(
    'sandbox unsupported here, skipping:',
    support.features.filter((f) => !f.available),
  );
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
const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
writeReport('sandbox', 'ms (median cold start)', [
  {
    case: 'node -e 0 sandboxed, strict (+lockdown), to exit',
    ours: m.strict,
    baseline: m.bare,
    baselineName: 'bare node -e 0',
    target: 0.667,
  },
  {
    case: 'node -e 0 sandboxed, moderate, to exit',
    ours: m.moderate,
    baseline: m.bare,
    baselineName: 'bare node -e 0',
    target: 0.667,
  },
  {
    case: 'plugin sandboxed, strict, to first IPC byte',
    ours: m.strictReady,
    baseline: m.process,
    baselineName: 'process tier',
    target: 0.667,
  },
]);
