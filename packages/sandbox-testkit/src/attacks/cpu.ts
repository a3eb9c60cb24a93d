import fs from 'node:fs';
import path from 'node:path';
import type { AttackDefinition } from '../attack.js';
import { cgroupsMatching, processesMatching } from '../leftovers.js';
import { refusedAtLoad } from './verdict.js';

/** The CPU quota of the plugin's cgroup (v1 `cpu.cfs_quota_us`, v2 `cpu.max`), or undefined when none is found. */
function cpuQuota(token: string): { dir: string; quota: string } | undefined {
  for (const dir of cgroupsMatching(token)) {
    for (const [file, unlimited] of [
      ['cpu.cfs_quota_us', '-1'],
      ['cpu.max', 'max'],
    ] as const) {
      try {
        const v = fs.readFileSync(path.join(dir, file), 'utf8').trim();
        return { dir, quota: v.startsWith(unlimited) ? 'none' : `${file}=${v}` };
      } catch {
        // not this controller
      }
    }
  }
  return undefined;
}

/** SIGKILLs every process naming `token` (an attack already judged); returns how many. */
function killAll(token: string): number {
  const pids = processesMatching(token).map((p) => Number(p.split(':')[0]));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  return pids.length;
}

/** Attacks on CPU: a background spin, and an init that never returns. */
export const cpuAttacks: readonly AttackDefinition[] = [
  {
    id: 'cpu.background-spin',
    class: 'cpu',
    title: 'a plugin spinning in the background is held to a CPU quota (no monitor needed)',
    tries: 'returns from init, then spins its main thread forever',
    async run(scene) {
      const registry = await scene.start();
      const name = scene.pluginName('spin');
      const { load } = await scene.attack(
        await scene.jsPlugin({ name, init: 'setTimeout(() => { for (;;) {} }, 50);' }),
      );
      if (!load.loaded) return refusedAtLoad(load);
      await new Promise((r) => setTimeout(r, 300));
      const m0 = await registry.getMetrics(name).catch(() => undefined);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const m1 = await registry.getMetrics(name).catch(() => undefined);
      const wall = performance.now() - t0;
      const used =
        m0?.cpuTimeMs !== undefined && m1?.cpuTimeMs !== undefined ? m1.cpuTimeMs - m0.cpuTimeMs : undefined;
      const share = used === undefined ? undefined : used / wall;
      const quota = cpuQuota(scene.nonce);
      const measured =
        share === undefined
          ? 'CPU time not measurable'
          : `used ${Math.round(share * 100)}% of a core over ${Math.round(wall)} ms`;
      // Judged on the quota when the backend has cgroups (the share depends on how busy the machine is), else on use.
      const escaped = quota ? quota.quota === 'none' : (share ?? 1) > 0.9;
      // An unthrottled spinner would burn a core of a shared machine until the unload gives up on its shutdown.
      if (escaped) killAll(scene.nonce);
      return {
        escaped,
        evidence: `${measured}; cgroup CPU quota: ${quota ? quota.quota : 'no cgroup found'}`,
      };
    },
  },
  {
    id: 'cpu.init-spin',
    class: 'cpu',
    title: 'an init that spins is stopped within a CPU budget',
    tries: 'spins forever inside init (asks for maxCpuTimeMs 2000)',
    async run(scene) {
      await scene.start();
      const file = await scene.jsPlugin(
        { name: scene.pluginName('initspin'), init: 'for (;;) {}' },
        { limits: { maxCpuTimeMs: 2000 } },
      );
      const t0 = performance.now();
      const limitMs = 10_000;
      const outcome = await Promise.race([
        scene.loadUntrusted(file),
        new Promise<undefined>((r) => setTimeout(() => r(undefined), limitMs).unref()),
      ]);
      const took = Math.round(performance.now() - t0);
      if (outcome === undefined) {
        // Judged; now stop burning a core of a shared machine until the registry's own timeout (30 s today).
        const killed = killAll(scene.nonce);
        return {
          escaped: true,
          evidence: `init still spinning after ${limitMs} ms: no init CPU budget stopped it (the kit then killed ${killed} process(es))`,
        };
      }
      return {
        escaped: outcome.loaded,
        evidence: outcome.loaded
          ? `a spinning init was reported loaded after ${took} ms`
          : `load failed after ${took} ms: ${outcome.error.code}: ${outcome.error.message.slice(0, 80)}`,
      };
    },
  },
];
