// audit s10 #1, registry view (→ packages/registry/test/): a long-running PluginRegistry host loads a trusted plugin,
// the operator revokes it (`plugward trust rm`, i.e. updateTrustList removing the entry) and unloads it; the host
// loads it again (an app reloading a crashed plugin, `loadPluginByName` after a rescan): it must not run as trusted any
// more. Fails on main 7891584: it is Active again, trusted, in process.
import { updateTrustList } from '@plugward/security';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, HEALTH_PROBE, tempDir } from './helpers.js';

const tmp = tempDir('audit-revoked-reload');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let plugin = '';

beforeAll(async () => {
  plugin = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(plugin);
  security = await fx.security();
});
afterAll(() => tmp.remove());

it('a plugin revoked while the host runs is not loaded as trusted again', async () => {
  const registry = new PluginRegistry({
    security,
    tierOverrides: { 'audit-probe': 'in-process' },
    log: () => {},
  });
  try {
    await registry.loadPlugin(plugin, 'trusted');
    expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    // The operator: plugward trust rm audit-probe@1.0.0, then the host unloads it.
    await updateTrustList(
      security.policy.trustListPath,
      fx.listKey,
      (es) => es.filter((e) => e.name !== 'audit-probe'),
      {
        create: false,
      },
    );
    await registry.unloadPlugin('audit-probe');
    const again = await registry.loadPlugin(plugin, 'trusted').then(
      () => {
        const info = registry.getPluginInfo('audit-probe');
        return `loaded: ${info?.status} ${info?.trustLevel} ${info?.tier}`;
      },
      (e: { code?: string }) => `refused ${e.code}`,
    );
    expect(again).toMatch(/^refused /);
  } finally {
    await registry.close();
  }
});
