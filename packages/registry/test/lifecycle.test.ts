// Concurrency and lifecycle: concurrent loads of one name, unloading during a running hook, unloadAll during loads,
// close() leaving no child process, loading after close, and the registry's whole API surface (the Rust API reference's methods).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_UNMOUNT_BEHAVIOR,
  type IsolationTier,
  isPluginError,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import { dec, enc, FAST_UNMOUNT, Fixtures, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const plugin = (name: string) => `
const enc = new TextEncoder();
const dec = new TextDecoder();
let shutdowns = 0;
export default {
  name: '${name}', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('fast', 200, async (d) => enc.encode(dec.decode(d) + '+${name}'));
    await h.register('slow', 200, async (d) => {
      await new Promise((r) => setTimeout(r, 300));
      return enc.encode(dec.decode(d) + '+slow-${name}');
    });
  },
  shutdown() { shutdowns++; },
};
`;

const tmp = tempDir('life');
const fx = new Fixtures(tmp.dir);
const dir = path.join(tmp.dir, 'plugins');
const p: Record<string, string> = {};
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];

beforeAll(async () => {
  for (const n of ['alpha', 'beta', 'gamma']) {
    p[n] = await fx.js(`${n}.mjs`, plugin(n), { name: n, kind: 'js', limits: { maxThreads: 4 } }, 'plugins');
    await fx.trust(p[n]!);
  }
  p.stranger = await fx.js(
    'stranger.mjs',
    plugin('stranger'),
    { name: 'stranger', kind: 'js', keys: fx.stranger },
    'plugins',
  );
  security = await fx.security();
  ({ sandbox } = await sandboxOrReason());
});
afterAll(() => tmp.remove());

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'resolved';
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
}

/** Pids of this test process's direct children (plugin processes, bwrap). */
function children(): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') out.push(Number(d));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

describe('concurrency', () => {
  it.each(['in-process', 'process'] as IsolationTier[])(
    'two concurrent loads of one name (%s): exactly one AlreadyLoaded',
    async (tier) => {
      await using registry = new PluginRegistry({ security, defaultTier: tier, log: () => {} });
      const results = await Promise.allSettled([
        registry.loadPlugin(p.alpha!, 'trusted'),
        registry.loadPlugin(p.alpha!, 'trusted'),
      ]);
      const codes = results.map((r) =>
        r.status === 'fulfilled' ? r.value : isPluginError(r.reason) ? r.reason.code : String(r.reason),
      );
      expect(codes.sort()).toEqual(['AlreadyLoaded', 'alpha']);
      expect(registry.hooks.getHooks('fast')).toHaveLength(1);
      expect(dec.decode(await registry.hooks.execute('fast', enc.encode('')))).toBe('+alpha');
      // And a load of a name already Active.
      expect(await codeOf(registry.loadPlugin(p.alpha!, 'trusted'))).toBe('AlreadyLoaded');
      expect(registry.pluginCount()).toBe(1);
    },
  );

  it.for(['in-process', 'worker', 'process', 'sandbox'] as IsolationTier[])(
    'unloadPlugin during a running async hook (%s): that call settles cleanly, later calls skip the plugin',
    async (tier, ctx) => {
      if (tier === 'sandbox' && !sandbox)
        return ctx.skip('no sandbox on this machine (see the warning above)');
      await using registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
      await registry.loadPlugin(p.alpha!, 'trusted');
      await registry.loadPlugin(p.beta!, 'trusted');
      const running = registry.hooks.execute('slow', enc.encode('x')).then(
        (v) => ({ ok: true as const, out: dec.decode(v) }),
        (e: unknown) => ({ ok: false as const, e }),
      );
      await new Promise((r) => setTimeout(r, 50));
      await registry.unloadPlugin('alpha');
      expect(registry.getPluginInfo('alpha')?.status).toBe('Inactive');
      const outcome = await running;
      if (outcome.ok) expect(outcome.out).toMatch(/^x(\+slow-alpha)?\+slow-beta$/);
      else expect(isPluginError(outcome.e), String(outcome.e)).toBe(true);
      expect(dec.decode(await registry.hooks.execute('slow', enc.encode('y')))).toBe('y+slow-beta');
      expect(registry.hooks.getHooks('fast').map((h) => h.owner)).toEqual(['beta']);
    },
  );

  it('unloadAll during loads leaves nothing loaded and no process', async () => {
    await using registry = new PluginRegistry({ security, defaultTier: 'process', log: () => {} });
    const pids: number[] = [];
    registry.on('loaded', (e) => e.pid && pids.push(e.pid));
    const loads = ['alpha', 'beta', 'gamma'].map((n) => registry.loadPlugin(p[n]!, 'trusted'));
    await registry.unloadAll();
    const settled = await Promise.allSettled(loads);
    for (const s of settled) if (s.status === 'rejected') expect(isPluginError(s.reason)).toBe(true);
    expect(registry.listLoadedPlugins()).toEqual([]);
    expect(registry.pluginCount()).toBe(0);
    expect(registry.hooks.getHooks('fast')).toHaveLength(0);
    for (const pid of pids) await until(() => !pidAlive(pid), 5000, `pid ${pid} gone`);
    // The registry is still usable afterwards.
    await registry.loadPlugin(p.alpha!, 'trusted');
    expect(registry.isLoaded('alpha')).toBe(true);
  });
});

describe('lifecycle', () => {
  it('close() / await using leaves no child process; loading after close is refused', async () => {
    const pids: number[] = [];
    let closed: PluginRegistry | undefined;
    {
      await using registry = new PluginRegistry({
        security,
        ...(sandbox ? { sandbox } : {}),
        defaultTier: 'process',
        tierOverrides: { beta: 'worker', ...(sandbox ? { gamma: 'sandbox' } : {}) },
        log: () => {},
      });
      closed = registry;
      for (const n of ['alpha', 'beta', 'gamma']) await registry.loadPlugin(p[n]!, 'trusted');
      for (const n of ['alpha', 'gamma']) pids.push(registry.getPluginInfo(n)!.pid!);
      expect(pids.every((pid) => pid > 0 && pidAlive(pid))).toBe(true);
      expect(children().length).toBeGreaterThanOrEqual(2);
      registry.startResourceMonitor(50);
    }
    for (const pid of pids) expect(pidAlive(pid), `pid ${pid}`).toBe(false);
    expect(children()).toEqual([]);
    expect(closed.pluginCount()).toBe(0);
    expect(closed.getAllPlugins().every((i) => i.status === 'Inactive')).toBe(true);
    expect(await codeOf(closed.loadPlugin(p.alpha!, 'trusted'))).toBe('LoadError');
    await closed.close(); // idempotent
  });

  it('API surface: every seed method exists and behaves', async () => {
    await using registry = new PluginRegistry({ security, log: () => {} });
    const methods = [
      'loadPlugin',
      'loadPluginByName',
      'unloadPlugin',
      'unloadAll',
      'scanDirectory',
      'discoverPlugin',
      'getAllPlugins',
      'listLoadedPlugins',
      'getAvailablePlugins',
      'getUntrustedPlugins',
      'getPluginInfo',
      'isLoaded',
      'pluginCount',
      'totalPluginCount',
      'getResourceLimits',
      'recordViolation',
      'getViolationCount',
      'resetViolations',
      'setUnmountBehavior',
      'startResourceMonitor',
      'getMetrics',
      'close',
      'on',
    ] as const;
    for (const m of methods) expect(typeof registry[m], m).toBe('function');
    expect(typeof registry[Symbol.asyncDispose]).toBe('function');

    const events: string[] = [];
    for (const ev of ['loaded', 'unloaded', 'failed', 'violation', 'crashed', 'hook-error'] as const)
      registry.on(ev, (e: RegistryEvents[typeof ev]) => events.push(`${ev}:${e.name}`));

    // discovery
    const info = await registry.discoverPlugin(p.gamma!);
    expect(info).toMatchObject({
      name: 'gamma',
      status: 'Available',
      trustLevel: 'trusted',
      version: '1.0.0',
    });
    expect(info.size).toBe(fs.statSync(p.gamma!).size);
    expect(info.modified).toBeGreaterThan(0);
    expect(await registry.scanDirectory(dir)).toBe(4);
    expect(await codeOf(registry.scanDirectory(path.join(tmp.dir, 'missing')))).toBe('IoError');
    expect(registry.totalPluginCount()).toBe(4);
    expect(registry.getAllPlugins()).toHaveLength(4);
    expect(
      registry
        .getAvailablePlugins()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['alpha', 'beta', 'gamma']);
    expect(registry.getUntrustedPlugins().map((i) => i.name)).toEqual(['stranger']);
    expect(() => registry.getPluginInfo('nope')).toThrow(expect.objectContaining({ code: 'NotFound' }));

    // loading
    expect(await registry.loadPluginByName('alpha')).toBe('alpha');
    expect(await codeOf(registry.loadPluginByName('nope'))).toBe('NotFound');
    expect(await registry.loadPlugin(p.beta!)).toBe('beta');
    expect(registry.isLoaded('alpha')).toBe(true);
    expect(registry.isLoaded('gamma')).toBe(false);
    expect(
      registry
        .listLoadedPlugins()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['alpha', 'beta']);
    expect(registry.pluginCount()).toBe(2);
    expect(registry.getAvailablePlugins().map((i) => i.name)).toEqual(['gamma']);
    expect(registry.getPluginInfo('alpha')).toMatchObject({ status: 'Active', tier: 'in-process' });
    expect(dec.decode(await registry.hooks.execute('fast', enc.encode('')))).toMatch(
      /^\+(alpha|beta)\+(alpha|beta)$/,
    );

    // limits and violations
    const limits = registry.getResourceLimits('alpha');
    expect(limits.maxThreads).toBe(4);
    expect(limits.maxHeapBytes).toBeGreaterThan(0);
    expect(() => registry.getResourceLimits('nope')).toThrow(/nope/);
    registry.setUnmountBehavior({ ...DEFAULT_UNMOUNT_BEHAVIOR, autoUnmount: false, logViolations: false });
    expect(await registry.recordViolation('alpha', { type: 'Threads', used: 9, limit: 4 })).toBe(false);
    expect(registry.getViolationCount('alpha')).toBe(1);
    for (let i = 0; i < 8; i++)
      await registry.recordViolation('alpha', { type: 'Threads', used: 9, limit: 4 });
    // The 10th reaches the threshold: should unmount, but autoUnmount is off: it stays loaded.
    expect(await registry.recordViolation('alpha', { type: 'HeapMemory', used: 2, limit: 1 })).toBe(true);
    expect(registry.isLoaded('alpha')).toBe(true);
    registry.resetViolations('alpha');
    expect(registry.getViolationCount('alpha')).toBe(0);
    registry.setUnmountBehavior({ ...FAST_UNMOUNT, autoUnmount: true });
    for (let i = 0; i < 9; i++)
      await registry.recordViolation('alpha', { type: 'Threads', used: 9, limit: 4 });
    expect(registry.isLoaded('alpha')).toBe(true);
    // Resolves once the unmount is done.
    expect(await registry.recordViolation('alpha', { type: 'Threads', used: 9, limit: 4 })).toBe(true);
    expect(registry.getPluginInfo('alpha').status).toBe('Inactive');
    expect(events).toContain('unloaded:alpha');

    // the monitor: an abortable handle; bad intervals refused
    const ac = new AbortController();
    const monitor = registry.startResourceMonitor(20, ac.signal);
    expect(monitor.signal.aborted).toBe(false);
    ac.abort();
    expect(monitor.signal.aborted).toBe(true);
    expect(() => registry.startResourceMonitor(0)).toThrow(/interval/);
    const m = await registry.getMetrics('beta');
    expect(m).toMatchObject({ source: 'hooks', name: 'beta', violationCount: 0 });

    // unloading
    await registry.unloadPlugin('beta');
    expect(await codeOf(registry.unloadPlugin('beta'))).toBe('NotFound');
    expect(await codeOf(registry.unloadPlugin('nope'))).toBe('NotFound');
    await registry.loadPluginByName('gamma');
    await registry.unloadAll();
    expect(registry.pluginCount()).toBe(0);
    expect(registry.totalPluginCount()).toBe(4);
    expect(events).toEqual(
      expect.arrayContaining([
        'loaded:alpha',
        'loaded:beta',
        'violation:alpha',
        'unloaded:beta',
        'unloaded:gamma',
      ]),
    );
    expect(() => new PluginRegistry(undefined as never)).toThrow(/security/);
  });
});
