// Attacker (audit, session 7) — main 17b1111: a plugin writing its stdout/stderr ONE BYTE AT A TIME makes the host
// wake and read once per byte, for as long as it lives, and the output budget never stops it.
// - Before the budget: each read counts 1 byte against bytesPerWindow (1 MiB: ~a million reads a window) and, with no
//   newline, nothing against linesPerWindow.
// - Past the budget (registry/src/tiers/plugin-output.ts `drop`): the drain is paced by bytes — a 1-byte read never
//   spends a turn's 3.2 MB credit — and where it does pause, `stream.pause()` on a child's stdio socket does NOT stop
//   reading: Node keeps calling read() until highWaterMark (16 KiB) is buffered, i.e. 16 384 more one-byte reads, each
//   later emitted as its own 'data' event (net.Socket.pause() stops the handle only for `onread` sockets).
// Measured at load 10–20, untrusted plugin with no grants (sleeping 10 µs between writes with Atomics.wait): 18 000–30 000
// host read() calls and 350–570 ms host CPU per 3 s (idle ≈ 50), ≈ 0.8–1× the plugin's own CPU; both backends, both
// streams; the plugin stays Active. Standalone: a paused child stdout still takes ≈ 7 400 reads/s.
// Asserted on a count (load-proof): host read() syscalls during 3 s of the trickle stay within 2000 of 3 s idle (main, single stream, load 13–20: 6 500–10 000;
// both streams at once ≈ 20 000+), or the plugin is ended; the host still serves; nothing is left.
// Fixed in registry/src/tiers/plugin-output.ts: after a read under 16 KiB the pipe is held for 10 ms with its reading
// stopped (readStop: pause() alone keeps a pipe reading until 16 KiB are buffered).
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const trickler = (fd: number) => `import fs from 'node:fs';
let stop = false;
const one = Buffer.from('a');
const nap = new Int32Array(new SharedArrayBuffer(4));
const pump = () => {
  if (stop) return;
  const t = Date.now();
  while (Date.now() - t < 20) { try { fs.writeSync(${fd}, one); } catch {} Atomics.wait(nap, 0, 0, 0.01); }
  setImmediate(pump);
};
export default {
  name: 'trickler', version: '1.0.0', author: 'stranger',
  init() { setTimeout(pump, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

const scene = floodScene('audit-output-trickle', 'trickler', { fd1: trickler(1), fd2: trickler(2) });

describe('audit: a plugin writing its stdout/stderr one byte at a time', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it.for(['fd1', 'fd2'])(
      `${label}: %s — the host does not wake once per byte`,
      { timeout: 60_000 },
      async (fd, t) => {
        if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
        const m = await measureFlood({
          ...scene,
          flooder: scene.variants[fd] as string,
          sandbox: make(),
          settleMs: 500,
        });
        expect(
          !m.active || m.floodReads < m.idleReads + 2000,
          `host read() calls over 3 s: idle ${m.idleReads}, one-byte trickle ${m.floodReads}; host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms (plugin ${m.pluginCpu} ms); the plugin still Active`,
        ).toBe(true);
      },
    );
  }
});
