// The registry as the Rust API reference documents it, tried as a host ported from it would: the positional
// constructor, the queries' return types and errors, per-plugin unmount behaviour, the violation rule (unmount when
// the count reaches 10; the promise resolves after the unmount) and crashes as failures rather than violations.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HookRegistry,
  PluginContext,
  PluginLoader,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
  type ViolationType,
} from '../dist/index.js';
import { dec, enc, FAST_UNMOUNT, Fixtures, pidAlive, tempDir, until } from './helpers.js';

const plugin = (name: string) => `
const enc = new TextEncoder();
export default {
  name: '${name}', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('${name}.ping', 100, async () => enc.encode('pong:${name}'));
    // 5 ms of work on the host's thread, synchronously.
    await h.register('${name}.busy', 100, () => { const end = performance.now() + 5; while (performance.now() < end) {} return enc.encode('done'); });
  },
  shutdown() {},
};
`;

const tmp = tempDir('refapi');
const fx = new Fixtures(tmp.dir);
const paths: Record<string, string> = {};
let security: PluginSecurity;
const threads: ViolationType = { type: 'Threads', used: 9, limit: 4 };

beforeAll(async () => {
  for (const n of ['one', 'two']) {
    paths[n] = await fx.js(`${n}.mjs`, plugin(n), { name: n, kind: 'js' }, 'plugins');
    await fx.trust(paths[n] as string);
  }
  security = await fx.security();
});
afterAll(() => tmp.remove());

async function codeOf(work: () => unknown): Promise<string | undefined> {
  try {
    await work();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe('the registry surface of the reference', () => {
  it('takes the positional constructor (loader, context, hooks, security) beside the options object', async () => {
    const hooks = new HookRegistry();
    const context = new PluginContext();
    await using registry = new PluginRegistry(new PluginLoader(security), context, hooks, security);
    expect(registry.hooks).toBe(hooks);
    expect(registry.context).toBe(context);
    expect(registry.security).toBe(security);
    await registry.loadPlugin(paths.one as string);
    expect(dec.decode(await hooks.execute('one.ping', enc.encode('')))).toBe('pong:one');
    expect(
      await codeOf(
        () => new PluginRegistry(new PluginLoader(security), context, undefined as never, security),
      ),
    ).toBe('InvalidArgument');
  });

  it('getPluginInfo of an unknown name is NotFound; listLoadedPlugins returns PluginInfo[]', async () => {
    await using registry = new PluginRegistry({ security, log: () => {} });
    expect(await codeOf(() => registry.getPluginInfo('nobody'))).toBe('NotFound');
    await registry.loadPlugin(paths.one as string);
    const loaded = registry.listLoadedPlugins();
    expect(loaded).toHaveLength(1);
    expect(loaded[0]).toMatchObject({
      name: 'one',
      status: 'Active',
      trustLevel: 'trusted',
      version: '1.0.0',
    });
  });

  it('getAvailablePlugins includes trusted plugins that were loaded and unloaded', async () => {
    await using registry = new PluginRegistry({ security, log: () => {} });
    await registry.scanDirectory(`${tmp.dir}/plugins`);
    expect(
      registry
        .getAvailablePlugins()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['one', 'two']);
    await registry.loadPluginByName('one');
    expect(registry.getAvailablePlugins().map((i) => i.name)).toEqual(['two']);
    await registry.unloadPlugin('one');
    expect(
      registry
        .getAvailablePlugins()
        .map((i) => i.name)
        .sort(),
    ).toEqual(['one', 'two']);
    // …and can be loaded again from there.
    await registry.loadPluginByName('one');
    expect(registry.isLoaded('one')).toBe(true);
  });

  it('setUnmountBehavior(name, behavior) applies to that plugin only and validates its input', async () => {
    await using registry = new PluginRegistry({ security, unmountBehavior: FAST_UNMOUNT, log: () => {} });
    await registry.loadPlugin(paths.one as string);
    await registry.loadPlugin(paths.two as string);
    registry.setUnmountBehavior('one', { ...FAST_UNMOUNT, autoUnmount: false });
    expect(registry.getUnmountBehavior('one').autoUnmount).toBe(false);
    expect(registry.getUnmountBehavior('two').autoUnmount).toBe(true);
    expect(registry.getUnmountBehavior().autoUnmount).toBe(true);
    for (let i = 0; i < 10; i++) {
      await registry.recordViolation('one', threads);
      await registry.recordViolation('two', threads);
    }
    expect(registry.isLoaded('one')).toBe(true); // its own behaviour: no auto-unmount
    expect(registry.isLoaded('two')).toBe(false); // the default still applies to the others
    // Bad input is refused, in both forms, naming the field.
    expect(await codeOf(() => registry.setUnmountBehavior('one', { autoUnmount: 'no' as never }))).toBe(
      'InvalidArgument',
    );
    expect(await codeOf(() => registry.setUnmountBehavior({ gracePeriodMs: -5 }))).toBe('InvalidArgument');
    expect(await codeOf(() => registry.setUnmountBehavior('one', undefined as never))).toBe(
      'InvalidArgument',
    );
    expect(
      await codeOf(() => new PluginRegistry({ security, unmountBehavior: { autoUnmont: true } as never })),
    ).toBe('InvalidArgument');
    expect(registry.getUnmountBehavior('one').autoUnmount).toBe(false);
  });
});

describe('the violation rule of the reference', () => {
  it('9 violations leave the plugin loaded; the 10th unmounts it and resolves after the unmount', async () => {
    await using registry = new PluginRegistry({
      security,
      unmountBehavior: { ...FAST_UNMOUNT, autoUnmount: true },
      log: () => {},
    });
    const unloaded: RegistryEvents['unloaded'][] = [];
    registry.on('unloaded', (u) => unloaded.push(u));
    await registry.loadPlugin(paths.one as string);
    // Severity does not matter by default: heap readings count like any other violation.
    for (let i = 0; i < 9; i++) {
      const heap: ViolationType = { type: 'HeapMemory', used: 2, limit: 1 };
      expect(await registry.recordViolation('one', i % 2 ? threads : heap)).toBe(false);
    }
    expect(registry.isLoaded('one')).toBe(true);
    expect(registry.getViolationCount('one')).toBe(9);
    expect(await registry.recordViolation('one', threads)).toBe(true);
    // Done by the time the promise resolved.
    expect(registry.getPluginInfo('one').status).toBe('Inactive');
    expect(unloaded).toEqual([{ name: 'one', reason: 'violations' }]);
    expect(registry.hooks.getHooks('one.ping')).toHaveLength(0);
  });

  it('severity escalation and a grace period are options a host turns on', async () => {
    await using registry = new PluginRegistry({
      security,
      unmountBehavior: { ...FAST_UNMOUNT, gracePeriodMs: 150 },
      violations: { severityEscalation: true },
      log: () => {},
    });
    await registry.loadPlugin(paths.one as string);
    const t0 = performance.now();
    expect(await registry.recordViolation('one', { type: 'HeapMemory', used: 2, limit: 1 })).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(registry.isLoaded('one')).toBe(false);
  });

  it('a crash ends the plugin as a failure, not a counted violation', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    const violations: RegistryEvents['violation'][] = [];
    const crashed: RegistryEvents['crashed'][] = [];
    registry.on('violation', (v) => violations.push(v));
    registry.on('crashed', (c) => crashed.push(c));
    await registry.loadPlugin(paths.one as string);
    const pid = registry.getPluginInfo('one').pid as number;
    process.kill(pid, 'SIGKILL');
    await until(() => registry.getPluginInfo('one').status === 'Failed', 10_000, 'Failed');
    expect(pidAlive(pid)).toBe(false);
    expect(crashed).toMatchObject([{ name: 'one', signal: 'SIGKILL', oomKilled: false }]);
    expect(violations).toEqual([]);
    expect(registry.getViolationCount('one')).toBe(0);
  });
});

describe('metrics of the reference', () => {
  it('carry name and violationCount; in process, the hook registry counts calls and on-thread time', async () => {
    await using registry = new PluginRegistry({ security, unmountBehavior: FAST_UNMOUNT, log: () => {} });
    await registry.loadPlugin(paths.one as string);
    for (let i = 0; i < 4; i++) await registry.hooks.execute('one.busy', enc.encode(''));
    await registry.hooks.execute('one.ping', enc.encode(''));
    await registry.recordViolation('one', threads);
    const m = await registry.getMetrics('one');
    expect(m).toMatchObject({ name: 'one', violationCount: 1, source: 'hooks', hookCalls: 5 });
    expect(m.cpuTimeMs).toBeGreaterThanOrEqual(4 * 5 - 1);
    expect(m.cpuTimeMs).toBeLessThan(5000);
  });

  it('out of process too: name and violationCount beside the process reading', async () => {
    await using registry = new PluginRegistry({
      security,
      defaultTier: 'process',
      unmountBehavior: FAST_UNMOUNT,
      log: () => {},
    });
    await registry.loadPlugin(paths.two as string);
    await registry.hooks.execute('two.ping', enc.encode(''));
    const m = await registry.getMetrics('two');
    expect(m).toMatchObject({ name: 'two', violationCount: 0, source: 'procfs', hookCalls: 1 });
    expect(m.memoryBytes).toBeGreaterThan(0);
  });
});
