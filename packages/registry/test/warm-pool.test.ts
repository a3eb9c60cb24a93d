// The registry's warm pool (issue 17), with both sandbox backends, from the host's side and from the attacker's: a
// plugin whose configuration matches an idle sandbox loads into it (and one that doesn't starts cold); in a warm
// sandbox a plugin gets what a cold start gives it and nothing more — its own uid lease, the same cgroup limits, the
// same mounts plus one read-only folder holding only its own copy; it can't see or reach another pool member; nothing of
// a previous plugin is there; and no idle sandbox, uid lease, cgroup or warm folder outlives close().
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupStaleCgroups } from '@plugward/limits';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LinuxSandbox,
  PluginRegistry,
  type PluginSecurity,
  type SandboxBackend,
  WARM_FOLDER_TARGET,
  WarmPool,
} from '../dist/index.js';
import {
  cgroupLimits,
  dec,
  enc,
  Fixtures,
  ownTmpDir,
  pidAlive,
  SANDBOX_BACKENDS,
  shoutPluginC,
  tempDir,
  until,
} from './helpers.js';

const tmp = tempDir('warm-pool');
const fx = new Fixtures(tmp.dir);
const ownTmp = ownTmpDir('warm-pool');
let security: PluginSecurity;
const artifacts: Record<string, string> = {};

// A plugin that reports, on its `probe` hook, what its sandbox looks like and what it can reach. The hook's input names
// the targets (another pool member's pid and warm folder, host paths), so one signed file serves every test.
const probeSource = (name: string) => `
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
const marker = '/tmp/previous-plugin-was-here';
const had = fs.existsSync(marker);
try { fs.writeFileSync(marker, ${JSON.stringify(name)}); } catch {}
globalThis.__pwSeen = (globalThis.__pwSeen ?? 0) + 1;
const errc = (e) => String((e && (e.code || e.message)) || e);
const attempt = (f) => { try { const r = f(); return r === undefined ? 'ok' : r; } catch (e) { return 'ERR:' + errc(e); } };
export default {
  name: ${JSON.stringify(name)}, version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) {
    h.register('${name}', 300, (data) => {
      const t = JSON.parse(new TextDecoder().decode(data));
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      const ids = (k) => status.split('\\n').find((l) => l.startsWith(k + ':')).split(/\\s+/).slice(1, 3).join(' ');
      const mounts = fs.readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\\n').map((l) => {
        const f = l.split(' ');
        return f[4] + ' ' + f[5];
      });
      const self = path.dirname(path.resolve(process.argv[1] ?? '.'));
      const out = {
        had, seen: globalThis.__pwSeen, uid: ids('Uid'), gid: ids('Gid'), mounts, argv: process.argv.slice(2),
        otherDir: attempt(() => fs.readdirSync(t.otherDir).join(',')),
        warmRoot: attempt(() => fs.readdirSync(t.warmRoot).join(',')),
        signalOther: attempt(() => process.kill(t.otherPid, 0)),
        writeOwnDir: attempt(() => fs.writeFileSync(path.join(t.ownDir, 'x'), 'x')),
        ownDir: attempt(() => fs.readdirSync(t.ownDir).join(',')),
        self,
      };
      return new TextEncoder().encode(JSON.stringify(out));
    });
  },
};
`;

// A native plugin: in a warm sandbox it is dlopened from the read-only warm folder (the scratch /tmp is noexec).
const SHOUT_C = shoutPluginC({ name: 'warm-shout', hook: 'warm-shout' });

const backends = SANDBOX_BACKENDS;

beforeAll(async () => {
  ownTmp.use();
  for (const name of ['warm-a', 'warm-b', 'warm-c']) {
    artifacts[name] = await fx.js(`${name}.mjs`, probeSource(name), { name, kind: 'js' });
    await fx.trust(artifacts[name] as string);
  }
  // Same code, other limits: another sandbox configuration (its cgroup differs).
  artifacts['warm-big'] = await fx.js('warm-big.mjs', probeSource('warm-big'), {
    name: 'warm-big',
    kind: 'js',
    limits: { maxHeapBytes: 24 * 1024 * 1024 },
  });
  await fx.trust(artifacts['warm-big'] as string);
  artifacts['warm-shout'] = await fx.native('libwarmshout.so', SHOUT_C, {
    name: 'warm-shout',
    kind: 'native',
  });
  await fx.trust(artifacts['warm-shout'] as string);
  security = await fx.security();
}, 60_000);

afterAll(() => {
  ownTmp.restore();
  tmp.remove();
});

/** Where warm folders are: a root-owned folder on root hosts, else the temp root. */
const warmBase = (): string => (process.getuid?.() === 0 ? '/run/plugward-warm' : ownTmp.dir);

/** The warm folders host `pid` made under `base` (full paths): the owner file beside each names its host. */
function warmFoldersOf(pid: number, base = warmBase()): string[] {
  if (!fs.existsSync(base)) return [];
  return fs
    .readdirSync(base)
    .filter((d) => {
      if (!d.startsWith('plugward-warm-') || d.endsWith('.owner')) return false;
      try {
        return fs.readFileSync(path.join(base, `${d}.owner`), 'utf8').startsWith(`${pid}-`);
      } catch {
        return false;
      }
    })
    .map((d) => path.join(base, d));
}

/** A warm sandbox's cgroup of host `pid`: `plugward-warm-<pool id>-<host pid>-…`. */
const warmCgroupOf = (pid: number): RegExp => new RegExp(`plugward-warm-[0-9a-f]{8}-${pid}-`);

/**
 * Processes of the warm sandboxes host `pid` started: whose command line names one of its warm folders, or whose
 * cgroup is a warm sandbox's of that host (inside bubblewrap the command line names the folder at a neutral path).
 */
function processesWith(pid = process.pid): number[] {
  const found: number[] = [];
  const folders = warmFoldersOf(pid);
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8');
      const named =
        folders.some((f) => cmdline.includes(f)) ||
        warmCgroupOf(pid).test(fs.readFileSync(`/proc/${p}/cgroup`, 'utf8'));
      if (named && pidAlive(Number(p))) found.push(Number(p));
    } catch {
      // gone
    }
  }
  return found;
}

/** The warm folders this process made. */
function warmDirs(): string[] {
  return warmFoldersOf(process.pid);
}

/** Cgroups of warm sandboxes host `pid` made. */
function warmCgroups(pid = process.pid): string[] {
  const out: string[] = [];
  for (const c of ['memory', 'pids', 'cpu']) {
    const dir = `/sys/fs/cgroup/${c}/plugward`;
    if (!fs.existsSync(dir)) continue;
    for (const d of fs.readdirSync(dir)) if (warmCgroupOf(pid).test(d)) out.push(path.join(dir, d));
  }
  return out;
}

/** uid lease files held by host `pid`. */
function leases(pid = process.pid): string[] {
  const dir = '/run/plugward/uids';
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir).filter((f) => {
    try {
      // A lease names its host by the host tag `<pid>-<start time>`.
      return fs.readFileSync(path.join(dir, f), 'utf8').trim().startsWith(`${pid}-`);
    } catch {
      return false;
    }
  });
}

/** Warm folders of host `pid` (root hosts). */
function warmDirsOf(pid: number): string[] {
  return warmFoldersOf(pid, '/run/plugward-warm');
}

function probe(registry: PluginRegistry, name: string, targets: Record<string, unknown>) {
  return registry.hooks
    .execute(name, enc.encode(JSON.stringify(targets)))
    .then((b) => JSON.parse(dec.decode(b)) as Record<string, unknown>);
}

describe('options', () => {
  it('size and the other bounds are validated; a pool needs a sandbox backend', () => {
    const sandbox = new LinuxSandbox();
    for (const size of [0, 17, 1.5, Number.NaN]) {
      expect(() => new PluginRegistry({ security, sandbox, warmPool: { size } })).toThrow(
        expect.objectContaining({ code: 'InvalidArgument' }),
      );
    }
    expect(() => new WarmPool(sandbox, { size: 1, maxConfigurations: 0 })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    expect(() => new PluginRegistry({ security, warmPool: { size: 1 } })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
    // Off by default.
    expect(new PluginRegistry({ security, sandbox }).warmPool).toBeUndefined();
  });
});

describe.each(backends)('warm pool, %s', (label, support, make) => {
  let sandbox: SandboxBackend<import('node:stream').Duplex> | undefined;
  beforeAll(async () => {
    const report = await support();
    if (report.supported) sandbox = make();
    else
      console.warn(
        `!!! SKIPPED warm pool on ${label}: not supported here (${JSON.stringify(report.features)})`,
      );
  });

  it('a matching plugin loads into a warm sandbox, gets what a cold start gives it, and nothing of another', async () => {
    if (!sandbox) return;
    const registry = new PluginRegistry({
      security,
      sandbox,
      defaultTier: 'sandbox',
      warmPool: { size: 2 },
      log: () => {},
    });
    const pool = registry.warmPool as WarmPool;
    try {
      // The first load of a configuration is cold; the pool fills after it.
      await registry.loadPlugin(artifacts['warm-a'] as string, 'trusted');
      await pool.settled();
      let stats = await pool.stats();
      expect(stats).toMatchObject({
        configurations: 1,
        idle: 2,
        starting: 0,
        hits: 0,
        misses: 1,
        maxIdle: 8,
      });
      // Charged: every idle sandbox's PSS is measured, and is a real process tree (more than 5 MiB, less than 200).
      expect(stats.idlePssBytes).toHaveLength(2);
      for (const b of stats.idlePssBytes) {
        expect(b).toBeGreaterThan(5 * 2 ** 20);
        expect(b).toBeLessThan(200 * 2 ** 20);
      }
      const idlePids = processesWith();
      expect(idlePids.length).toBeGreaterThanOrEqual(2);

      await registry.loadPlugin(artifacts['warm-b'] as string, 'trusted');
      stats = await pool.stats();
      expect(stats.hits).toBe(1);
      const cold = registry.getPluginInfo('warm-a')?.pid as number;
      const warm = registry.getPluginInfo('warm-b')?.pid as number;
      expect(cold).toBeGreaterThan(0);
      expect(warm).toBeGreaterThan(0);
      // The one still idle: another pool member, which warm-b must neither see nor reach.
      const otherIdle = processesWith().filter(
        (p) => p !== warm && !isDescendant(p, warm) && !isDescendant(warm, p),
      );
      const otherPid = otherIdle[0] as number;
      const otherDir = warmDirOf(otherPid);
      expect(otherDir).toBeDefined();
      const ownDir = warmDirOf(warm);
      expect(ownDir).toBeDefined();
      const base = path.dirname(ownDir as string);

      const a = await probe(registry, 'warm-a', {
        otherDir,
        otherPid,
        warmRoot: base,
        ownDir: '/nonexistent',
      });
      // Where warm-b sees its own folder: bubblewrap binds it at a neutral path (WARM_FOLDER_TARGET), Landlock at its own.
      const ownInside = warmDirInside(warm) as string;
      if (label === 'bubblewrap' && process.getuid?.() === 0) expect(ownInside).toBe(WARM_FOLDER_TARGET);
      else expect(ownInside).toBe(ownDir);
      const b = await probe(registry, 'warm-b', { otherDir, otherPid, warmRoot: base, ownDir: ownInside });

      // Same lease scheme: on a root host each sandbox runs as its own leased uid (never 0, never the host's).
      if (process.getuid?.() === 0) {
        for (const r of [a, b]) expect(r.uid).not.toMatch(/^0 /);
        expect(b.uid).not.toBe(a.uid);
      } else {
        expect(b.uid).toBe(a.uid);
      }
      // Same cgroup limits as the cold start of the same configuration.
      // (The kernel's values; the groups' names differ.)
      const values = (l: Record<string, string>) =>
        Object.fromEntries(Object.entries(l).map(([k, v]) => [k, v.split(':').at(-1)]));
      const limitsA = values(cgroupLimits(cold));
      const limitsB = values(cgroupLimits(warm));
      expect(limitsB.memory).toMatch(/^\d+$/);
      expect(limitsB.pids).toMatch(/^\d+$/);
      expect(limitsB.cpu).toMatch(/^\d+$/);
      expect(limitsB).toEqual(limitsA);
      // Same mounts, plus exactly one: its warm folder, read-only, holding only its own copy.
      const ma = new Set(a.mounts as string[]);
      const extra = (b.mounts as string[]).filter((m) => !ma.has(m));
      const missing = [...ma].filter((m) => !(b.mounts as string[]).includes(m));
      if (label === 'bubblewrap') {
        expect(missing).toEqual([]);
        expect(extra).toHaveLength(1);
        expect(extra[0]).toMatch(/^\S+ ro,/);
      } else {
        // No mount namespace: both see the host's mounts.
        expect(extra).toEqual([]);
        expect(missing).toEqual([]);
      }
      expect(b.writeOwnDir).toMatch(/^ERR:(EROFS|EACCES|EPERM)$/);
      expect(String(b.ownDir).split(',')).toHaveLength(1);
      // Nothing of another plugin: no marker in its /tmp, its module ran once, its runtime was never anyone's.
      expect(b.had).toBe(false);
      expect(b.seen).toBe(1);
      // Another pool member: not listable, not signalable; the warm root not listable.
      expect(b.otherDir).toMatch(/^ERR:(ENOENT|EACCES|EPERM)$/);
      // The host's warm root: not in a root host's bubblewrap sandbox at all (non-root: only the mount point of its own
      // folder); Landlock denies it.
      if (label === 'bubblewrap' && process.getuid?.() !== 0)
        expect(b.warmRoot).toBe(path.basename(ownDir as string));
      else expect(b.warmRoot).toMatch(/^ERR:(ENOENT|EACCES|EPERM)$/);
      expect(b.signalOther).toMatch(/^ERR:(ESRCH|EPERM)$/);
      expect(dec.decode(await registry.hooks.execute('warm-a', enc.encode('{}'))).length).toBeGreaterThan(0);

      // Unloaded, its sandbox ends and is never handed out again: the next plugin gets another one.
      await registry.unloadPlugin('warm-b');
      expect(pidAlive(warm)).toBe(false);
      await pool.settled();
      await registry.loadPlugin(artifacts['warm-c'] as string, 'trusted');
      const c = await probe(registry, 'warm-c', {
        otherDir,
        otherPid,
        warmRoot: base,
        ownDir: '/nonexistent',
      });
      expect(registry.getPluginInfo('warm-c')?.pid).not.toBe(warm);
      expect(c.had).toBe(false);
      expect((await pool.stats()).hits).toBe(2);

      // Another configuration (other limits) never takes one of these: it starts cold.
      await registry.loadPlugin(artifacts['warm-big'] as string, 'trusted');
      stats = await pool.stats();
      expect(stats.hits).toBe(2);
      expect(stats.misses).toBe(2);
    } finally {
      await registry.close();
    }
    // Nothing outlives close(): processes, cgroups, uid leases, warm folders.
    await until(() => processesWith().length === 0, 10_000, 'warm processes to end');
    expect(warmCgroups()).toEqual([]);
    expect(warmDirs()).toEqual([]);
    expect(leases()).toEqual([]);
  }, 60_000);

  it('a native plugin loads into a warm sandbox and runs from its read-only warm folder', async () => {
    if (!sandbox) return;
    const registry = new PluginRegistry({
      security,
      sandbox,
      defaultTier: 'sandbox',
      warmPool: { size: 1 },
      log: () => {},
    });
    try {
      await registry.loadPlugin(artifacts['warm-shout'] as string, 'trusted');
      expect(dec.decode(await registry.hooks.execute('warm-shout', enc.encode('cold')))).toBe('COLD');
      await registry.unloadPlugin('warm-shout');
      const pool = registry.warmPool as WarmPool;
      await pool.settled();
      await registry.loadPlugin(artifacts['warm-shout'] as string, 'trusted');
      expect((await pool.stats()).hits).toBe(1);
      expect(dec.decode(await registry.hooks.execute('warm-shout', enc.encode('warm')))).toBe('WARM');
    } finally {
      await registry.close();
    }
  }, 60_000);

  it('an idle sandbox that waited idleTtlMs ends', async () => {
    if (!sandbox) return;
    const registry = new PluginRegistry({
      security,
      sandbox,
      defaultTier: 'sandbox',
      warmPool: { size: 1, idleTtlMs: 300 },
      log: () => {},
    });
    try {
      await registry.loadPlugin(artifacts['warm-a'] as string, 'trusted');
      const pool = registry.warmPool as WarmPool;
      await pool.settled();
      expect((await pool.stats()).idle).toBe(1);
      await until(() => processesWith().length === 0, 10_000, 'the idle sandbox to end');
      expect((await pool.stats()).idle).toBe(0);
      await until(() => warmDirs().length === 0, 2000, 'its warm folder to go');
    } finally {
      await registry.close();
    }
  }, 30_000);
});

describe.each(backends)('warm pool after a host crash, %s', (label, support) => {
  it('SIGKILL of the host: no idle sandbox survives, and the sweeps remove its cgroups, uid leases and folders', async () => {
    const report = await support();
    if (!report.supported) {
      console.warn(`!!! SKIPPED host crash on ${label}: not supported here`);
      return;
    }
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED host crash: needs a root host (uid leases, /run/plugward-warm)');
      return;
    }
    const dist = path.resolve(__dirname, '../dist/index.js');
    const backend = label === 'bubblewrap' ? 'LinuxSandbox' : 'LandlockSandbox';
    // A host with a pool of two; `close` says whether it closes the pool and exits once it is full (the next host).
    const hostScript = (close: boolean): string => {
      const file = path.join(tmp.dir, `crash-host-${label}-${close}.mjs`);
      fs.writeFileSync(
        file,
        `import { ${backend} as B, WarmPool, DEFAULT_RESOURCE_LIMITS } from ${JSON.stringify(dist)};
         const pool = new WarmPool(new B(), { size: ${close ? 1 : 2} });
         pool.prewarm({ network: { mode: 'isolated' }, filesystem: { mode: 'none' }, context: { read: [], write: [] } },
           { ...DEFAULT_RESOURCE_LIMITS });
         await pool.settled();
         console.log(JSON.stringify(await pool.stats()));
         if (${close}) await pool.close(); else setInterval(() => {}, 1000);`,
      );
      return file;
    };
    const startHost = async (close: boolean) => {
      const host = spawn(process.execPath, [hostScript(close)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise((r) => host.once('exit', r));
      const line = await new Promise<string>((resolve, reject) => {
        let b = '';
        host.stdout.on('data', (d: Buffer) => {
          b += d.toString();
          if (b.includes('\n')) resolve(b);
        });
        host.once('exit', (code) => reject(new Error(`host exited ${code}`)));
      });
      return { host, exited, stats: JSON.parse(line) as { idle: number } };
    };
    const { host, exited, stats } = await startHost(false);
    expect(stats.idle).toBe(2);
    const hostPid = host.pid as number;
    expect(warmDirsOf(hostPid)).toHaveLength(2);
    expect(processesWith(hostPid).length).toBeGreaterThanOrEqual(2);
    expect(warmCgroups(hostPid).length).toBeGreaterThanOrEqual(2);
    expect(leases(hostPid)).toHaveLength(2);
    host.kill('SIGKILL');
    await exited;
    // No idle sandbox outlives its host.
    await until(() => processesWith(hostPid).length === 0, 5000, 'idle sandboxes to die');
    // The next host's sweeps (a new process, as after a crash): the cgroups of dead hosts (on its first cgroup), their
    // uid leases (on its first lease), their warm folders (on its pool's first start).
    const next = await startHost(true);
    expect(next.stats.idle).toBe(1);
    await next.exited;
    // A zombie still listed in a cgroup (until the machine's init reaps it) keeps it: sweep again until then.
    await until(
      () => {
        cleanupStaleCgroups();
        return warmCgroups(hostPid).length === 0;
      },
      5000,
      "the dead host's cgroups to be swept",
    );
    expect(leases(hostPid)).toEqual([]);
    expect(warmDirsOf(hostPid)).toEqual([]);
  }, 60_000);
});

/** Whether `pid` descends from `ancestor` (bwrap's child, the runtime, under the launcher). */
function isDescendant(pid: number, ancestor: number): boolean {
  for (let p = pid, i = 0; p > 1 && i < 32; i++) {
    if (p === ancestor) return true;
    try {
      p = Number(
        fs
          .readFileSync(`/proc/${p}/stat`, 'utf8')
          .replace(/^.*\) /, '')
          .split(' ')[1],
      );
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * The host's path of what `pid` sees at `inside`: the same path, unless it is a mount of its own there (a warm folder's
 * tmpfs bound at a neutral path), then where the host has that filesystem mounted.
 */
function hostPathOf(pid: number, inside: string): string {
  const fields = (l: string) => l.split(' ');
  const line = fs
    .readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .find((l) => fields(l)[4] === inside && fields(l)[3] === '/');
  if (line === undefined) return inside;
  const device = fields(line)[2];
  const host = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find(
      (l) => fields(l)[2] === device && fields(l)[3] === '/' && warmDirs().some((d) => fields(l)[4] === d),
    );
  return host === undefined ? inside : (fields(host)[4] as string);
}

/** The path of its warm folder inside the sandbox of `pid`: what its command line names. */
function warmDirInside(pid: number): string | undefined {
  const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  const i = argv.indexOf('--plugward-warm');
  return i >= 0 ? argv[i + 1] : undefined;
}

/**
 * The host path of the warm folder named on the command line of `pid` or of its descendants (bubblewrap's outer process
 * names it too, but only the sandboxed ones have the sandbox's mount table).
 */
function warmDirOf(pid: number): string | undefined {
  let named: string | undefined;
  for (const p of [pid, ...processesWith()]) {
    if (p !== pid && !isDescendant(p, pid)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('--plugward-warm');
      const inside = argv[i + 1];
      if (i < 0 || !inside) continue;
      named = inside;
      const host = hostPathOf(p, inside);
      if (host !== inside) return host;
    } catch {
      // gone
    }
  }
  return named;
}
