// close() ends every plugin fast (issue 17: hundreds of out-of-process plugins) without giving up what it promises:
// once it resolves nothing of any plugin is left — no process, no cgroup, no uid lease, no sandbox folder, no scratch
// mount, no private copy — every plugin's shutdown had its chance within its budget, and a plugin that ignores Shutdown
// and SIGTERM is killed. Checked right when close() resolves (never polled afterwards), at every out-of-process tier
// and with both sandbox backends.
import fs from 'node:fs';
import type { Duplex } from 'node:stream';
import { hostTag } from '@plugward/sandbox-common';
import { LANDLOCK_SANDBOX_DIR } from '@plugward/sandbox-landlock';
import { ROOT_SANDBOX_DIR } from '@plugward/sandbox-linux';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkLandlockSupport,
  checkSandboxSupport,
  type IsolationTier,
  LandlockSandbox,
  LinuxSandbox,
  PluginRegistry,
  type PluginSecurity,
  ROOT_WARM_DIR,
  type SandboxBackend,
} from '../dist/index.js';
import { entriesOfHost, Fixtures, leftovers, ownTmpDir, ownUidLeases, pidAlive, tempDir } from './helpers.js';

// Its shutdown takes a while (well within its budget), then says so over IPC: the line arrives only if the plugin was
// let finish.
const patient = (name: string) => `
let rt;
export default {
  name: '${name}', version: '1.0.0', author: 'registry tests',
  init(_ctx, runtime) { rt = runtime; rt.log('info', '${name}: init ran'); },
  registerHooks(h) { h.register('ping', 200, (d) => d); },
  async shutdown() {
    await new Promise((r) => setTimeout(r, 300));
    rt.log('info', '${name}: shutdown finished');
  },
};
`;

// Ignores SIGTERM where it can, and its shutdown never returns (a busy loop: no timer, no signal handler runs again).
const stubborn = `
try { process.on('SIGTERM', () => {}); } catch {}
export default {
  name: 'stubborn', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('ping', 200, (d) => d); },
  shutdown() { for (;;) {} },
};
`;

const PATIENT = ['patient-a', 'patient-b', 'patient-c'];
/** The stubborn plugin's shutdown budget; the others keep the default (5 s). */
const STUBBORN_BUDGET_MS = 800;

const tmp = tempDir('close');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('close');
const artifacts: string[] = [];
let security: PluginSecurity;

beforeAll(async () => {
  ownTmp.use();
  for (const name of PATIENT) {
    artifacts.push(await fx.js(`${name}.mjs`, patient(name), { name, kind: 'js' }));
  }
  artifacts.push(await fx.js('stubborn.mjs', stubborn, { name: 'stubborn', kind: 'js' }));
  for (const a of artifacts) await fx.trust(a);
  security = await fx.security();
});
afterAll(() => {
  tmp.remove();
  ownTmp.restore();
});

/** This host's entries in a folder (named by its host tag, or by their owner file), e.g. per-sandbox folders. */
function ownEntries(dir: string): string[] {
  return entriesOfHost(dir, hostTag());
}

/** Mounts this host made for its sandboxes (a Landlock scratch tmpfs sits in a folder named by the host tag). */
function ownMounts(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`-${hostTag()}-`));
}

interface Case {
  label: string;
  tier: IsolationTier;
  /** The sandbox backend, or why this machine has none. */
  backend?: () => Promise<SandboxBackend<Duplex> | string>;
}

const supported =
  (check: typeof checkSandboxSupport, make: () => SandboxBackend<Duplex>) =>
  async (): Promise<SandboxBackend<Duplex> | string> => {
    const report = await check();
    if (report.supported) return make();
    return JSON.stringify(report.features.filter((f) => !f.available));
  };

const cases: Case[] = [
  { label: 'worker', tier: 'worker' },
  { label: 'process', tier: 'process' },
  {
    label: 'sandbox (bubblewrap)',
    tier: 'sandbox',
    backend: supported(checkSandboxSupport, () => new LinuxSandbox()),
  },
  {
    label: 'sandbox (Landlock)',
    tier: 'sandbox',
    backend: supported(checkLandlockSupport, () => new LandlockSandbox()),
  },
];

describe('close() after a fast teardown', () => {
  it.each(cases)(
    '$label: nothing is left, every shutdown had its budget, the stubborn plugin is killed',
    async ({ label, tier, backend }) => {
      const sandbox = backend === undefined ? undefined : await backend();
      if (typeof sandbox === 'string') {
        console.warn(`!!! SKIPPED close() ${label}: not supported here (${sandbox})`);
        return;
      }
      const lines: string[] = [];
      const registry = new PluginRegistry({
        security,
        ...(sandbox ? { sandbox } : {}),
        defaultTier: tier,
        log: (plugin, _level, message) => lines.push(`${plugin}: ${message}`),
      });
      registry.setUnmountBehavior('stubborn', { maxCleanupTimeMs: STUBBORN_BUDGET_MS });
      for (const a of artifacts) await registry.loadPlugin(a, 'trusted');
      const names = [...PATIENT, 'stubborn'];
      const pids = names.map((n) => registry.getPluginInfo(n)?.pid).filter((p) => p !== undefined);
      expect(pids).toHaveLength(tier === 'worker' ? 0 : names.length);
      expect(pids.every(pidAlive)).toBe(true);
      const sandboxDirs = [ROOT_SANDBOX_DIR, LANDLOCK_SANDBOX_DIR];
      if (tier === 'sandbox') {
        expect(sandboxDirs.flatMap(ownEntries).length).toBeGreaterThanOrEqual(names.length);
        expect(ownUidLeases()).toHaveLength(names.length);
      }

      await registry.close();

      // Right when close() resolved: nothing of any plugin is left.
      expect(pids.filter(pidAlive), 'plugin processes alive').toEqual([]);
      expect(
        names.flatMap((n) => leftovers(n, ownTmp.dir)),
        'private copies, cgroups',
      ).toEqual([]);
      expect(sandboxDirs.flatMap(ownEntries), 'sandbox folders').toEqual([]);
      expect(ownUidLeases(), 'uid leases').toEqual([]);
      expect(ownMounts(), 'scratch mounts').toEqual([]);
      // Every patient plugin finished its shutdown: it was not ended before its budget ran out.
      for (const n of PATIENT) {
        const why = `${n}: error ${registry.getPluginInfo(n)?.error}; lines ${JSON.stringify(lines)}`;
        expect(lines, why).toContain(`${n}: ${n}: shutdown finished`);
        expect(registry.getPluginInfo(n)?.error, why).toBeUndefined();
      }
      // The stubborn one got its budget, then was killed (its process is among those checked above).
      expect(registry.getPluginInfo('stubborn')?.error).toBe(
        `shutdown took longer than ${STUBBORN_BUDGET_MS} ms`,
      );
      expect(registry.getAllPlugins().every((i) => i.status === 'Inactive')).toBe(true);
    },
  );
});

describe('close() while plugins load', () => {
  it.each(['worker', 'process'] as const)(
    '%s: a plugin whose load completes during close() still gets its shutdown, and nothing is left',
    async (tier) => {
      const lines: string[] = [];
      const registry = new PluginRegistry({
        security,
        defaultTier: tier,
        log: (plugin, _level, message) => lines.push(`${plugin}: ${message}`),
      });
      const pids: number[] = [];
      registry.on('loaded', (e) => e.pid && pids.push(e.pid));
      const loads = Promise.allSettled(
        PATIENT.map((_, i) => registry.loadPlugin(artifacts[i] as string, 'trusted')),
      );
      await registry.close();
      // The loads started before close(): each ran its init, then the registry (closed) did not keep it.
      for (const r of await loads) expect(r.status).toBe('rejected');
      const started = PATIENT.filter((n) => lines.includes(`${n}: ${n}: init ran`));
      expect(started).toEqual(PATIENT);
      for (const n of started) expect(lines).toContain(`${n}: ${n}: shutdown finished`);
      expect(pids.filter(pidAlive)).toEqual([]);
      expect(PATIENT.flatMap((n) => leftovers(n, ownTmp.dir))).toEqual([]);
      expect(registry.pluginCount()).toBe(0);
    },
  );
});

describe('close() with a warm pool', () => {
  it.each(cases.filter((c) => c.backend !== undefined))(
    '$label: no warm sandbox, warm folder, mount or lease is left when it resolves',
    async ({ label, backend }) => {
      const sandbox = await backend?.();
      if (sandbox === undefined || typeof sandbox === 'string') {
        console.warn(`!!! SKIPPED close() with a warm pool, ${label}: not supported here (${sandbox})`);
        return;
      }
      const registry = new PluginRegistry({
        security,
        sandbox,
        defaultTier: 'sandbox',
        warmPool: { size: 1 },
        log: () => {},
      });
      const warmBase = process.getuid?.() === 0 ? ROOT_WARM_DIR : ownTmp.dir;
      // The first load starts cold and makes the pool start an idle sandbox, which the second takes; then another.
      await registry.loadPlugin(artifacts[0] as string, 'trusted');
      await registry.warmPool?.settled();
      await registry.loadPlugin(artifacts[1] as string, 'trusted');
      await registry.warmPool?.settled();
      expect((await registry.warmPool?.stats())?.hits).toBe(1);
      expect(ownEntries(warmBase).length).toBeGreaterThanOrEqual(2);
      const pids = registry.listLoadedPlugins().flatMap((p) => (p.pid === undefined ? [] : [p.pid]));

      await registry.close();

      expect(pids.filter(pidAlive), 'plugin processes alive').toEqual([]);
      expect(ownEntries(warmBase), 'warm folders').toEqual([]);
      expect([ROOT_SANDBOX_DIR, LANDLOCK_SANDBOX_DIR].flatMap(ownEntries), 'sandbox folders').toEqual([]);
      expect(ownMounts(), 'mounts').toEqual([]);
      expect(ownUidLeases(), 'uid leases').toEqual([]);
    },
  );
});
