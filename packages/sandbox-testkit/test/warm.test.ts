import type { Duplex } from 'node:stream';
import {
  DEFAULT_RESOURCE_LIMITS,
  LandlockSandbox,
  LinuxSandbox,
  MINIMAL_REQUIREMENTS,
  type PluginRegistry,
  PluginRegistry as Registry,
} from '@plugward/registry';
import type { SandboxBackend } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { type RegistryFactory, runAttackKit } from '../dist/index.js';
import { defineAttackSuite } from '../dist/vitest.js';

// The kit against plugins loaded from a warm pool: a pooled sandbox must contain what a cold one contains (the
// attacks a pool changes: host paths in mountinfo, what is left after close()), and the kit's own leftover check must
// see a warm sandbox that outlives close() — warm sandboxes carry no attack nonce.

/** A registry whose pool is prewarmed for the configuration a stranger's plugin without grants gets. */
function warmFactory(pools: PluginRegistry[] = []): RegistryFactory {
  return async (options) => {
    const registry = new Registry({ ...options, warmPool: { size: 2 } });
    pools.push(registry);
    registry.warmPool?.prewarm(MINIMAL_REQUIREMENTS, { ...DEFAULT_RESOURCE_LIMITS });
    await registry.warmPool?.settled();
    return registry;
  };
}

const backends: [string, SandboxBackend<Duplex>][] = [
  ['bubblewrap', new LinuxSandbox()],
  ['landlock', new LandlockSandbox()],
];
const POOL_ATTACKS = [
  'exec.mountinfo-host-paths',
  'cleanup.private-copies',
  'neighbours.sandbox-to-sandbox',
  'procfs.host-whereabouts',
];

for (const [label, backend] of backends) {
  defineAttackSuite({
    name: `attack kit with a warm pool: ${label}`,
    backend,
    registryFactory: warmFactory(),
    only: POOL_ATTACKS,
    expectedToEscape: [],
  });
}

describe('the leftover check with a warm pool', () => {
  it.each(backends)(
    '%s: a warm sandbox that outlives registry.close() is reported',
    async (_label, backend) => {
      if (!(await backend.checkSupport()).supported) {
        console.warn(`!!! SKIPPED ${_label}: not supported here`);
        return;
      }
      const registries: PluginRegistry[] = [];
      const leaky: RegistryFactory = async (options) => {
        const registry = await warmFactory(registries)(options);
        // The defect the check must catch: close() leaves the idle warm sandboxes running.
        const close = registry.close.bind(registry);
        const pool = registry.warmPool;
        if (pool === undefined) throw new Error('no pool');
        const poolClose = pool.close.bind(pool);
        pool.close = async () => {};
        registry.close = async () => {
          await close();
          pool.close = poolClose;
        };
        return registry;
      };
      try {
        const [result] = await runAttackKit({
          backend,
          registryFactory: leaky,
          only: ['cleanup.private-copies'],
        });
        expect(result?.leftovers.ok).toBe(false);
        expect(result?.leftovers.evidence).toMatch(/^left after registry\.close\(\): /);
      } finally {
        for (const r of registries) await r.warmPool?.close();
      }
    },
    120_000,
  );
});
