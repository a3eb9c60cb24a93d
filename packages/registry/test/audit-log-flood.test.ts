// Attacker (audit, session 6) — main 37d16eb: dropped log lines are work the host does at the plugin's rate. Every
// plugin→host request is paced (DEFAULT_REQUEST_RATE) except log lines, which "keep their own budget" (LogLimiter:
// 200 lines/s, burst 2000). But past that budget each line is still a request the host decodes, judges, answers with
// `QuotaExceeded` and writes back — unpaced. An untrusted plugin with no grants calling `rt.log` 14 times per
// millisecond (slow enough that the channel's queue never overflows into `TooManyRequests`) keeps the host busy in
// proportion to its own CPU, for as long as it lives: measured at load ≈ 20, host CPU idle ≈ 60 ms vs 450–590 ms per
// 3 s of flood (≈ 15–18 % of a core; the plugin's own cgroup 375–480 ms), plugin Active, one violation (the first drop).
// Asserted: the plugin is ended, or the host's CPU over 5 s of flood stays within 250 ms (5 % of a core) of 5 s idle
// (with the fix below this flooder overflows the queue and ends with TooManyRequests).
// Expected fix (process-client.ts `#serve`): a log line the LogLimiter drops takes a token of the request pacer and
// waits when there is none, like any other request — a plugin within its log budget is never paced; past it, dropped
// lines cost the host at most the request pace (and a plugin that goes on past the queue ends with TooManyRequests).
import { beforeAll, expect, it } from 'vitest';
import { floodScene, measureFlood, sandboxOrReason } from './helpers.js';

let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;

const flooder = `let stop = false;
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  init(ctx, rt) {
    const pump = () => { if (stop) return; for (let i = 0; i < 14; i++) rt.log('info', 'x'); setTimeout(pump, 1); };
    setTimeout(pump, 100);
  },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

const scene = floodScene('audit-log-flood', 'flooder', { flooder });
beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
});

it('dropped log lines past the log budget do not cost the host CPU at the plugin’s rate', {
  timeout: 60_000,
}, async (t) => {
  if (!sandbox) return t.skip(`no sandbox here: ${reason}`);
  const m = await measureFlood({ ...scene, sandbox, settleMs: 1000, windowMs: 5000 });
  expect(
    !m.active || m.floodCpu < m.idleCpu + 250,
    `host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms over 5 s of dropped log lines; the plugin still Active`,
  ).toBe(true);
});
