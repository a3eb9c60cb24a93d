// The monitor judges each plugin by its own use, never the host's (the Rust original measured the host process for
// every plugin, so one busy host unloaded every plugin): a host burning CPU must not be a violation of an idle plugin
// at the in-process or worker tier.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type IsolationTier,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import { FAST_UNMOUNT, Fixtures, tempDir } from './helpers.js';

const IDLE = `
export default {
  name: 'idle', version: '1.0.0', author: 'registry tests',
  async init() {}, async registerHooks() {}, shutdown() {},
};
`;

const tmp = tempDir('mon');
const fx = new Fixtures(tmp.dir);
const BURNER = `
const enc = new TextEncoder();
export default {
  name: 'burner', version: '1.0.0', author: 'registry tests',
  async init() {},
  async registerHooks(h) {
    await h.register('spin', 200, async () => {
      const burn = () => { const end = Date.now() + 40; while (Date.now() < end) {} setTimeout(burn, 0); };
      setTimeout(burn, 0);
      return enc.encode('spinning');
    });
  },
  shutdown() {},
};
`;

let idle: string;
let burner: string;
let security: PluginSecurity;

beforeAll(async () => {
  idle = await fx.js('idle.mjs', IDLE, { name: 'idle', kind: 'js', limits: { maxCpuTimeMs: 20 } });
  await fx.trust(idle);
  // 100 ms: also the budget of the `spin` call itself, which must not time out on a loaded machine.
  burner = await fx.js('burner.mjs', BURNER, { name: 'burner', kind: 'js', limits: { maxCpuTimeMs: 100 } });
  await fx.trust(burner);
  security = await fx.security();
});
afterAll(() => tmp.remove());

function burn(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // The host is busy; the plugin is not.
  }
}

describe('the monitor measures the plugin, not the host', () => {
  it.each(['in-process', 'worker', 'process'] as IsolationTier[])(
    'a busy host is no violation of an idle plugin (%s)',
    async (tier) => {
      await using registry = new PluginRegistry({
        security,
        defaultTier: tier,
        unmountBehavior: FAST_UNMOUNT,
        log: () => {},
      });
      const violations: RegistryEvents['violation'][] = [];
      registry.on('violation', (v) => violations.push(v));
      await registry.loadPlugin(idle, 'trusted');
      const monitor = registry.startResourceMonitor(30);
      // Several monitor ticks, each after ~120 ms of host CPU (six times the plugin's 20 ms budget).
      for (let i = 0; i < 6; i++) {
        burn(120);
        await new Promise((r) => setTimeout(r, 40));
      }
      monitor.stop();
      expect(violations.map((v) => v.violation)).toEqual([]);
      expect(registry.isLoaded('idle')).toBe(true);
    },
  );

  it.each(['worker', 'process'] as IsolationTier[])(
    'a plugin burning CPU outside any hook is caught and unmounted (%s)',
    async (tier) => {
      await using registry = new PluginRegistry({
        security,
        defaultTier: tier,
        unmountBehavior: FAST_UNMOUNT,
        // Three readings over the budget are enough to show it is caught (the default threshold is 10).
        violations: { maxViolations: 3 },
        log: () => {},
      });
      const violations: RegistryEvents['violation'][] = [];
      const unloaded: RegistryEvents['unloaded'][] = [];
      registry.on('violation', (v) => violations.push(v));
      registry.on('unloaded', (u) => unloaded.push(u));
      await registry.loadPlugin(burner, 'trusted');
      await registry.hooks.execute('spin', new Uint8Array());
      // A reading every 2.5 s: more than 100 ms of CPU in one needs only 4 % of a core, which the burner gets even when
      // 30 runnable threads share the machine's 2 cores (at 300 ms it needed a third of one).
      const monitor = registry.startResourceMonitor(2500);
      const deadline = Date.now() + 40_000;
      while (unloaded.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      monitor.stop();
      expect(violations.filter((v) => v.violation.type === 'CpuTime').length).toBeGreaterThanOrEqual(3);
      expect(unloaded).toEqual([{ name: 'burner', reason: 'violations' }]);
      expect(registry.getPluginInfo('burner')?.status).toBe('Inactive');
    },
    60_000,
  );
});
