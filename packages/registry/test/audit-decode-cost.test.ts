// Attacker (audit, session 7b) — main 4ec6488: requestByteRate (DEFAULT_REQUEST_BYTE_RATE, 4 MiB/s for untrusted
// plugins) assumes ≈ 4 ms of host CPU per MiB of requests; the decode of a structured value costs up to 40× that. A
// sandboxed untrusted no-grant plugin writes, straight to fd 3, a prebuilt ContextSet frame to a key it may not write
// whose value is a MessagePack map of 480 000 distinct 4-character keys (≈ 2.9 MB, 960 001 nodes: under
// MAX_VALUE_NODES), one every 900 ms (≈ 3.2 MiB/s: under the byte rate; 1.1 requests/s: under the request pace), and
// drains the PermissionDenied answers itself. The host decodes every value in full (msgpackr Map, then toPlain's
// object of 480 000 keys) BEFORE the refusal: ≈ 160 ms of CPU per MiB, ≈ 450 ms per frame in one piece on the host's
// main thread. Measured (load ≈ 6, both backends): host CPU 1 400–1 800 ms per 3 s over idle (≈ 50–60 % of a core)
// vs the plugin's own 130–140 ms (10–13×), host read 5.5–8.3 MiB; Active, 0 violations.
// Asserted (a ratio of CPU, not wall time): host CPU over idle < max(300 ms, 4 × the plugin's), or the plugin is ended.
// Fixed in IpcChannel (ipc): under a request byte rate each decoded value costs 128 bytes of it (DECODED_NODE_BYTES),
// so the first such map ends an untrusted plugin with TooManyRequests.
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const ENTRIES = 480_000;
const NAP_MS = 900;
const flooder = `import fs from 'node:fs';
let stop = false;
const nap = new Int32Array(new SharedArrayBuffer(4));
const KIND = 18;
const N = ${ENTRIES};
const key = Buffer.from('nope');
// MessagePack [key, map32 of N entries "xxxx" -> 0]: 6 bytes an entry, each a distinct 4-character key.
const head = Buffer.concat([Buffer.from([0x92, 0xa0 | key.length]), key, Buffer.from([0xdf, 0, 0, 0, 0])]);
head.writeUInt32BE(N, head.length - 4);
const entries = Buffer.alloc(N * 6);
for (let i = 0; i < N; i++) { entries[i * 6] = 0xa4; entries.write(i.toString(36).padStart(4, '0'), i * 6 + 1, 'latin1'); entries[i * 6 + 5] = 0; }
const payload = Buffer.concat([head, entries]);
const frame = Buffer.alloc(10 + payload.length); frame.writeUInt32LE(6 + payload.length, 0); frame[4] = 1; frame[5] = KIND; payload.copy(frame, 10);
const sink = Buffer.alloc(65536);
export let sent = 0;
const run = () => {
  let id = 0x40000000;
  const end = Date.now() + 12000;
  while (Date.now() < end && !stop) {
    frame.writeUInt32LE(id++, 6);
    let at = 0;
    while (at < frame.length) { try { at += fs.writeSync(3, frame, at); } catch (e) { if (e.code !== 'EAGAIN') return; try { fs.readSync(3, sink, 0, 65536, null); } catch {} Atomics.wait(nap, 0, 0, 1); } }
    sent++;
    try { fs.readSync(3, sink, 0, 65536, null); } catch {}
    // ≈ 3 MiB a frame every ${NAP_MS} ms: under DEFAULT_REQUEST_BYTE_RATE (4 MiB/s).
    Atomics.wait(nap, 0, 0, ${NAP_MS});
  }
};
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  init() { setTimeout(run, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;
const scene = floodScene('audit-decode-cost', 'flooder', { flooder });
describe('audit: refused ContextSets whose values are maps of 480 000 tiny entries (≈ 3 MiB), under the byte rate', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: the host does not spend many times the plugin's CPU decoding them`, {
      timeout: 60_000,
    }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      const m = await measureFlood({ ...scene, sandbox: make(), settleMs: 1500 });
      const over = m.floodCpu - m.idleCpu;
      expect(
        !m.active || over < Math.max(300, 4 * m.pluginCpu),
        `host CPU over 3 s of refused ContextSets of ≈ 3 MiB maps: idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms (plugin ${m.pluginCpu} ms, host read ${(m.floodBytes / 1048576).toFixed(1)} MiB); the plugin still Active, ${m.violations} violations`,
      ).toBe(true);
    });
  }
});
