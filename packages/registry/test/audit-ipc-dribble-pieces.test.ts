// Attacker (audit, session 7b) — main 4ec6488: FOUND s7 #3's fix (FrameDecoder FragmentedFrame: a frame may come in
// ceil(bytes / 1 KiB) + 8 pieces) bounds pieces per frame, not reads per byte: a small frame (an 18-byte Log line) may
// still come in 9 pieces. A sandboxed untrusted no-grant plugin writes each well-formed Log frame to fd 3 as 8 single
// bytes and then the rest (9 pieces, exactly the allowance), ≈ 1 ms of Atomics.wait between pieces, and drains the
// host's answers from fd 3 itself. Measured (load 6–12, both backends): 2 390–2 495 host read() calls per 3 s, host CPU
// 110–125 ms over idle vs the plugin's own 130–140 ms (≈ 1:1, the shape of s7 #3); Active, 0 violations. ≈ 110 lines/s:
// under the dropped-log rate (256/s), the byte rate (4 MiB/s) and the request rate (2000/s).
// Asserted on a count (load-proof): host read() calls during 3 s stay under 1 200, or the plugin is ended.
// Proposed fix: make the "+ 8" slack a per-channel budget (a RequestPacer of pieces beyond ceil(bytes / 1 KiB) per
// frame, e.g. 64 a second, 512 at once; past it FragmentedFrame), or gather: after a read that leaves a partial frame
// under 4 KiB, stop reading for 5 ms.
// Fixed in FrameDecoder (ipc): a frame's pieces beyond one per KiB of it plus one come from a spare allowance of 256
// at once and 64 a second per channel; past it FragmentedFrame ends the plugin.
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const dribbler = `import fs from 'node:fs';
let stop = false;
const nap = new Int32Array(new SharedArrayBuffer(4));
const body = Buffer.from([0x92, 0xa4, 0x69, 0x6e, 0x66, 0x6f, 0xa1, 0x78]);
const frame = (id) => { const f = Buffer.alloc(10 + body.length); f.writeUInt32LE(6 + body.length, 0); f[4] = 1; f[5] = 22; f.writeUInt32LE(id, 6); body.copy(f, 10); return f; };
const sink = Buffer.alloc(65536);
const PIECES = 9;
export let status = '';
const run = () => {
  let id = 0x40000000;
  const end = Date.now() + 8000;
  while (Date.now() < end && !stop) {
    const f = frame(id++);
    // PIECES pieces: PIECES - 1 single bytes, then the rest — exactly the most FragmentedFrame allows for a small frame.
    for (let p = 0; p < PIECES; p++) { const i = p; const n = p < PIECES - 1 ? 1 : f.length - i; for (;;) { try { fs.writeSync(3, f, i, n); break; } catch (e) { if (e.code !== 'EAGAIN') { status = String(e); return; } Atomics.wait(nap, 0, 0, 1); } } Atomics.wait(nap, 0, 0, 1); }
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
describe('audit: small well-formed frames written to fd 3 in the 9 pieces FragmentedFrame allows', () => {
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
