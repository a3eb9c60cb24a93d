// One OOM kill, one outcome: a sandboxed plugin killed by its cgroup's memory limit ends `Failed` with `crashed`
// (`oomKilled: true`) and `unloaded` (`reason: 'crashed'`) — the documented lifecycle of a process that dies of OOM —
// whichever the registry learns first: the kernel's OOM-kill count (the monitor's `OutOfMemory` reading, which starts
// an automatic unmount) or the process's exit (the exit watcher; reported after the channel's last bytes, up to 1 s
// later). Both orders are forced here, on both sandbox backends:
// - unmount first: the test blocks the host's event loop while it reads the plugin's cgroup until the kernel records
//   the OOM kill, and records the `OutOfMemory` violation (what the monitor does with that reading) in the same turn —
//   the host can't have seen the exit yet;
// - exit first: the unmount is decided before the kill but waits in a long grace period; the exit watcher reports the
//   crash meanwhile, then `close()` cuts the grace short and the unmount's teardown runs after it.
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOURCE_LIMITS,
  PluginRegistry,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import { backendRunsHere, Fixtures, SANDBOX_BACKENDS, tempDir, until } from './helpers.js';

const HOG = `
const hoard = [];
export default {
  name: 'oom-hog', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) {
    h.register('hog', 200, async () => {
      for (;;) { hoard.push(Buffer.alloc(8 * 1024 * 1024, 1)); await new Promise((r) => setImmediate(r)); }
    });
  },
};
`;

const tmp = tempDir('oom-ending');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let hog: string;

beforeAll(async () => {
  hog = await fx.js('hog.mjs', HOG, {
    name: 'oom-hog',
    kind: 'js',
    limits: { maxHeapBytes: 32 * 1024 * 1024, maxCpuTimeMs: 30_000 },
  });
  await fx.trust(hog);
  security = await fx.security();
});
afterAll(() => tmp.remove());

/** A file of `pid`'s memory cgroup: its v1 name, or its v2 name; undefined when the process is gone. */
function memoryFile(pid: number, v1Name: string, v2Name: string): string | undefined {
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
      const [, controllers = '', where = ''] = line.split(':');
      if (controllers.split(',').includes('memory')) return `/sys/fs/cgroup/memory${where}/${v1Name}`;
      if (controllers === '' && where !== '/') return `/sys/fs/cgroup${where}/${v2Name}`;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

function readNumber(file: string | undefined, pattern: RegExp): number | undefined {
  try {
    const m = pattern.exec(fs.readFileSync(file ?? '', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function watch(registry: PluginRegistry) {
  const events: string[] = [];
  const crashed: RegistryEvents['crashed'][] = [];
  registry.on('crashed', (e) => {
    crashed.push(e);
    events.push('crashed');
  });
  registry.on('unloaded', (e) => events.push(`unloaded:${e.reason}`));
  return { events, crashed };
}

function expectOomCrash(registry: PluginRegistry, ev: ReturnType<typeof watch>): void {
  expect(ev.crashed).toMatchObject([{ name: 'oom-hog', oomKilled: true }]);
  expect(ev.events).toEqual(['crashed', 'unloaded:crashed']);
  const info = registry.getPluginInfo('oom-hog');
  expect(info?.status).toBe('Failed');
  expect(info?.error).toMatch(/memory limit/);
  expect(info?.pid).toBeUndefined();
}

describe.each(SANDBOX_BACKENDS)('an OOM-killed sandboxed plugin (%s)', (label, support, backend) => {
  it('ends Failed (crashed, oomKilled) when the OOM unmount is decided before the exit is seen', async (ctx) => {
    if (!(await backendRunsHere(label, support))) return ctx.skip();
    const registry = new PluginRegistry({
      security,
      sandbox: backend(),
      defaultTier: 'sandbox',
      // The hoarding call may take seconds on a loaded machine: its time budget must not end it before the OOM kill.
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 30_000 },
      // One OutOfMemory (Critical) unmounts at once, as the monitor's first OOM reading would.
      violations: { severityEscalation: true },
      unmountBehavior: { autoUnmount: true, gracePeriodMs: 0, maxCleanupTimeMs: 5000, logViolations: false },
      log: () => {},
    });
    try {
      const ev = watch(registry);
      await registry.loadPlugin(hog, 'trusted');
      const pid = registry.getPluginInfo('oom-hog')!.pid!;
      const oomFile = memoryFile(pid, 'memory.oom_control', 'memory.events');
      const usageFile = memoryFile(pid, 'memory.usage_in_bytes', 'memory.current');
      const limit = readNumber(memoryFile(pid, 'memory.limit_in_bytes', 'memory.max'), /^(\d+)/) ?? 0;
      const oomKills = () => readNumber(oomFile, /^oom_kill (\d+)$/m);
      const before = oomKills() ?? 0;
      const call = registry.hooks.execute('hog', new Uint8Array()).catch((e: unknown) => e);
      // The hoarding is under way (the call reached the plugin) before the host stops looking at anything else.
      await until(() => (readNumber(usageFile, /^(\d+)/) ?? 0) > limit / 2, 60_000, 'the plugin hoarding');
      // Blocking on purpose: until the kernel records the kill, nothing of the host runs — no exit is seen.
      const deadline = Date.now() + 60_000;
      let kills = before;
      while (kills <= before && Date.now() < deadline) kills = oomKills() ?? before;
      expect(kills, 'the cgroup recorded an OOM kill').toBeGreaterThan(before);
      expect(registry.getPluginInfo('oom-hog')?.status).toBe('Active');
      const unmounted = registry.recordViolation('oom-hog', { type: 'OutOfMemory', limit: 32 * 1024 * 1024 });
      await unmounted;
      await call;
      await until(() => ev.events.length >= 2, 30_000, 'the end reported');
      expectOomCrash(registry, ev);
    } finally {
      await registry.close();
    }
  }, 180_000);

  it('ends Failed (crashed, oomKilled) when the exit is seen while the unmount waits its grace', async (ctx) => {
    if (!(await backendRunsHere(label, support))) return ctx.skip();
    const registry = new PluginRegistry({
      security,
      sandbox: backend(),
      defaultTier: 'sandbox',
      // The hoarding call may take seconds on a loaded machine: its time budget must not end it before the OOM kill.
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 30_000 },
      // One OutOfMemory (Critical) unmounts at once, as the monitor's first OOM reading would.
      violations: { severityEscalation: true },
      unmountBehavior: {
        autoUnmount: true,
        gracePeriodMs: 600_000,
        maxCleanupTimeMs: 5000,
        logViolations: false,
      },
      log: () => {},
    });
    try {
      const ev = watch(registry);
      await registry.loadPlugin(hog, 'trusted');
      const unmounted = registry.recordViolation('oom-hog', { type: 'OutOfMemory', limit: 32 * 1024 * 1024 });
      await registry.hooks.execute('hog', new Uint8Array()).catch((e: unknown) => e);
      await until(() => ev.crashed.length > 0, 60_000, 'the exit watcher reports the crash');
      // close() cuts the grace period short: the unmount's teardown runs now, after the crash was reported.
      await registry.close();
      await unmounted;
      expectOomCrash(registry, ev);
    } finally {
      await registry.close();
    }
  }, 180_000);
});
