// One ResourceMonitor tick over 100 child processes (target: < 10 ms per tick), against the raw floor measured in
// the same run: reading /proc/<pid>/status of the same 100 pids with readFileSync (what any /proc monitor must do at
// least). Two populations: idle Node children, and Node children holding one TCP connection each (then every fd is
// readlink'ed to find socket inodes, the expensive part).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { ResourceMonitor } from '@plugward/limits';
import { DEFAULT_RESOURCE_LIMITS } from '@plugward/types';
import { writeReport } from './report.mjs';

const N = 100;
const ROUNDS = 40;
const BUDGET_MS = 10;

const CHILD = `
  const port = Number(process.argv[1]);
  const keep = [];
  if (port) keep.push(require('node:net').connect(port, '127.0.0.1', () => process.stdout.write('ready\\n')));
  else process.stdout.write('ready\\n');
  setInterval(() => {}, 1e9);
`;

async function startChildren(port) {
  const kids = [];
  for (let i = 0; i < N; i += 10) {
    const batch = Array.from({ length: 10 }, () =>
      spawn(process.execPath, ['-e', CHILD, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] }),
    );
    await Promise.all(batch.map((k) => once(k.stdout, 'data')));
    kids.push(...batch);
  }
  return kids;
}

async function stopChildren(kids) {
  await Promise.all(
    kids.map((k) => {
      const done = once(k, 'exit');
      k.kill('SIGKILL');
      return done;
    }),
  );
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function measure(kids) {
  const monitor = new ResourceMonitor();
  for (const [i, k] of kids.entries())
    monitor.watch(`p${i}`, { kind: 'process', pid: k.pid }, DEFAULT_RESOURCE_LIMITS);
  const ticks = [];
  const raws = [];
  for (let r = 0; r < ROUNDS + 5; r++) {
    let t = performance.now();
    for (const k of kids) readFileSync(`/proc/${k.pid}/status`);
    const raw = performance.now() - t;
    t = performance.now();
    const report = await monitor.tick();
    const tick = performance.now() - t;
    if (report.readings !== kids.length || report.errors !== 0)
      throw new Error(`bad tick: ${JSON.stringify(report)}`);
    if (r >= 5) {
      // the first rounds warm up the JIT and the start-time pinning
      raws.push(raw);
      ticks.push(tick);
    }
  }
  const last = kids.map((_, i) => monitor.lastMetrics(`p${i}`));
  return { tick: median(ticks), raw: median(raws), last };
}

const server = net.createServer((s) => s.on('error', () => undefined));
server.listen(0, '127.0.0.1');
await once(server, 'listening');

const rows = [];
for (const [label, port] of [
  ['idle Node children', 0],
  ['Node children, 1 TCP connection each', server.address().port],
]) {
  const kids = await startChildren(port);
  try {
    const { tick, raw, last } = await measure(kids);
    const conns = last.reduce((a, m) => a + (m?.connections ?? 0), 0);
    console.log(
      `${label}: tick ${tick.toFixed(2)} ms, raw status read ${raw.toFixed(2)} ms, connections seen ${conns}`,
    );
    if (port && conns !== N) throw new Error(`expected ${N} connections, saw ${conns}`);
    rows.push(
      {
        case: `tick over ${N} ${label} vs raw status read`,
        ours: Number(tick.toFixed(3)),
        baseline: Number(raw.toFixed(3)),
        baselineName: `readFileSync /proc/<pid>/status x${N}`,
        // A tick reads stat, status, the fd directory (and fd links) per process: at most 8x the status-only floor.
        target: 0.125,
      },
      {
        case: `tick over ${N} ${label} vs ${BUDGET_MS} ms budget`,
        ours: Number(tick.toFixed(3)),
        baseline: BUDGET_MS,
        baselineName: `${BUDGET_MS} ms budget`,
        target: 1,
      },
    );
  } finally {
    await stopChildren(kids);
  }
}
server.close();
writeReport('limits', 'ms per monitor tick (median)', rows);
