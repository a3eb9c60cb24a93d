// Attacker (found by the audit helper, session 5): a plugin→host request flood.
// An untrusted sandboxed plugin with NO grants keeps 200 context requests in flight forever (each refused or answered
// `false`). The log has a rate budget (DEFAULT_LOG_BUDGET); context requests had none: the host spent ≈ 40 % of a core
// serving it, indefinitely, with no violation, and its event loop p99 delay grows 9 → 50–80 ms. Goal of the attacker:
// make the host spend unbounded CPU on its behalf. Since the fix every plugin→host request is paced
// (`PluginQuotaOptions.requestRate`, default 2000/s): the host's CPU over the flood stays near its idle cost; the
// trusted plugin still answers; no plugin process is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-request-flood');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
const files: Record<string, string> = {};

const probe = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};`;

// 200 loops of ctx.has on a key it was not granted, from init on, until shutdown.
const flooder = `let stop = false;
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  async init(ctx) {
    const loop = async () => { while (!stop) { try { await ctx.has('x'); } catch {} } };
    for (let i = 0; i < 200; i++) loop();
  },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  files.probe = await fx.js('probe.mjs', probe, { name: 'audit-probe', kind: 'js' });
  await fx.trust(files.probe);
  files.flood = await fx.js('flood.mjs', flooder, {
    name: 'flooder',
    kind: 'js',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

/** Host CPU (ms) over `ms` of wall time while calling the trusted probe every 10 ms. */
async function hostCpu(r: PluginRegistry, ms: number): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    expect(dec.decode(await r.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    await new Promise((res) => setTimeout(res, 10));
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

describe('audit: plugin→host request flood', () => {
  it('an untrusted no-grant plugin cannot keep the host serving refused requests at full speed', async (t) => {
    if (!sandbox) return t.skip(`no sandbox here: ${reason}`);
    const r = new PluginRegistry({
      security,
      sandbox,
      policy: { onlyTrusted: false },
      tierOverrides: { 'audit-probe': 'in-process' },
      log: () => {},
    });
    let pid: number | undefined;
    try {
      await r.loadPlugin(files.probe as string, 'trusted');
      const idle = await hostCpu(r, 3000);
      await r.loadPlugin(files.flood as string, 'untrusted');
      pid = r.getPluginInfo('flooder')?.pid;
      await new Promise((res) => setTimeout(res, 500));
      const flood = await hostCpu(r, 3000);
      const ended = r.getPluginInfo('flooder')?.status !== 'Active';
      // Before the fix: idle ≈ 100 ms, flood ≈ 700–1300 ms of host CPU per 3 s, and the plugin stayed Active.
      expect(
        ended || flood < idle + 400,
        `host CPU idle ${idle} ms vs flood ${flood} ms over 3 s; still Active`,
      ).toBe(true);
    } finally {
      await r.close();
    }
    if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, 'the flooder to be gone');
  }, 60_000);
});
