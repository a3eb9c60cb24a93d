import type { PluginRequirements } from '@plugward/types';
import type { AttackDefinition, GoalVerdict } from '../attack.js';
import { hostHttpService } from '../host-services.js';
import type { Scene } from '../scene.js';
import { noReport, refusedAtLoad } from './verdict.js';

const MiB = 1024 * 1024;

const CONTEXT_WRITER: PluginRequirements = {
  network: { mode: 'isolated' },
  filesystem: { mode: 'none' },
  context: { read: [], write: ['*'] },
};

/**
 * Loads the attacker: untrusted (its manifest's requests are only requests), or trusted at the sandbox tier — a plugin
 * whose grants the host did approve — so that a grant policy cannot hide whether the quota itself holds.
 */
async function loadAttacker(
  scene: Scene,
  trusted: boolean,
  write: (opts: { trusted: boolean }) => Promise<string>,
  name: string,
  timeoutMs: number,
) {
  const file = await write({ trusted });
  const registry = await scene.start(
    trusted ? { registryOptions: { tierOverrides: { [name]: 'sandbox' } } } : {},
  );
  const outcome = await scene.attack(file, timeoutMs, trusted ? 'trusted' : 'untrusted');
  return { registry, ...outcome };
}

/** {@link loadAttacker} of a JS plugin `<id>[t]` declaring context write ['*'], whose init is `init`. */
async function loadContextWriter(
  scene: Scene,
  trusted: boolean,
  id: string,
  init: string,
  timeoutMs: number,
) {
  const name = scene.pluginName(`${id}${trusted ? 't' : ''}`);
  const loaded = await loadAttacker(
    scene,
    trusted,
    (o) => scene.jsPlugin({ name, init }, { ...o, requirements: CONTEXT_WRITER }),
    name,
    timeoutMs,
  );
  return { name, ...loaded };
}

const suffix = (trusted: boolean) => (trusted ? '-trusted' : '');
const who = (trusted: boolean) =>
  trusted ? 'a trusted plugin at the sandbox tier, its manifest granted,' : 'an untrusted plugin';

function contextBytes(trusted: boolean): AttackDefinition {
  return {
    id: `quotas.context-bytes${suffix(trusted)}`,
    class: 'quotas',
    title: `context bytes ${trusted ? 'a trusted' : 'an untrusted'} plugin makes the host hold are bounded and released on unload`,
    tries: `${who(trusted)} declaring context write ['*'] writes 48 values of 1 MiB`,
    async run(scene): Promise<GoalVerdict> {
      const { name, registry, load, reports } = await loadContextWriter(
        scene,
        trusted,
        'ctxbytes',
        `const big = 'x'.repeat(1 << 20); let n = 0, err = 'none';
for (let i = 0; i < 48; i++) { try { await ctx.set('flood.' + i, big); n++; } catch (e) { err = errc(e); break; } }
report('written', n); report('error', err);`,
        20_000,
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its writes', reports);
      const held = () =>
        registry.context
          .keys()
          .filter((k) => k.startsWith('flood.'))
          .reduce((sum, k) => sum + String(registry.context.find(k) ?? '').length, 0);
      const whileLoaded = held();
      await registry.unloadPlugin(name).catch(() => {});
      const afterUnload = held();
      return {
        escaped: whileLoaded > 16 * MiB || afterUnload > 0,
        evidence: `wrote ${reports.written} MiB (then ${reports.error}); the host held ${(whileLoaded / MiB).toFixed(0)} MiB for it, ${(afterUnload / MiB).toFixed(0)} MiB after unload`,
      };
    },
  };
}

function contextEntries(trusted: boolean): AttackDefinition {
  return {
    id: `quotas.context-entries${suffix(trusted)}`,
    class: 'quotas',
    title: `${trusted ? 'a trusted' : 'an untrusted'} plugin cannot fill the context's entries so the host's own context.set fails`,
    tries: `${who(trusted)} declaring context write ['*'] writes 12,000 one-byte keys`,
    async run(scene): Promise<GoalVerdict> {
      const { name, registry, load, reports } = await loadContextWriter(
        scene,
        trusted,
        'ctxkeys',
        `let n = 0, err = 'none';
outer: for (let i = 0; i < 12000; i += 200) {
  const batch = [];
  for (let j = i; j < i + 200; j++) batch.push(Promise.resolve().then(() => ctx.set('n.' + j, 'x')).then(() => { n++; }, (e) => { err = errc(e); }));
  await Promise.all(batch);
  if (err !== 'none') break outer;
}
report('written', n); report('error', err);`,
        30_000,
      );
      if (!load.loaded) return refusedAtLoad(load);
      if (reports.done === undefined) return noReport('its writes', reports);
      let hostSet = 'works';
      try {
        registry.context.set(`kit.host.after-flood.${scene.nonce}`, 'host');
        registry.context.remove(`kit.host.after-flood.${scene.nonce}`);
      } catch (e) {
        hostSet = `FAILED (${(e as { code?: string }).code ?? (e as Error).message})`;
      }
      const count = () => registry.context.keys().filter((k) => k.startsWith('n.')).length;
      const whileLoaded = count();
      await registry.unloadPlugin(name).catch(() => {});
      const afterUnload = count();
      return {
        escaped: hostSet !== 'works' || afterUnload > 0,
        evidence: `the plugin wrote ${reports.written} entries (then ${reports.error}); the host's own context.set ${hostSet}; ${whileLoaded} held, ${afterUnload} kept after unload`,
      };
    },
  };
}

function brokerFlood(trusted: boolean): AttackDefinition {
  return {
    id: `quotas.broker-flood${suffix(trusted)}`,
    class: 'quotas',
    title: `brokered fetches of ${trusted ? 'a trusted' : 'an untrusted'} plugin are capped by maxConnections`,
    tries: `${who(trusted)} declaring maxConnections 4 and restricted network to a host service fires 24 concurrent 2 MiB fetches`,
    exclusive: true,
    async run(scene): Promise<GoalVerdict> {
      const svc = await hostHttpService(scene, { delayMs: 400, bodyBytes: 2 * MiB });
      const name = scene.pluginName(`flood${trusted ? 't' : ''}`);
      const rss0 = process.memoryUsage().rss;
      let peakRss = rss0;
      const poll = setInterval(() => {
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }, 20);
      try {
        const { load, reports } = await loadAttacker(
          scene,
          trusted,
          (o) =>
            scene.jsPlugin(
              {
                name,
                init: `const rs = await Promise.all(Array.from({ length: 24 }, () => RT.fetch ? RT.fetch({ url: 'http://127.0.0.1:${svc.port}/', method: 'GET', headers: {} }).then(() => 'ok', (e) => 'ERR:' + errc(e)) : 'ERR:no-fetch'));
report('ok', rs.filter((r) => r === 'ok').length); report('first-error', rs.find((r) => r !== 'ok') || 'none');`,
              },
              {
                ...o,
                limits: { maxConnections: 4 },
                requirements: {
                  network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [svc.port] }] },
                  filesystem: { mode: 'none' },
                  context: { read: [], write: [] },
                },
              },
            ),
          name,
          20_000,
        );
        if (!load.loaded) return refusedAtLoad(load);
        if (reports.done === undefined) return noReport('its fetches', reports);
        return {
          escaped: svc.peakConnections > 4,
          evidence: `${reports.ok}/24 fetches served, peak ${svc.peakConnections} concurrent connections (maxConnections 4), host RSS +${((peakRss - rss0) / MiB).toFixed(0)} MiB; first error ${reports['first-error']}`,
        };
      } finally {
        clearInterval(poll);
      }
    },
  };
}

/** Attacks on what the host holds on a plugin's behalf, by an untrusted plugin and by a trusted one in the sandbox. */
export const quotaAttacks: readonly AttackDefinition[] = [
  contextBytes(false),
  contextBytes(true),
  contextEntries(false),
  contextEntries(true),
  brokerFlood(false),
  brokerFlood(true),
];
