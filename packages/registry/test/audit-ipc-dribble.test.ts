// Attacker (audit, session 7) — main 17b1111: the same shape as the output trickle (FOUND #1), on the IPC socket. A
// sandboxed untrusted plugin with no grants writes well-formed Log request frames to fd 3 itself (`fs.writeSync(3, frame,
// i, 1)`, one byte per write, sleeping ≈ 1 ms between bytes with Atomics.wait: almost no CPU) and reads the host's
// answers back from fd 3 before the runtime sees them (it never yields to its event loop). Every frame is complete
// within milliseconds — no StalledFrame —, a log line within the log budget (≈ 55 lines/s) — no violation, no pacing —,
// and every byte costs the host a wake-up, a read() and a pass through the frame decoder. Measured at load ≈ 15: 2 700–
// 4 600 host read() calls per 3 s (idle: ≈ 2), host CPU 170–270 ms over idle against the plugin’s own 130–290 ms; the
// plugin stays Active with 0 violations, for as long as it likes. N such plugins: N × that.
// Asserted on a count (load-proof): host read() calls during 3 s of the dribble stay under 1 200, or the plugin is ended;
// the host still serves; nothing is left.
// Proposed fix (ipc host read path — transport.ts StreamTransport / FrameDecoder): a frame may arrive in at most
// ceil(bytes / 1 KiB) + 8 reads (a peer writes each frame with one write/writev; the kernel splits it in pages, not
// bytes); past that the frame is a protocol violation (`StalledFrame`/`MalformedFrame`: the plugin ends, as a stalled
// frame does). Or: after a read that leaves a partial frame under 4 KiB buffered, stop reading the socket for 5 ms
// (readStop, as the output fix) — latency only for a peer that splits its own frames.
// Fixed by FrameDecoder's FragmentedFrame (ipc): pieces of a frame beyond one per KiB of it plus one come from a spare
// allowance of 256 at once and 64 a second per channel; past it the plugin ends as for a protocol violation.
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const dribbler = `import fs from 'node:fs';
let stop = false;
const nap = new Int32Array(new SharedArrayBuffer(4));
const body = Buffer.from([0x92, 0xa4, 0x69, 0x6e, 0x66, 0x6f, 0xa1, 0x78]);
const frame = (id) => { const f = Buffer.alloc(10 + body.length); f.writeUInt32LE(6 + body.length, 0); f[4] = 1; f[5] = 22; f.writeUInt32LE(id, 6); body.copy(f, 10); return f; };
const sink = Buffer.alloc(65536);
export let status = '';
const run = () => {
  let id = 0x40000000;
  const end = Date.now() + 8000;
  while (Date.now() < end && !stop) {
    const f = frame(id++);
    for (let i = 0; i < f.length; i++) { for (;;) { try { fs.writeSync(3, f, i, 1); break; } catch (e) { if (e.code !== 'EAGAIN') { status = String(e); return; } Atomics.wait(nap, 0, 0, 1); } } Atomics.wait(nap, 0, 0, 0.01); }
    try { fs.readSync(3, sink, 0, 65536, null); } catch {}
  }
};
export default {
  name: 'dribbler', version: '1.0.0', author: 'stranger',
  init() { setTimeout(run, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;
const scene = floodScene('audit-ipc-dribble', 'dribbler', { dribble: dribbler });
describe('audit: well-formed frames written to fd 3 one byte at a time', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: the host does not wake once per byte`, { timeout: 60_000 }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      const m = await measureFlood({ ...scene, sandbox: make(), settleMs: 500 });
      expect(
        !m.active || m.floodReads < 1200,
        `host read() calls over 3 s of one-byte frames: ${m.floodReads}; host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms (plugin ${m.pluginCpu} ms); the plugin still Active, ${m.violations} violations`,
      ).toBe(true);
    });
  }
});
