// Cold start of a sandboxed Node plugin process vs bare `node -e 0` and vs the unsandboxed `process` tier, in one run.
// "Ready" means the child has opened its fd-3 IPC socket and written its first byte (what a plugin runtime does
// before registering hooks). Target: sandboxed ≤ 1.5× bare node (ratio ≥ 0.667).
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

async function sandboxed(sandbox, mode) {
  const t0 = performance.now();
  const p = await sandbox.spawn({
    command: process.execPath,
    args: [plugin],
    readOnlyPaths: [dir],
    config: defaultSandboxConfig({ seccomp: { mode } }),
    label: 'bench',
  });
  await new Promise((r) => p.ipc.once('data', r));
  const t = performance.now() - t0;
  await p.exit;
  return t;
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
const times = { bare: [], process: [], strict: [], moderate: [] };
// Warm-up (ldd, bwrap --version, seccomp compile are cached per host process).
await sandboxed(sandbox, 'strict');
await sandboxed(sandbox, 'moderate');
for (let i = 0; i < ROUNDS; i++) {
  times.bare.push(await bare());
  times.process.push(await processTier());
  times.strict.push(await sandboxed(sandbox, 'strict'));
  times.moderate.push(await sandboxed(sandbox, 'moderate'));
}
fs.rmSync(dir, { recursive: true, force: true });
const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
writeReport('sandbox', 'ms (median cold start to first IPC byte)', [
  {
    case: 'sandbox strict (+lockdown) vs bare node -e 0',
    ours: m.strict,
    baseline: m.bare,
    baselineName: 'bare node',
    target: 0.667,
  },
  {
    case: 'sandbox moderate vs bare node -e 0',
    ours: m.moderate,
    baseline: m.bare,
    baselineName: 'bare node',
    target: 0.667,
  },
  {
    case: 'sandbox strict vs process tier',
    ours: m.strict,
    baseline: m.process,
    baselineName: 'process tier',
    target: 0.667,
  },
]);
