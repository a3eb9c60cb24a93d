// The attacker's side of close(): untrusted sandboxed plugins that do not want to go — SIGTERM/SIGHUP/SIGINT ignored,
// process.exit disarmed, a busy event loop, a `shutdown` that never returns (one of them spinning the CPU in it), a hook
// call left hanging when close() starts — must not make close() hang the host or take longer with more of them, and
// must leave nothing behind: no plugin process, no cgroup, no uid lease, no per-sandbox directory of this host. The host
// then still serves (a new registry's trusted plugin answers). Both backends.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_UNMOUNT_BEHAVIOR,
  isPluginError,
  PluginRegistry,
  type PluginSecurity,
} from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  descendants,
  enc,
  entriesOfHost,
  Fixtures,
  NO_GRANTS,
  ownUidLeases,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
} from './helpers.js';

const tmp = tempDir('audit-close');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};
const STUBBORN = ['audit-stub-a', 'audit-stub-b', 'audit-stub-c', 'audit-stub-spin'];
/** close() of the stubborn plugins must take less than their shutdown budgets one after another, minus one. */
const ONE_LESS_THAN_IN_TURN_MS = (STUBBORN.length - 1) * DEFAULT_UNMOUNT_BEHAVIOR.maxCleanupTimeMs;

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

const stubborn = (name: string, spin: boolean) => `
for (const s of ['SIGTERM', 'SIGHUP', 'SIGINT', 'SIGPIPE', 'SIGUSR1', 'SIGUSR2']) { try { process.on(s, () => {}); } catch {} }
process.exit = () => {}; process.reallyExit = () => {}; process.abort = () => {};
setInterval(() => {}, 1000);
export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 'a stranger',
  init() {},
  async registerHooks(h) { await h.register('audit.hang', 300, () => new Promise(() => {})); },
  async shutdown() { ${spin ? 'for (;;) {}' : 'await new Promise(() => {});'} },
};
`;

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  await fx.trust(files.probe);
  for (const name of STUBBORN)
    files[name] = await fx.js(`${name}.mjs`, stubborn(name, name.endsWith('spin')), {
      name,
      kind: 'js',
      keys: fx.stranger,
      requirements: NO_GRANTS(),
    });
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

/**
 * What this host left: cgroups named with its pid, per-sandbox directories named with it or owned by it (owner file),
 * uid leases naming it.
 */
function leftByThisHost(): string[] {
  const me = `-${process.pid}-`;
  const out: string[] = [];
  for (const c of fs.readdirSync('/sys/fs/cgroup')) {
    const dir = path.join('/sys/fs/cgroup', c, 'plugward');
    try {
      for (const d of fs.readdirSync(dir))
        if (d.includes(me) && STUBBORN.some((s) => d.startsWith(s))) out.push(path.join(dir, d));
    } catch {
      // no such controller
    }
  }
  for (const base of ['/run/plugward-sbx', '/run/plugward-ll']) out.push(...entriesOfHost(base));
  out.push(...ownUidLeases());
  return out;
}

describe('audit: close() with plugins that will not go', () => {
  it.each(SANDBOX_BACKENDS)(
    '%s',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: {
          plugins: Object.fromEntries(STUBBORN.map((s) => [s, { hooks: [{ name: 'audit.hang' }] }])),
        },
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      await registry.loadPlugin(files.probe as string, 'trusted');
      for (const name of STUBBORN) await registry.loadPlugin(files[name] as string, 'untrusted');
      for (const name of STUBBORN) expect(registry.getPluginInfo(name)?.status).toBe('Active');
      const procs = descendants(process.pid);
      expect(procs.length).toBeGreaterThanOrEqual(STUBBORN.length);
      // The leftover check sees them while they run (so its empty answer after close() means something): each plugin's
      // cgroups, sandbox folder and uid lease.
      const held = leftByThisHost();
      expect(held.filter((p) => p.includes('/uids/')).length, held.join('\n')).toBeGreaterThanOrEqual(
        STUBBORN.length,
      );
      expect(
        held.filter((p) => p.includes('/plugward-sbx/') || p.includes('/plugward-ll/')).length,
      ).toBeGreaterThanOrEqual(STUBBORN.length);
      // A call into the hanging handlers is in flight when close() starts.
      const inFlight = registry.hooks.execute('audit.hang', enc.encode('x')).then(
        () => 'resolved',
        () => 'rejected',
      );
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      await registry.close();
      const took = performance.now() - started;
      // Bounded by one shutdown budget (they end side by side), not one per plugin: ending them one after another takes
      // STUBBORN.length budgets (20 s); the bound leaves one budget less than that, which a loaded machine needs (one
      // budget + the kills took 9–10 s at load ≈ 25, 5.9 s alone).
      expect(took, `close() took ${Math.round(took)} ms`).toBeLessThan(ONE_LESS_THAN_IN_TURN_MS);
      expect(
        await Promise.race([inFlight, new Promise((r) => setTimeout(() => r('still pending'), 5000))]),
      ).not.toBe('still pending');
      const deadline = Date.now() + 5000;
      while (procs.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(procs.filter(pidAlive), 'plugin processes alive after close()').toEqual([]);
      expect(leftByThisHost(), 'left by this host after close()').toEqual([]);
      // The host still serves.
      await using again = new PluginRegistry({ security, defaultTier: 'in-process', log: () => {} });
      await again.loadPlugin(files.probe as string, 'trusted');
      expect(dec.decode(await again.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    },
    90_000,
  );

  it.each(SANDBOX_BACKENDS)(
    '%s: loads still starting when close() runs leave nothing behind',
    async (label, support, make) => {
      if (!(await backendRunsHere(label, support))) return;
      const registry = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        grants: {
          plugins: Object.fromEntries(STUBBORN.map((s) => [s, { hooks: [{ name: 'audit.hang' }] }])),
        },
        log: () => {},
      });
      // Every process the host started, as seen while the loads run and close() ends them.
      const seen = new Set<number>();
      const watch = setInterval(() => {
        for (const p of descendants(process.pid)) seen.add(p);
      }, 5);
      // Settled handlers attached at once: a load refused by close() is an outcome here, not an unhandled rejection.
      const loads = STUBBORN.map((name) =>
        registry.loadPlugin(files[name] as string, 'untrusted').then(
          () => 'loaded',
          (e: unknown) => (isPluginError(e) ? e.code : String(e)),
        ),
      );
      // close() while the first sandbox processes exist (not before any started: that would prove nothing).
      for (let i = 0; i < 500 && seen.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(seen.size, 'no sandbox process started before close()').toBeGreaterThan(0);
      const started = performance.now();
      await registry.close();
      const took = performance.now() - started;
      const outcomes = await Promise.all(loads);
      clearInterval(watch);
      for (const p of descendants(process.pid)) seen.add(p);
      expect(took, `close() took ${Math.round(took)} ms`).toBeLessThan(ONE_LESS_THAN_IN_TURN_MS);
      // A load that finished before close() is unloaded by it; one that did not is refused: none is Active after.
      for (const name of STUBBORN) expect(registry.getPluginInfo(name)?.status).not.toBe('Active');
      expect(
        outcomes.every((o) => o === 'loaded' || o === 'LoadError'),
        outcomes.join(', '),
      ).toBe(true);
      const deadline = Date.now() + 5000;
      while ([...seen].some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect([...seen].filter(pidAlive), 'plugin processes alive after close()').toEqual([]);
      expect(leftByThisHost(), 'left by this host after close()').toEqual([]);
    },
    90_000,
  );
});
