// IPC benchmark (issue 7): ExecuteHook round trips over the fd-3 Unix socket of a real child process, against a raw
// Node UDS ping-pong (4-byte length prefix, echo) on the same kind of socket as the floor — all in one run.
// Also a codec micro-bench that justifies the wire encoding (fixed layout for hook bytes, msgpackr for the rest).
// The file is its own child for the latency rows (`node ipc.bench.mjs child-raw|child-ours`); the cold-start row starts
// the shipped runtime (`dist/runtime/runtime.cjs`) on a signed echo plugin, the way the process tier does.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IpcChannel, PluginProcessClient, servePlugin } from '@plugward/ipc';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  FRAME_PAYLOAD_OFFSET,
  packValue,
  unpackValue,
} from '@plugward/ipc/wire';
import { runtimeEntry } from '@plugward/registry';
import { DEFAULT_RESOURCE_LIMITS, MINIMAL_REQUIREMENTS } from '@plugward/types';
import { Packr } from 'msgpackr';
import { BARE_NODE_ENV, echoPluginFixture } from './fixtures.mjs';
import { writeReport } from './report.mjs';

const SELF = fileURLToPath(import.meta.url);
const role = process.argv[2];

if (role === 'child-raw') {
  // The floor: echo every length-prefixed frame back, with the minimum parsing any framing needs.
  const sock = new net.Socket({ fd: 3, readable: true, writable: true });
  let buf = Buffer.alloc(0);
  sock.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off < 4 + len) break;
      sock.write(buf.subarray(off, off + 4 + len));
      off += 4 + len;
    }
    buf = buf.subarray(off);
  });
  sock.on('end', () => process.exit(0));
} else if (role === 'child-ours') {
  const channel = new IpcChannel(new net.Socket({ fd: 3, readable: true, writable: true }), {
    role: 'plugin',
  });
  const instance = {
    name: 'bench',
    version: '1.0.0',
    author: 'bench',
    description: undefined,
    kind: 'js',
    declaredLimits: {},
    requirements: MINIMAL_REQUIREMENTS,
    init() {},
    registerHooks(hooks) {
      hooks.register('echo', 200, (data) => data);
    },
    shutdown() {},
    unload() {},
  };
  await servePlugin(channel, instance);
  process.exit(0);
} else {
  await main();
}

function spawnChild(kind) {
  const child = spawn(process.execPath, [SELF, kind], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  return { child, socket: child.stdio[3] };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Sequential latency (µs) of `call()` and pipelined calls/s with `depth` in flight. */
async function measure(call, { seq, piped, depth = 256 }) {
  for (let i = 0; i < Math.min(5000, seq); i++) await call();
  globalThis.gc?.(); // same heap state for ours and the floor (run.mjs passes --expose-gc)
  const times = new Float64Array(seq);
  for (let i = 0; i < seq; i++) {
    const t0 = process.hrtime.bigint();
    await call();
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  times.sort();
  let started = 0;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve, reject) => {
    let done = 0;
    const next = () => {
      if (started >= piped) return;
      started++;
      call().then(() => {
        done++;
        if (done === piped) resolve();
        else next();
      }, reject);
    };
    for (let i = 0; i < depth; i++) next();
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { p50: percentile(times, 0.5), p99: percentile(times, 0.99), perSec: piped / secs };
}

async function rawClient() {
  const { child, socket } = spawnChild('child-raw');
  const waiters = [];
  let buf = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (buf.length - off < 4 + len) break;
      waiters.shift()(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    buf = buf.subarray(off);
  });
  const call = (payload) =>
    new Promise((resolve) => {
      const frame = Buffer.allocUnsafe(4 + payload.length);
      frame.writeUInt32LE(payload.length, 0);
      frame.set(payload, 4);
      waiters.push(resolve);
      socket.write(frame);
    });
  const close = async () => {
    socket.end();
    await new Promise((r) => child.once('exit', r));
  };
  return { call, close };
}

async function oursClient() {
  const { child, socket } = spawnChild('child-ours');
  return connectClient(child, socket, SELF, 'bench');
}

/**
 * The shipped runtime (`dist/runtime/runtime.cjs`, what the process tier spawns) on the echo plugin in `dir`, started
 * as the process tier starts it: its arguments, no inherited environment, pipes for stdio, the channel on fd 3.
 */
async function runtimeClient(dir) {
  const child = spawn(process.execPath, [runtimeEntry(), dir, 'echo.mjs'], {
    stdio: ['ignore', 'ignore', 'inherit', 'pipe'],
    env: { PATH: '/usr/bin:/bin', NODE_OPTIONS: '', LANG: 'C.UTF-8' },
  });
  return connectClient(child, child.stdio[3], path.join(dir, 'echo.mjs'), 'echo');
}

async function connectClient(child, socket, artifactPath, pluginName) {
  const channel = new IpcChannel(socket, { role: 'host' });
  const registered = [];
  const client = new PluginProcessClient(channel, {
    pluginName,
    hooks: { register: (name, priority, handler) => registered.push({ name, priority, handler }) },
    context: { get() {}, set() {}, remove: () => false, has: () => false, keys: () => [] },
    process: child,
  });
  await client.initialize({
    pluginName,
    kind: 'js',
    artifactPath,
    tier: 'process',
    limits: { ...DEFAULT_RESOURCE_LIMITS },
    requirements: {
      network: { mode: 'isolated' },
      filesystem: { mode: 'none' },
      context: { read: [], write: [] },
    },
  });
  if (registered.length !== 1) throw new Error('bench plugin did not register its hook');
  const call = (payload) => client.executeHook('echo', payload);
  const close = async () => {
    await client.shutdown();
    await client.exited;
  };
  return { call, close };
}

function opsPerSec(fn, iterations) {
  for (let i = 0; i < Math.min(iterations, 10_000); i++) fn();
  globalThis.gc?.();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return iterations / (Number(process.hrtime.bigint() - t0) / 1e9);
}

function codecRows() {
  // Encode + decode of one message, the way the channel does it (frame included).
  const hook64 = { kind: 'ExecuteHook', hookName: 'on_request', data: new Uint8Array(64).fill(7) };
  const hook64k = { kind: 'ExecuteHook', hookName: 'on_request', data: new Uint8Array(64 * 1024).fill(7) };
  const packr = new Packr({ useRecords: false });
  const fixed = (req) => () => {
    const f = encodeRequest(1, req);
    decodeRequest(f[5], f.subarray(FRAME_PAYLOAD_OFFSET));
  };
  const msgpack = (req) => () => packr.unpack(packr.pack(req));
  const jsonB64 = (req) => () =>
    JSON.parse(
      JSON.stringify({
        kind: req.kind,
        hookName: req.hookName,
        data: Buffer.from(req.data).toString('base64'),
      }),
    );
  const metrics = {
    timestamp: Date.now(),
    source: 'plugin',
    pid: 1234,
    memoryBytes: 52_000_000,
    cpuTimeMs: 1234.5,
  };
  const oursMetrics = () => {
    const f = encodeResponse(1, { kind: 'Metrics', data: metrics });
    decodeResponse(f[5], f.subarray(FRAME_PAYLOAD_OFFSET));
  };
  const jsonMetrics = () => JSON.parse(JSON.stringify({ kind: 'Metrics', data: metrics }));
  const value = { a: [1, 'two', null], b: { c: true, d: 1.5 }, e: 'x'.repeat(40) };
  const safeValue = () => unpackValue(packValue(value));
  const jsonValue = () => JSON.parse(JSON.stringify(value));
  const rows = [
    ['ExecuteHook 64 B: fixed layout', fixed(hook64), 'msgpackr', msgpack(hook64), 200_000],
    ['ExecuteHook 64 B: fixed layout', fixed(hook64), 'JSON+base64', jsonB64(hook64), 200_000],
    ['ExecuteHook 64 KiB: fixed layout', fixed(hook64k), 'msgpackr', msgpack(hook64k), 20_000],
    ['ExecuteHook 64 KiB: fixed layout', fixed(hook64k), 'JSON+base64', jsonB64(hook64k), 2_000],
    ['Metrics: msgpackr + validation', oursMetrics, 'JSON', jsonMetrics, 200_000],
    ['context value: msgpackr safe decode', safeValue, 'JSON', jsonValue, 200_000],
  ];
  return rows.map(([name, ours, baselineName, base, n]) => ({
    case: name,
    ours: Math.round(opsPerSec(ours, n)),
    baseline: Math.round(opsPerSec(base, n)),
    baselineName,
    // Hook payloads must beat the alternatives; structured messages only need to stay within reach of raw JSON.
    target: name.startsWith('ExecuteHook') ? 1 : 0.5,
    higherIsBetter: true,
  }));
}

async function main() {
  const small = new Uint8Array(64).fill(1);
  const big = new Uint8Array(64 * 1024).fill(2);
  const latency = [];
  const throughput = [];
  for (const [label, payload, seq, piped] of [
    ['64 B', small, 20_000, 200_000],
    ['64 KiB', big, 5_000, 20_000],
  ]) {
    const raw = await rawClient();
    const floor = await measure(() => raw.call(payload), { seq, piped });
    await raw.close();
    const oursClientHandle = await oursClient();
    const ours = await measure(() => oursClientHandle.call(payload), { seq, piped });
    await oursClientHandle.close();
    const base = { baselineName: 'raw UDS ping-pong' };
    latency.push({
      case: `ExecuteHook ${label} p50`,
      ours: round(ours.p50),
      baseline: round(floor.p50),
      ...base,
      target: 0.5,
    });
    latency.push({
      case: `ExecuteHook ${label} p99`,
      ours: round(ours.p99),
      baseline: round(floor.p99),
      ...base,
      target: 0.5,
    });
    throughput.push({
      case: `ExecuteHook ${label} pipelined (256 in flight)`,
      ours: Math.round(ours.perSec),
      baseline: Math.round(floor.perSec),
      ...base,
      target: 0.25,
      higherIsBetter: true,
    });
    if (label === '64 B') {
      throughput.push({
        case: 'ExecuteHook 64 B pipelined vs the 50k calls/s target',
        ours: Math.round(ours.perSec),
        baseline: 50_000,
        baselineName: 'target',
        target: 1,
        higherIsBetter: true,
      });
    }
  }
  writeReport('ipc-latency', 'µs per round trip', latency);
  writeReport('ipc-cold-start', 'ms (median of 10)', await coldStartRows());
  writeReport('ipc-throughput', 'calls/s', throughput);
  writeReport('ipc-codec', 'encode+decode ops/s', codecRows());
}

/**
 * Spawn → hooks registered (Initialize answered) of the shipped runtime on a signed echo plugin (the process tier's
 * start without the registry's verification and private copy), vs spawn → exit of bare `node -e 0`, interleaved.
 */
async function coldStartRows() {
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const fixture = await echoPluginFixture('plugward-ipc-cold-');
  const bare = [];
  const ours = [];
  try {
    for (let i = 0; i < 10; i++) {
      let t0 = performance.now();
      await new Promise((resolve) =>
        spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', env: BARE_NODE_ENV }).once('exit', resolve),
      );
      bare.push(performance.now() - t0);
      t0 = performance.now();
      const c = await runtimeClient(fixture.dir);
      ours.push(performance.now() - t0);
      await c.close();
    }
  } finally {
    fs.rmSync(fixture.dir, { recursive: true, force: true });
  }
  return [
    {
      case: 'process-tier runtime (runtime.cjs): spawn → hooks registered',
      ours: round(median(ours)),
      baseline: round(median(bare)),
      baselineName: 'node -e 0',
      target: 0.5,
    },
  ];
}

function round(x) {
  return Math.round(x * 10) / 10;
}
