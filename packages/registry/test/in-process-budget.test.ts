// The in-process tier's call budget, through the path a host calls (issue 17 keeps it costing nothing until it fires):
// a trusted plugin loaded in process gets its `maxCpuTimeMs` per call. A handler that hangs is ended at that budget
// (its own, not the whole call's larger one), one that spins synchronously past it is failed when it returns (it can't
// be pre-empted in process), each as a `HookTimeout` violation of that plugin; the time its handlers held the thread
// is what `getMetrics` reports. Each assertion fails if the budget stops firing or stops being counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  isPluginError,
  type PluginError,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import { dec, enc, FAST_UNMOUNT, Fixtures, tempDir } from './helpers.js';

const BUDGET_MS = 100;

const PLUGIN = `
export default {
  name: 'budgeted', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) {
    h.register('echo', 200, (d) => d);
    h.register('hang', 200, () => new Promise(() => {}));
    h.register('spin', 200, (d) => {
      // Wall time, so a loaded machine can only make it longer.
      const end = performance.now() + ${BUDGET_MS} * 1.5;
      while (performance.now() < end) {}
      return d;
    });
  },
  shutdown() {},
};
`;

const tmp = tempDir('in-process-budget');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let artifact: string;

beforeAll(async () => {
  artifact = await fx.js('budgeted.mjs', PLUGIN, {
    name: 'budgeted',
    kind: 'js',
    limits: { maxCpuTimeMs: BUDGET_MS },
  });
  await fx.trust(artifact);
  security = await fx.security();
});
afterAll(() => tmp.remove());

async function host() {
  const registry = new PluginRegistry({
    security,
    defaultTier: 'in-process',
    // Violations are counted and reported; the plugin stays loaded so each case can be asked after the other.
    unmountBehavior: { ...FAST_UNMOUNT, autoUnmount: false },
    log: () => {},
  });
  const violations: RegistryEvents['violation'][] = [];
  registry.on('violation', (v) => violations.push(v));
  await registry.loadPlugin(artifact, 'trusted');
  expect(registry.getPluginInfo('budgeted')?.tier).toBe('in-process');
  return { registry, violations };
}

const timeouts = (violations: RegistryEvents['violation'][]) =>
  violations.filter((v) => v.name === 'budgeted' && v.violation.type === 'HookTimeout');

describe("an in-process plugin's call budget (maxCpuTimeMs)", () => {
  it('ends a hanging handler at its own budget, not the whole call’s', async () => {
    const { registry, violations } = await host();
    try {
      const started = performance.now();
      const err = (await registry.hooks
        .execute('hang', new Uint8Array([1]))
        .catch((e: unknown) => e)) as PluginError;
      const ms = performance.now() - started;
      expect(isPluginError(err, 'HookTimeout')).toBe(true);
      // The handler's budget fired: the whole call's (4 × maxCpuTimeMs) would say scope 'execution'.
      expect(err.details?.scope).not.toBe('execution');
      expect(ms).toBeGreaterThanOrEqual(BUDGET_MS - 1);
      expect(timeouts(violations)).toHaveLength(1);
      expect(timeouts(violations)[0]?.violation).toMatchObject({ hookName: 'hang', limitMs: BUDGET_MS });
      // The host's call path still serves.
      expect(dec.decode(await registry.hooks.execute('echo', enc.encode('ok')))).toBe('ok');
    } finally {
      await registry.close();
    }
  });

  it('fails a synchronous overrun when it returns, counts it, and reports the time it held the thread', async () => {
    const { registry, violations } = await host();
    try {
      for (let i = 0; i < 100; i++) await registry.hooks.execute('echo', new Uint8Array([i]));
      const before = await registry.getMetrics('budgeted');
      expect(before).toMatchObject({ source: 'hooks', hookCalls: 100 });
      const err = (await registry.hooks
        .execute('spin', new Uint8Array([2]))
        .catch((e: unknown) => e)) as PluginError;
      // Within the whole call's budget (4 × maxCpuTimeMs): only the handler's own budget can fail this call.
      expect(isPluginError(err, 'HookTimeout')).toBe(true);
      expect(timeouts(violations)).toHaveLength(1);
      expect(timeouts(violations)[0]?.violation).toMatchObject({ hookName: 'spin', limitMs: BUDGET_MS });
      const after = await registry.getMetrics('budgeted');
      expect(after.hookCalls).toBe(101);
      expect((after.cpuTimeMs ?? 0) - (before.cpuTimeMs ?? 0)).toBeGreaterThanOrEqual(BUDGET_MS * 1.5 - 1);
      // Calls within the budget still answer, and are not violations.
      for (let i = 0; i < 100; i++) await registry.hooks.execute('echo', new Uint8Array([i]));
      expect(timeouts(violations)).toHaveLength(1);
    } finally {
      await registry.close();
    }
  });
});
