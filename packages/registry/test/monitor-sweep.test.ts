// The monitor sweep (issue 17): it reads shared tables once and yields to the event loop, and it still catches what a
// hostile or broken plugin does between hook calls — memory it holds, connections it keeps open (under a `full`
// network grant) — at the process tier, from the attacker's side: the plugin's goal fails (it is unmounted), the host
// still serves, and its process is gone.
import { readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOURCE_LIMITS,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import {
  dec,
  enc,
  FAST_UNMOUNT,
  Fixtures,
  NO_GRANTS,
  pidAlive,
  sandboxOrReason,
  tempDir,
} from './helpers.js';

const MEMHOG = `
export default {
  name: 'memhog', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('hog', 200, async () => {
      // Off the V8 heap and touched, so it is resident: 160 MiB over a 16 MiB limit (+ the runtime's allowance).
      globalThis.kept = Buffer.alloc(160 * 1024 * 1024, 7);
      return new TextEncoder().encode('holding');
    });
  },
  shutdown() {},
};
`;

const HOARDER = `
const dec = new TextDecoder();
const kept = [];
export default {
  name: 'hoarder', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('hoard', 200, async (d) => {
      const net = await import('node:net');
      const port = Number(dec.decode(d));
      for (let i = 0; i < 12; i++) {
        await new Promise((resolve, reject) => {
          const s = net.connect(port, '127.0.0.1', resolve);
          s.on('error', reject);
          kept.push(s);
        });
      }
      return new TextEncoder().encode('hoarding ' + kept.length);
    });
  },
  shutdown() {},
};
`;

const ECHO = `
export default {
  name: 'echo', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) { await h.register('echo', 200, (d) => d); },
  shutdown() {},
};
`;

const tmp = tempDir('sweep');
const fx = new Fixtures(tmp.dir);
let memhog: string;
let hoarder: string;
let echo: string;
/** Six echo plugins of their own names, for the kept-files test. */
const KEPT = ['kept-a', 'kept-b', 'kept-c', 'kept-d', 'kept-e', 'kept-f'];
const kept: string[] = [];
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
let server: net.Server;
let port = 0;
const accepted: net.Socket[] = [];

beforeAll(async () => {
  memhog = await fx.js('memhog.mjs', MEMHOG, {
    name: 'memhog',
    kind: 'js',
    limits: { maxHeapBytes: 16 * 1024 * 1024 },
  });
  await fx.trust(memhog);
  hoarder = await fx.js('hoarder.mjs', HOARDER, {
    name: 'hoarder',
    kind: 'js',
    limits: { maxConnections: 4 },
    requirements: { ...NO_GRANTS(), network: { mode: 'full' } },
  });
  await fx.trust(hoarder);
  echo = await fx.js('echo.mjs', ECHO, { name: 'echo', kind: 'js' });
  await fx.trust(echo);
  for (const name of KEPT) {
    const file = await fx.js(`${name}.mjs`, ECHO.replace("'echo'", `'${name}'`), { name, kind: 'js' });
    await fx.trust(file);
    kept.push(file);
  }
  security = await fx.security();
  ({ sandbox, reason } = await sandboxOrReason());
  server = net.createServer((s) => {
    accepted.push(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
});
afterAll(async () => {
  for (const s of accepted) s.destroy();
  await new Promise((r) => server.close(r));
  tmp.remove();
});

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}

describe('the registry monitor sweep', () => {
  it('catches a plugin holding memory past its limit between calls, unmounts it, and the host still serves', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      // Its one allocating call may take longer than the default 1 s call budget on a loaded machine.
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 5000 },
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const violations: RegistryEvents['violation'][] = [];
    const unloaded: RegistryEvents['unloaded'][] = [];
    registry.on('violation', (v) => violations.push(v));
    registry.on('unloaded', (u) => unloaded.push(u));
    await registry.loadPlugin(memhog, 'trusted');
    await registry.loadPlugin(echo, 'trusted');
    const pid = registry.getPluginInfo('memhog')?.pid as number;
    expect(dec.decode(await registry.hooks.execute('hog', new Uint8Array()))).toBe('holding');
    const monitor = registry.startResourceMonitor(30);
    await until(() => unloaded.length > 0);
    monitor.stop();
    expect(violations.filter((v) => v.name === 'memhog').map((v) => v.violation.type)).toContain(
      'HeapMemory',
    );
    expect(violations.some((v) => v.name === 'echo')).toBe(false);
    expect(unloaded).toEqual([{ name: 'memhog', reason: 'violations' }]);
    await until(() => !pidAlive(pid), 5000);
    expect(pidAlive(pid)).toBe(false);
    expect(dec.decode(await registry.hooks.execute('echo', enc.encode('still here')))).toBe('still here');
  });

  it.each(['process', 'sandbox'] as const)(
    'counts the connections of a plugin with a full network grant and unmounts it past its limit (%s)',
    async (tier) => {
      if (tier === 'sandbox' && !sandbox) {
        console.warn(`!!! SKIPPED: sandbox unsupported here (${reason})`);
        return;
      }
      await using registry = new PluginRegistry({
        security,
        defaultTier: 'process',
        tierOverrides: { hoarder: tier },
        ...(sandbox ? { sandbox } : {}),
        unmountBehavior: FAST_UNMOUNT,
        log: () => {},
      });
      const violations: RegistryEvents['violation'][] = [];
      const unloaded: RegistryEvents['unloaded'][] = [];
      registry.on('violation', (v) => violations.push(v));
      registry.on('unloaded', (u) => unloaded.push(u));
      await registry.loadPlugin(hoarder, 'trusted');
      await registry.loadPlugin(echo, 'trusted');
      expect(registry.getPluginInfo('hoarder')?.tier).toBe(tier);
      const pid = registry.getPluginInfo('hoarder')?.pid as number;
      const before = accepted.length;
      expect(dec.decode(await registry.hooks.execute('hoard', enc.encode(String(port))))).toBe('hoarding 12');
      const monitor = registry.startResourceMonitor(30);
      await until(() => unloaded.length > 0);
      monitor.stop();
      const conns = violations.filter((v) => v.name === 'hoarder' && v.violation.type === 'Connections');
      expect(conns.length).toBeGreaterThan(0);
      expect(conns[0]?.violation).toMatchObject({ type: 'Connections', used: 12, limit: 4 });
      expect(unloaded).toEqual([{ name: 'hoarder', reason: 'violations' }]);
      await until(() => !pidAlive(pid), 5000);
      expect(pidAlive(pid)).toBe(false);
      // Its connections died with it.
      await until(() => accepted.slice(before).every((s) => s.destroyed || s.readableEnded), 5000);
      expect(accepted.slice(before).every((s) => s.destroyed || s.readableEnded)).toBe(true);
      expect(dec.decode(await registry.hooks.execute('echo', enc.encode('ok')))).toBe('ok');
    },
  );
});

/** The host's open fds, and which of them are files under /proc/<pid>/ of `pids`. */
function hostFds(pids: readonly number[] = []): { count: number; onPids: string[] } {
  const onPids: string[] = [];
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    count++;
    let link: string;
    try {
      link = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue; // the directory's own fd, closed by now
    }
    const m = /^\/proc\/(\d+)\//.exec(link);
    if (m && pids.includes(Number(m[1]))) onPids.push(link);
  }
  return { count, onPids };
}

describe('the registry monitor keeps the /proc files it reads open', () => {
  it('two per process-tier plugin while monitored; none after unload, exit and close', async () => {
    const before = hostFds().count;
    const registry = new PluginRegistry({ security, defaultTier: 'process', log: () => {} });
    let pids: number[] = [];
    try {
      for (const file of kept.slice(0, -1)) await registry.loadPlugin(file, 'trusted');
      const monitor = registry.startResourceMonitor(20);
      const first = KEPT.slice(0, -1).map((n) => registry.getPluginInfo(n)?.pid as number);
      await until(() => hostFds(first).onPids.length === 2 * first.length);
      // A plugin started while the host holds the others' /proc files doesn't inherit them (close-on-exec).
      await registry.loadPlugin(kept.at(-1) as string, 'trusted');
      const last = registry.getPluginInfo(KEPT.at(-1) as string)?.pid as number;
      const inherited = readdirSync(`/proc/${last}/fd`)
        .map((fd) => {
          try {
            return readlinkSync(`/proc/${last}/fd/${fd}`);
          } catch {
            return '';
          }
        })
        .filter((l) => l.startsWith('/proc/'));
      expect(inherited).toEqual([]);
      pids = [...first, last];
      const loaded = hostFds().count - 2 * first.length;
      // Every plugin read once: its stat and fd directory are open in the host.
      await until(() => hostFds(pids).onPids.length === 2 * pids.length);
      const open = hostFds(pids);
      expect(open.onPids.sort()).toEqual(pids.flatMap((p) => [`/proc/${p}/fd`, `/proc/${p}/stat`]).sort());
      expect(open.count - loaded).toBe(2 * pids.length);
      // Unloaded: its files are closed (its process ended) while the monitor goes on reading the others.
      await registry.unloadPlugin('kept-a');
      await registry.unloadPlugin('kept-b');
      await until(() => hostFds(pids).onPids.length === 2 * (pids.length - 2));
      expect(hostFds(pids).onPids.some((l) => l.startsWith(`/proc/${pids[0]}/`))).toBe(false);
      // A plugin process that dies on its own: the same.
      process.kill(pids[2] as number, 'SIGKILL');
      await until(() => hostFds(pids).onPids.length === 2 * (pids.length - 3));
      expect(hostFds(pids).onPids.some((l) => l.startsWith(`/proc/${pids[2]}/`))).toBe(false);
      monitor.stop();
    } finally {
      await registry.close();
    }
    expect(hostFds(pids).onPids).toEqual([]);
    await until(() => hostFds().count <= before);
    expect(hostFds().count).toBeLessThanOrEqual(before);
  });
});

describe('the registry monitor keeps the cgroup files it reads open', () => {
  /** The host's fds on cgroup files of groups named for `names` (`cgroupName` starts with the plugin's name). */
  function cgroupFds(names: readonly string[]): string[] {
    const out: string[] = [];
    for (const fd of readdirSync('/proc/self/fd')) {
      let link: string;
      try {
        link = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue;
      }
      if (link.startsWith('/sys/fs/cgroup/') && names.some((n) => link.includes(`/${n}-`))) out.push(link);
    }
    return out;
  }

  it('per sandboxed plugin while monitored, closed when it is unloaded and at close', async () => {
    if (!sandbox) {
      console.warn(`!!! SKIPPED: sandbox unsupported here (${reason})`);
      return;
    }
    const names = KEPT.slice(0, 3);
    const registry = new PluginRegistry({ security, defaultTier: 'sandbox', sandbox, log: () => {} });
    try {
      for (const file of kept.slice(0, 3)) await registry.loadPlugin(file, 'trusted');
      expect(names.map((n) => registry.getPluginInfo(n)?.tier)).toEqual(['sandbox', 'sandbox', 'sandbox']);
      expect(cgroupFds(names)).toEqual([]);
      const monitor = registry.startResourceMonitor(20);
      await until(() => names.every((n) => cgroupFds([n]).length > 0));
      const perPlugin = names.map((n) => cgroupFds([n]).length);
      expect(perPlugin.every((k) => k >= 1 && k === perPlugin[0])).toBe(true);
      // Its readings are the group's: memory and tasks of a running Node.
      const m = await registry.getMetrics(names[1] as string);
      expect(m.source).toMatch(/^cgroup-v/);
      expect(m.memoryBytes).toBeGreaterThan(1024 * 1024);
      await registry.unloadPlugin(names[0] as string);
      await until(() => cgroupFds([names[0] as string]).length === 0);
      expect(cgroupFds([names[0] as string])).toEqual([]);
      expect(cgroupFds(names.slice(1)).length).toBe(2 * (perPlugin[0] as number));
      monitor.stop();
    } finally {
      await registry.close();
    }
    await until(() => cgroupFds(names).length === 0);
    expect(cgroupFds(names)).toEqual([]);
  });
});

describe('the registry monitor follows the registry', () => {
  it('watches a plugin loaded after it started, and an unmount behaviour set later', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 5000 },
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const violations: RegistryEvents['violation'][] = [];
    const unloaded: RegistryEvents['unloaded'][] = [];
    registry.on('violation', (v) => violations.push(v));
    registry.on('unloaded', (u) => unloaded.push(u));
    const monitor = registry.startResourceMonitor(30);
    await registry.loadPlugin(memhog, 'trusted');
    registry.setUnmountBehavior('memhog', { ...FAST_UNMOUNT, autoUnmount: false });
    expect(dec.decode(await registry.hooks.execute('hog', new Uint8Array()))).toBe('holding');
    // Past the threshold (10) with autoUnmount off: counted, announced as not unmounting, still loaded.
    await until(() => registry.getViolationCount('memhog') >= 12);
    expect(registry.getViolationCount('memhog')).toBeGreaterThanOrEqual(12);
    expect(violations.every((v) => v.name === 'memhog' && !v.willUnmount)).toBe(true);
    expect(unloaded).toEqual([]);
    // Turned on: the next reading unmounts it, through the registry's unload path.
    registry.setUnmountBehavior('memhog', FAST_UNMOUNT);
    await until(() => unloaded.length > 0);
    monitor.stop();
    expect(unloaded).toEqual([{ name: 'memhog', reason: 'violations' }]);
    expect(violations.filter((v) => v.willUnmount)).toHaveLength(1);
    expect(registry.getPluginInfo('memhog')?.status).toBe('Inactive');
  });
});
