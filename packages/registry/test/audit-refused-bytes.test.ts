// Attacker (audit, session 7) — main 17b1111: refused requests are paced by COUNT (each costs DENIED_REQUEST_TOKENS =
// 20 of the 2000/s request pace: ≈ 100 refusals a second), never by SIZE. A sandboxed untrusted plugin with no grants
// at all writes, straight to fd 3 (past its runtime: see audit-raw-frames.test.ts), one prebuilt 1 MiB ContextSet frame
// to a key it may not write every ≈ 10 ms, and drains the host's PermissionDenied answers itself. Each costs the plugin
// one write() of a buffer it reuses; the host reads it (16 reads of 64 KiB), joins it, decodes it and refuses it.
// Measured at load ≈ 20, both backends: the host read 84–114 MiB per 3 s and spent 415–435 ms of CPU over idle (≈ 14 %
// of a core) against the plugin's own 100–160 ms — 3–4× the attacker's — with 0 violations; the plugin stays Active
// for as long as it likes. (The same with prebuilt 1 MiB Log frames: 93 MiB, host 418 ms vs plugin 110 ms.)
// Asserted on a count (load-proof): past the first 6 s (the burst an untrusted plugin's requests may take at once),
// the bytes the host read() over 3 s (`rchar`) stay under 16 MiB, or the plugin is ended; the host still serves;
// nothing is left. Fixed by `IpcChannelOptions.requestByteRate` (the registry: `DEFAULT_REQUEST_BYTE_RATE`, 4 MiB/s
// and 24 MiB at once, for untrusted plugins; past it the plugin is ended with TooManyRequests).
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const flooder = `import fs from 'node:fs';
let stop = false;
const nap = new Int32Array(new SharedArrayBuffer(4));
const KIND = 18;
const MB = 1;
const key = Buffer.from('nope');
const bin = Buffer.alloc(MB * 1024 * 1024, 0x61);
// MessagePack [key, bin32 value].
const head = Buffer.concat([Buffer.from([0x92, 0xa0 | key.length]), key, Buffer.from([0xc6, 0, 0, 0, 0])]);
head.writeUInt32BE(bin.length, head.length - 4);
const payload = Buffer.concat([head, bin]);
const frame = Buffer.alloc(10 + payload.length); frame.writeUInt32LE(6 + payload.length, 0); frame[4] = 1; frame[5] = KIND; payload.copy(frame, 10);
const sink = Buffer.alloc(65536);
const run = () => {
  let id = 0x40000000;
  const end = Date.now() + 8000;
  while (Date.now() < end && !stop) {
    frame.writeUInt32LE(id++, 6);
    let at = 0;
    while (at < frame.length) { try { at += fs.writeSync(3, frame, at); } catch (e) { if (e.code !== 'EAGAIN') return; try { fs.readSync(3, sink, 0, 65536, null); } catch {} Atomics.wait(nap, 0, 0, 1); } }
    try { fs.readSync(3, sink, 0, 65536, null); } catch {}
    Atomics.wait(nap, 0, 0, 10);
  }
};
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  init() { setTimeout(run, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;
const scene = floodScene('audit-refused-bytes', 'flooder', { flooder });
describe('audit: 1 MiB requests the host refuses, written to fd 3 every 10 ms', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: the host does not read and refuse them at the plugin's rate`, {
      timeout: 60_000,
    }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      // Past the first seconds: a burst of request bytes (24 MiB by default for an untrusted plugin) is allowed at
      // once; what is measured is the pace the host sustains after it.
      const m = await measureFlood({ ...scene, sandbox: make(), settleMs: 6000 });
      expect(
        !m.active || m.floodBytes < 16 * 1024 * 1024,
        `host read ${(m.floodBytes / 1048576).toFixed(0)} MiB in 3 s of refused 1 MiB ContextSets; host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms (plugin ${m.pluginCpu} ms); the plugin still Active, ${m.violations} violations`,
      ).toBe(true);
    });
  }
});
