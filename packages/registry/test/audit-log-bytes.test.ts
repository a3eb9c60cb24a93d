// Attacker (audit, session 7) — main 17b1111: dropped log lines are paced by COUNT (DEFAULT_DROPPED_LOG_RATE: 256/s,
// burst 5000 — s6 #4's fix), never by size. A Log frame may be as large as the frame limit (16 MiB) although the host
// shows at most MAX_LOG_MESSAGE_CHARS (2000) of it, and the log budget (64 KiB/s, burst 1 MiB) drops it anyway. An
// untrusted plugin with no grants calling `rt.log('info', oneMiBString)` every 10 ms (≈ 100 MiB/s, far below 256 lines/s)
// makes the host read, join, decode and drop ≈ 100 MiB/s: measured at load ≈ 31, host CPU 480–510 ms per 3 s over idle
// (≈ 17 % of a core) against the plugin's own 140–230 ms (the host works 2–3.4× harder than the attacker), the plugin
// Active, one violation. N plugins: N × that.
// Asserted on a count (load-proof): the bytes the host read() over 3 s of the flood (`rchar` of /proc/self/io; main:
// 132–258 MiB) stay under 48 MiB, or the plugin is ended; the host still serves; nothing is left.
// Proposed fix (ipc process-client.ts `#serve`, Log branch; ipc channel/frame): (1) a Log frame longer than a small cap
// (64 KiB: 30× what the host shows) is a protocol violation, judged from its header before the payload is read; and
// (2) a dropped line takes ceil(bytes / 4 KiB) tokens of the dropped-log pacer, not one, so past ≈ 1 MiB/s of dropped
// lines (20 MiB at once) the plugin ends with TooManyRequests, as a count flood does.
// Fixed by (2): a dropped line counts once per 4 KiB of it against DEFAULT_DROPPED_LOG_RATE (ipc process-client.ts).
import { beforeAll, expect, it } from 'vitest';
import { floodScene, measureFlood, sandboxOrReason } from './helpers.js';

let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;

const flooder = `let stop = false;
const big = 'x'.repeat(1024 * 1024);
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  init(ctx, rt) {
    const pump = () => { if (stop) return; rt.log('info', big); setTimeout(pump, 10); };
    setTimeout(pump, 100);
  },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

const scene = floodScene('audit-log-bytes', 'flooder', { flooder });
beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
});

it('megabyte log lines past the log budget are not read and dropped at the plugin’s rate', {
  timeout: 60_000,
}, async (t) => {
  if (!sandbox) return t.skip(`no sandbox here: ${reason}`);
  const m = await measureFlood({ ...scene, sandbox, settleMs: 1000 });
  expect(
    !m.active || m.floodBytes < 48 * 1024 * 1024,
    `host read ${(m.floodBytes / 1048576).toFixed(0)} MiB in 3 s of 1 MiB log lines; host CPU idle ${Math.round(m.idleCpu)} ms vs ${Math.round(m.floodCpu)} ms (plugin ${m.pluginCpu} ms); the plugin still Active`,
  ).toBe(true);
});
