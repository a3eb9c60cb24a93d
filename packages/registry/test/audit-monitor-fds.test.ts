// The attacker's side of the monitor's descriptor counting: a sandboxed untrusted plugin without a network grant (its
// connections are never counted) holds every descriptor it can get — once a listening unix socket in its scratch and
// connected pairs (no sandbox makes a unix socket now: refused), now as many opens of /dev/null as the kernel lets it. The kernel caps it (RLIMIT_NOFILE = its fd limit + the runtime's
// allowance), and a monitor reading that counts descriptors shows them; the host still serves and nothing is left
// after close.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_FILE_DESCRIPTORS,
  PluginRegistry,
  type PluginSecurity,
  RUNTIME_ALLOWANCE,
} from '../dist/index.js';
import {
  dec,
  enc,
  Fixtures,
  leftovers,
  ownTmpDir,
  pidAlive,
  sandboxOrReason,
  tempDir,
  until,
} from './helpers.js';

const tmp = tempDir('audit-monitor-fds');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-monitor-fds');
let security: PluginSecurity;
let probe = '';
let hoarder = '';

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

const hoarderSource = `import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
let RT;
const held = [];
let result = 'none';
export default {
  name: 'audit-hoard', version: '1.0.0', author: 'audit',
  async init(_ctx, rt) {
    RT = rt;
    // A unix socket (a listening one in its scratch) was the cheap way to hold descriptors: it may make none now.
    const file = os.tmpdir() + '/hoard.sock';
    const server = net.createServer((s) => held.push(s));
    const unix = await new Promise((r) => { server.once('error', (e) => r(e.code || e.message)); server.listen(file, () => r('listening')); });
    let pairs = 0; let error = '';
    for (let i = 0; i < 5000; i++) {
      try { held.push(fs.openSync('/dev/null', 'r')); pairs++; } catch (e) { error = e.code || e.message; break; }
    }
    // Two descriptors back, to count them (listing /proc/self/fd needs one).
    for (const fd of held.splice(-2)) fs.closeSync(fd);
    let fds = -1; try { fds = fs.readdirSync('/proc/self/fd').length; } catch (e) { error += ' count:' + (e.code || e.message); }
    result = JSON.stringify({ unix, pairs, error, fds });
  },
  registerHooks(h) { h.register('audit.hoard', 300, () => new TextEncoder().encode(result)); },
};
`;

beforeAll(async () => {
  ownTmp.use();
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  hoarder = await fx.js('hoard.mjs', hoarderSource, { name: 'audit-hoard', kind: 'js', keys: fx.stranger });
  await fx.trust(probe);
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

describe('audit: a plugin without a network grant hoarding descriptors', () => {
  it('is capped by the kernel (RLIMIT_NOFILE), and leaves nothing', async () => {
    const { sandbox } = await sandboxOrReason();
    if (!sandbox) return;
    const registry = new PluginRegistry({
      security,
      sandbox,
      tierOverrides: { 'audit-probe': 'in-process' },
      // The host grants it one hook and nothing else (no network).
      grants: { plugins: { 'audit-hoard': { hooks: [{ name: 'audit.hoard' }] } } },
      log: () => {},
    });
    let pid: number | undefined;
    try {
      await registry.loadPlugin(probe, 'trusted');
      await registry.loadPlugin(hoarder, 'untrusted');
      pid = registry.getPluginInfo('audit-hoard')?.pid;
      const r = JSON.parse(dec.decode(await registry.hooks.execute('audit.hoard', enc.encode('')))) as {
        unix: string;
        pairs: number;
        error: string;
        fds: number;
      };
      expect(r.unix, JSON.stringify(r)).toBe('EACCES');
      const cap = DEFAULT_MAX_FILE_DESCRIPTORS + RUNTIME_ALLOWANCE.fileDescriptors;
      // The goal: more descriptors than its limit.
      expect(r.error, JSON.stringify(r)).toMatch(/^(EMFILE|ENFILE)$/);
      expect(r.fds, JSON.stringify(r)).toBeGreaterThan(0);
      expect(r.fds, JSON.stringify(r)).toBeLessThanOrEqual(cap);
      expect(r.pairs).toBeGreaterThan(0);
      // What the monitor reads of it. (Sandboxed plugins' readings come from the cgroup: descriptors are not among
      // them, so the kernel's cap above is what bounds them; where a reading has them, they must not be hidden.)
      const m = await registry.getMetrics('audit-hoard');
      if (m.fileDescriptors !== undefined) expect(m.fileDescriptors).toBeGreaterThanOrEqual(r.fds - 2);
      expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    } finally {
      await registry.close();
    }
    if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, 'the plugin process to end');
    expect(leftovers('audit-hoard', ownTmp.dir)).toEqual([]);
  });
});
