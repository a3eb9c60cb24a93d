// Attacker (found by the audit helper, session 5): an untrusted sandboxed plugin with NO grants makes the host work at
// whatever rate it writes — host CPU on its behalf, unbounded in time. Every frame kind it can send must be bounded:
// - requests: 200 loops of `await ctx.has('x')` (refused: not granted). Before the fix the host spent ≈ 40 % of a core
//   serving them (idle ≈ 100 ms, flood ≈ 700–1300 ms of host CPU per 3 s), no violation, the plugin Active. Now every
//   plugin→host request is paced (`PluginQuotaOptions.requestRate`, default 2000/s; a refused one costs 20).
// - cancels of ids it never sent: 10-byte frames, 1 MiB per write (≈ 100 000 frames the host decodes one by one for
//   one syscall of the plugin). Before: idle ≈ 95 ms, flood ≈ 1050–1090 ms per 3 s. Now the first one ends the plugin
//   (`UnknownRequestId`).
// - the same cancel replayed: one request (id 1, ids are sequential), then its cancel over and over. Before: a cancel
//   of an id answered lately was accepted again and again (host 94 → 1955 ms per 3 s). Now a cancel is accepted once
//   per answered id; the second ends the plugin.
// Each case asserts: the host's CPU over the flood stays near its idle cost (or the plugin is ended), the trusted
// plugin still answers, and no plugin process is left.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-plugin-floods');
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

// Writes 1 MiB of cancel frames of the ids `idOf(i)` on fd 3 per turn, from shortly after init until shutdown; a
// partial write (a non-blocking socket) continues where it stopped, so frames stay whole on the wire.
const cancelFlooder = (idOf: string, init: string) => `import fs from 'node:fs';
let stop = false;
const frames = Buffer.alloc(100000 * 10);
for (let i = 0; i < 100000; i++) { frames.writeUInt32LE(6, i * 10); frames[i * 10 + 4] = 3; frames[i * 10 + 5] = 0; frames.writeUInt32LE(${idOf}, i * 10 + 6); }
let off = 0;
const pump = () => {
  if (stop) return;
  try { off = (off + fs.writeSync(3, frames, off)) % frames.length; } catch {}
  setImmediate(pump);
};
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  async init(ctx) { ${init} setTimeout(pump, 100); },
  registerHooks() {},
  shutdown() { stop = true; },
};`;

const FLOODERS = {
  'requests (200 loops of a refused ctx.has)': `let stop = false;
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  async init(ctx) {
    const loop = async () => { while (!stop) { try { await ctx.has('x'); } catch {} } };
    for (let i = 0; i < 200; i++) loop();
  },
  registerHooks() {},
  shutdown() { stop = true; },
};`,
  'cancels of ids it never sent': cancelFlooder('0x7f000000 + i', ''),
  'the cancel of its own answered request, replayed': cancelFlooder(
    '1',
    "try { await ctx.has('x'); } catch {}",
  ),
} as const;

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  files.probe = await fx.js('probe.mjs', probe, { name: 'audit-probe', kind: 'js' });
  await fx.trust(files.probe);
  let n = 0;
  for (const [name, source] of Object.entries(FLOODERS)) {
    files[name] = await fx.js(`flood${n++}.mjs`, source, {
      name: 'flooder',
      kind: 'js',
      keys: fx.stranger,
      requirements: NO_GRANTS(),
    });
  }
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

/** The plugin's own CPU from its cgroup, ms, for the message (NaN once it is gone). */
function pluginCpuMs(pid: number | undefined): number {
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
      const [, c = '', rel = ''] = line.split(':');
      if (c.split(',').includes('cpuacct'))
        return Number(fs.readFileSync(`/sys/fs/cgroup/${c}${rel}/cpuacct.usage`, 'utf8')) / 1e6;
    }
  } catch {}
  return Number.NaN;
}

describe('audit: a plugin flooding the host with frames', () => {
  it.for(Object.keys(FLOODERS))(
    '%s: the host does not work for it at full speed',
    { timeout: 60_000 },
    async (name, t) => {
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
        await r.loadPlugin(files[name] as string, 'untrusted');
        pid = r.getPluginInfo('flooder')?.pid;
        await new Promise((res) => setTimeout(res, 500));
        const p0 = pluginCpuMs(pid);
        const flood = await hostCpu(r, 3000);
        const pluginMs = pluginCpuMs(pid) - p0;
        const ended = r.getPluginInfo('flooder')?.status !== 'Active';
        expect(
          ended || flood < idle + 400,
          `host CPU idle ${idle} ms vs flood ${flood} ms over 3 s (the plugin's own cgroup: ${pluginMs.toFixed(0)} ms); still Active`,
        ).toBe(true);
      } finally {
        await r.close();
      }
      if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, 'the flooder to be gone');
    },
  );
});
