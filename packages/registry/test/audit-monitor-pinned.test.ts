// Attacker (audit, session 7): what the resource monitor holds for a process-tier plugin. A monitor that keeps files of
// `/proc/<pid>/…` open between sweeps (issue 17) must give them back when the plugin's process ends — however it ends:
// killed from outside while sweeps run (a crash), unloaded, or closed with the registry — and a reading after the end
// must never be another process's: the pid is freed at once, and a plugin that crashes right after a sweep leaves its
// pid to whatever the machine starts next. Asserted: no descriptor of the host names `/proc/<a dead plugin's pid>`,
// the host's descriptors come back to what they were, the dead plugin's metrics say nothing of a live process, and the
// host still serves.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import {
  backendRunsHere,
  dec,
  enc,
  Fixtures,
  HEALTH_PROBE,
  NO_GRANTS,
  pidAlive,
  SANDBOX_BACKENDS,
  tempDir,
  until,
} from './helpers.js';

const tmp = tempDir('audit-monitor-pinned');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const worker = (name: string) => `export default {
  name: '${name}', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.${name}', 300, (d) => d); },
};`;

/** The host's open descriptors: fd → what it names. */
function hostFds(): Map<string, string> {
  const out = new Map<string, string>();
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      out.set(fd, fs.readlinkSync(`/proc/self/fd/${fd}`));
    } catch {
      // closed meanwhile (the readdir's own fd)
    }
  }
  return out;
}

/** The cgroup directories (one per v1 hierarchy, or the v2 one) process `pid` is in, below the root. */
function cgroupDirs(pid: number): string[] {
  const out: string[] = [];
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers = '', where = ''] = line.split(':');
    if (where === '/' || where === '') continue;
    const base =
      controllers === '' ? '/sys/fs/cgroup' : `/sys/fs/cgroup/${controllers.replace(/^name=/, '')}`;
    if (fs.existsSync(base + where)) out.push(base + where);
  }
  return out;
}

/** Host descriptors that name something in one of `dirs`. */
function heldIn(dirs: readonly string[]): string[] {
  return [...hostFds().values()].filter((t) => dirs.some((d) => t === d || t.startsWith(`${d}/`)));
}

/** Host descriptors that name a file of /proc/<pid>. */
function pinned(pid: number): string[] {
  return [...hostFds().values()].filter((t) => t === `/proc/${pid}` || t.startsWith(`/proc/${pid}/`));
}

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  await fx.trust(files.probe);
  for (const n of ['crasher', 'unloadee', 'stayer']) {
    files[n] = await fx.js(`${n}.mjs`, worker(n), { name: n, kind: 'js' });
    await fx.trust(files[n] as string);
    files[`u-${n}`] = await fx.js(`u-${n}.mjs`, worker(`u${n}`), {
      name: `u${n}`,
      kind: 'js',
      keys: fx.stranger,
      requirements: NO_GRANTS(),
    });
  }
  security = await fx.security({ onlyTrusted: false });
});
afterAll(() => tmp.remove());

describe('audit: the monitor’s hold on a process-tier plugin’s /proc files', () => {
  it('ends with the process (crash, unload, close), and a dead plugin’s pid reads as no one', {
    timeout: 90_000,
  }, async () => {
    const before = hostFds().size;
    const r = new PluginRegistry({
      security,
      tierOverrides: {
        crasher: 'process',
        unloadee: 'process',
        stayer: 'process',
        'audit-probe': 'in-process',
      },
      log: () => {},
    });
    const pids: number[] = [];
    try {
      for (const n of ['probe', 'crasher', 'unloadee', 'stayer'])
        await r.loadPlugin(files[n] as string, 'trusted');
      for (const n of ['crasher', 'unloadee', 'stayer']) pids.push(r.getPluginInfo(n)?.pid as number);
      const [crasher, unloadee, stayer] = pids as [number, number, number];
      const monitor = r.startResourceMonitor(20);
      try {
        // Several sweeps (every 20 ms), each reading every plugin.
        await new Promise((res) => setTimeout(res, 500));

        // A crash while sweeps run: killed from outside, reaped by the host.
        process.kill(crasher, 'SIGKILL');
        await until(() => r.getPluginInfo('crasher')?.status !== 'Active', 10_000, 'the crash to be seen');
        await until(() => !pidAlive(crasher), 5000, 'the crasher to be gone');
        // Let sweeps run after the end, then try to hand its pid to someone else (pids are handed out in order:
        // a burst of short processes walks past it only sometimes, so this only makes reuse possible, not certain).
        await new Promise((res) => setTimeout(res, 200));
        await Promise.all(
          Array.from(
            { length: 20 },
            () => new Promise((res) => spawn('sleep', ['0.5'], { stdio: 'ignore' }).on('exit', res)),
          ),
        );
        expect(pinned(crasher), `host fds naming /proc/${crasher} after its crash`).toEqual([]);
        // Whatever took its pid meanwhile is not read as the plugin: no reading of a live process under its name.
        expect(r.getPluginInfo('crasher')?.status).not.toBe('Active');
        const late = await r.getMetrics('crasher').catch((e: unknown) => e);
        expect(
          late instanceof Error || (late as { exited?: boolean }).exited === true,
          `late reading: ${JSON.stringify(late)}`,
        ).toBe(true);

        await r.unloadPlugin('unloadee');
        await until(() => !pidAlive(unloadee), 5000, 'the unloaded plugin to be gone');
        await new Promise((res) => setTimeout(res, 200));
        expect(pinned(unloadee), `host fds naming /proc/${unloadee} after its unload`).toEqual([]);

        // The living plugin is still read, and answers.
        const m = await r.getMetrics('stayer');
        expect(m.exited ?? false).toBe(false);
        expect(m.cpuTimeMs ?? 0).toBeGreaterThan(0);
        expect(dec.decode(await r.hooks.execute('audit.stayer', enc.encode('still')))).toBe('still');
        expect(dec.decode(await r.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
        expect(pidAlive(stayer)).toBe(true);
      } finally {
        monitor.stop();
      }
    } finally {
      await r.close();
    }
    for (const pid of pids) await until(() => !pidAlive(pid), 5000, `plugin ${pid} to be gone`);
    await new Promise((res) => setTimeout(res, 200));
    for (const pid of pids) expect(pinned(pid), `host fds naming /proc/${pid} after close`).toEqual([]);
    // Back to what the host held before (a few of the test runner's own may come and go).
    await until(() => hostFds().size <= before + 2, 5000, 'the host’s descriptors to come back');
    expect(hostFds().size).toBeLessThanOrEqual(before + 2);
  });

  for (const [label, support, make] of SANDBOX_BACKENDS) {
    it(`${label}: the sandboxed plugin's cgroup files are let go when it ends, and its cgroups go`, {
      timeout: 90_000,
    }, async (t) => {
      if (!(await backendRunsHere(label, support))) return t.skip(`${label} not supported here`);
      const r = new PluginRegistry({
        security,
        sandbox: make(),
        policy: { onlyTrusted: false },
        tierOverrides: { 'audit-probe': 'in-process' },
        grants: {
          plugins: Object.fromEntries(
            ['crasher', 'unloadee', 'stayer'].map((n) => [`u${n}`, { hooks: [{ name: `audit.u${n}` }] }]),
          ),
        },
        log: () => {},
      });
      const pids: number[] = [];
      const dirs = new Map<string, string[]>();
      try {
        await r.loadPlugin(files.probe as string, 'trusted');
        for (const n of ['crasher', 'unloadee', 'stayer']) {
          await r.loadPlugin(files[`u-${n}`] as string, 'untrusted');
          const pid = r.getPluginInfo(`u${n}`)?.pid as number;
          pids.push(pid);
          dirs.set(n, cgroupDirs(pid));
        }
        expect(
          dirs.get('crasher')?.length ?? 0,
          'the sandboxed plugin has cgroups of its own',
        ).toBeGreaterThan(0);
        const monitor = r.startResourceMonitor(20);
        try {
          await new Promise((res) => setTimeout(res, 500));
          process.kill(pids[0] as number, 'SIGKILL');
          await until(() => r.getPluginInfo('ucrasher')?.status !== 'Active', 10_000, 'the crash to be seen');
          await r.unloadPlugin('uunloadee');
          await new Promise((res) => setTimeout(res, 300));
          for (const n of ['crasher', 'unloadee']) {
            const mine = dirs.get(n) ?? [];
            await until(() => mine.every((d) => !fs.existsSync(d)), 10_000, `${n}'s cgroups to be removed`);
            expect(heldIn(mine), `host fds in ${n}'s cgroups after its end`).toEqual([]);
          }
          expect(dec.decode(await r.hooks.execute('audit.ustayer', enc.encode('still')))).toBe('still');
          expect(dec.decode(await r.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
        } finally {
          monitor.stop();
        }
      } finally {
        await r.close();
      }
      for (const pid of pids) await until(() => !pidAlive(pid), 5000, `plugin ${pid} to be gone`);
      const all = [...dirs.values()].flat();
      await until(() => all.every((d) => !fs.existsSync(d)), 10_000, 'every cgroup to be removed');
      expect(heldIn(all), 'host fds in the plugins’ cgroups after close').toEqual([]);
    });
  }
});
