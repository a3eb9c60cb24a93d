// Attacker (found by the audit helper, session 5): replaying the cancel of an answered request.
// 8bc0ecd ends a plugin that cancels an id it never sent, but accepts a cancel of an id the host answered lately
// (#recentlyEnded) — and keeps accepting it: the id stays in the set after its cancel. An untrusted sandboxed plugin
// with NO grants makes one request (ctx.has, id 1 — ids are sequential from 1), then writes cancel frames of id 1 on
// fd 3 as fast as the socket takes them. Since the fix: a cancel takes its id out of #recentlyEnded (one
// cancel per answered request, so cancels are paced with the requests), and the second cancel of id 1 ends the
// plugin (UnknownRequestId); the host's CPU stays near idle; the trusted plugin still answers; no process is left.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-cancel-replay');
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

// From init on, until shutdown: 1 MiB of cancel frames (ids it never sent requests for) per write, retried on EAGAIN.
const flooder = `import fs from 'node:fs';
let stop = false;
const frames = Buffer.alloc(100000 * 10);
// Every frame cancels the same id: the plugin's own first request (id 1), answered a moment ago.
for (let i = 0; i < 100000; i++) { frames.writeUInt32LE(6, i * 10); frames[i * 10 + 4] = 3; frames[i * 10 + 5] = 0; frames.writeUInt32LE(1, i * 10 + 6); }
let off = 0;
const pump = () => {
  if (stop) return;
  // A partial write (a non-blocking socket) continues where it stopped: frames stay whole on the wire.
  try { off = (off + fs.writeSync(3, frames, off)) % frames.length; } catch {}
  setImmediate(pump);
};
export default {
  name: 'flooder', version: '1.0.0', author: 'stranger',
  async init(ctx) { try { await ctx.has('x'); } catch {} setTimeout(pump, 100); },
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

describe('audit: plugin→host cancel flood', () => {
  it('an untrusted no-grant plugin cannot keep the host decoding cancel frames at full speed', async (t) => {
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
      // The plugin's own CPU, for the message (NaN once it is gone: ended at its replayed cancel).
      const cg = (): number => {
        try {
          for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
            const [, c = '', rel = ''] = line.split(':');
            if (c.split(',').includes('cpuacct'))
              return Number(fs.readFileSync(`/sys/fs/cgroup/${c}${rel}/cpuacct.usage`, 'utf8')) / 1e6;
          }
        } catch {}
        return Number.NaN;
      };
      const p0 = cg();
      const flood = await hostCpu(r, 3000);
      const pluginMs = cg() - p0;
      const ended = r.getPluginInfo('flooder')?.status !== 'Active';
      // Before the fix: the host decoded every replayed cancel, the plugin stayed Active.
      expect(
        ended || flood < idle + 400,
        `host CPU idle ${idle} ms vs flood ${flood} ms over 3 s (the plugin's own cgroup: ${pluginMs.toFixed(0)} ms); still Active`,
      ).toBe(true);
    } finally {
      await r.close();
    }
    if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, 'the flooder to be gone');
  }, 60_000);
});
