// Attacker (audit, session 6) — main 37d16eb: a plugin's stdout/stderr past its output budget are still read, at the
// plugin's rate, and dropped (registry/src/tiers/plugin-output.ts: "Reads one output pipe of a plugin process to its end,
// so the plugin never stalls on a full pipe"; while suppressed each 64 KiB read is even decoded to a string first).
// An untrusted plugin with no grants writing 1 MiB to fd 1 (or 2) in a loop made the host spend 600–1400 ms of CPU per
// 3 s against an idle ≈ 50 ms (20–47 % of a core, more than the plugin's own ≈ 180 ms: the host works harder than the
// attacker), for as long as it lives; the plugin stays Active (one violation per 60 s window). Both backends.
// Asserted, as the request-flood attack does: the plugin is ended, or the host's CPU over 3 s of the flood stays within
// 400 ms of 3 s idle; the host still serves; nothing is left.
// Expected fix: past the budget, stop reading the pipe until the window ends (`stream.pause()`, resumed by a timer at
// the window's end; `end`/`close` still clean up) — the plugin's own writes then block (a pipe is synchronous on Linux),
// which costs only the plugin: a plugin blocked on its output misses its hook budgets like any stuck plugin.
import { describe, expect, it } from 'vitest';
import { backendRunsHere, floodScene, measureFlood, SANDBOX_BACKENDS } from './helpers.js';

const flooder = (fd: number) => `import fs from 'node:fs';
let stop = false;
const big = Buffer.alloc(1 << 20, 0x61);
const pump = () => { if (stop) return; try { fs.writeSync(${fd}, big); } catch {} setImmediate(pump); };
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  init() { setTimeout(pump, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

const scene = floodScene('audit-output-flood', 'flooder', { fd1: flooder(1), fd2: flooder(2) });

describe('audit: a plugin flooding its stdout/stderr past its output budget', () => {
  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it.for(['fd1', 'fd2'])(
      `${label}: %s — the host does not read and drop at the plugin's rate`,
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
          !m.active || m.floodCpu < m.idleCpu + 400,
          `host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms over 3 s of output flood; the plugin still Active`,
        ).toBe(true);
      },
    );
  }
});
