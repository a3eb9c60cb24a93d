// audit s10 #4: what an untrusted plugin with NO network grant learns of the host's network
// from procfs. Under Landlock the launcher grants read of `/proc/<its pid>` (procSelf), and `/proc/<pid>/net/*` shows
// the network namespace of that process — the host's, since Landlock makes none: every listening port and open
// connection of every host process (`tcp`, `tcp6`, `udp`), every Unix socket path (`unix`), the routing table, ARP
// neighbours, interface addresses (`fib_trie`). The README's list of what Landlock can't hide names the pid, the mount
// table and the cgroup path — not this. Expected: an `isolated` plugin sees no host socket (as under bubblewrap, whose
// network namespace is empty). The host listens on a TCP port and a Unix socket with a unique name for the check.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  leftovers,
  NO_GRANTS,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-procnet');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('audit-procnet');
const marker = `pwaudit-${process.pid}-${Date.now()}`;
let security: PluginSecurity;
let probe = '';
let plugin = '';

const source = `import fs from 'node:fs';
export default {
  name: 'audit-procnet', version: '1.0.0', author: 'a stranger',
  init() {},
  registerHooks(h) {
    h.register('audit.procnet', 300, () => {
      const out = {};
      for (const f of ['tcp', 'tcp6', 'unix', 'route', 'fib_trie', 'arp']) {
        try { out[f] = fs.readFileSync('/proc/self/net/' + f, 'utf8'); } catch (e) { out[f] = 'ERR:' + (e.code ?? e.message); }
      }
      return new TextEncoder().encode(JSON.stringify(out));
    });
  },
};
`;

beforeAll(async () => {
  ownTmp.use();
  probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(probe);
  plugin = await fx.js('procnet.mjs', source, {
    name: 'audit-procnet',
    kind: 'js',
    keys: fx.stranger,
    requirements: NO_GRANTS(),
  });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

describe('audit: an isolated plugin does not see the host network state in procfs', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      // Host services: a TCP listener and a Unix socket with the marker in its path.
      const tcp = net.createServer(() => {});
      await new Promise<void>((res) => tcp.listen(0, '127.0.0.1', res));
      const port = (tcp.address() as net.AddressInfo).port;
      const sockPath = path.join(tmp.dir, `${marker}.sock`);
      const unix = net.createServer(() => {});
      await new Promise<void>((res) => unix.listen(sockPath, res));
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: { plugins: { 'audit-procnet': { hooks: [{ name: 'audit.procnet' }] } } },
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      let pid: number | undefined;
      let seen: Record<string, string> = {};
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(plugin, 'untrusted');
        pid = registry.getPluginInfo('audit-procnet')?.pid;
        seen = JSON.parse(dec.decode(await registry.hooks.execute('audit.procnet', enc.encode(''))));
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
        await new Promise<void>((res) => tcp.close(() => res()));
        await new Promise<void>((res) => unix.close(() => res()));
        fs.rmSync(sockPath, { force: true });
      }
      const portHex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
      const leaks = {
        hostTcpListener: (seen.tcp ?? '').includes(portHex),
        hostUnixSocketPath: (seen.unix ?? '').includes(marker),
        unixSockets: (seen.unix ?? '').split('\n').filter((l) => l.includes('/')).length,
        routes: (seen.route ?? '').split('\n').length - 2,
      };
      expect(leaks, `${label}: ${JSON.stringify(leaks)}`).toEqual({
        hostTcpListener: false,
        hostUnixSocketPath: false,
        unixSockets: 0,
        routes: expect.any(Number),
      });
      if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
      expect(leftovers('audit-procnet', ownTmp.dir)).toEqual([]);
    },
    60_000,
  );
});
