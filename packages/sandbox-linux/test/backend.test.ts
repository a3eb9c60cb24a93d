import fs from 'node:fs';
import path from 'node:path';
import { cgroupName, cleanupStaleCgroups, createCgroup, detectCgroupLayout } from '@plugward/limits';
import { isPluginError, MIN_THREADS_FOR_NODE } from '@plugward/types';
import { afterAll, describe, expect, it } from 'vitest';
import {
  buildSeccompFilter,
  checkSandboxSupport,
  defaultSandboxConfig,
  installProcessFilter,
  LinuxSandbox,
  packageReadOnlyPaths,
  RUNTIME_MEMORY_HEADROOM_BYTES,
} from '../dist/index.js';
import { cleanupDirs, expectHostHealthy, firstMessage, itWithC, runScript, tempDir } from './helpers.js';

afterAll(cleanupDirs);

/** A plugin that stays up until the host writes to fd 3, so cgroup files can be read while it runs. */
const HOLD_SCRIPT = `import net from 'node:net'; const s = new net.Socket({ fd: 3, readable: true, writable: true });
s.write('ready'); s.on('data', () => s.end(() => process.exit(0)));`;

/** Alive and not a zombie (an orphaned zombie waits for the host's init to reap it; it runs no code). */
function isRunning(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

const spec = (over: Partial<Parameters<LinuxSandbox['spawn']>[0]> = {}) => ({
  command: process.execPath,
  args: ['-e', '0'],
  readOnlyPaths: [],
  config: defaultSandboxConfig(),
  label: 'backend',
  ...over,
});

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isPluginError(e), String(e)).toBe(true);
  expect((e as { code: string }).code).toBe(code);
}

describe('LinuxSandbox refuses rather than run unsandboxed', () => {
  it('a missing bwrap is SandboxUnavailable with an install hint', async () => {
    const sb = new LinuxSandbox({ bwrapPath: '/nonexistent/bwrap' });
    await rejectsWith(sb.spawn(spec()), 'SandboxUnavailable');
    const report = await sb.checkSupport();
    const bwrap = report.features.find((f) => f.feature === 'bubblewrap');
    expect(bwrap?.available).toBe(false);
    expect(bwrap?.installHint).toContain('apt-get install bubblewrap');
    expect(report.supported).toBe(false);
  });

  it(`a pids limit below MIN_THREADS_FOR_NODE (${MIN_THREADS_FOR_NODE}) is InvalidResourceLimits`, async () => {
    const config = defaultSandboxConfig({ cgroup: { pidsMax: MIN_THREADS_FOR_NODE - 1 } });
    await rejectsWith(new LinuxSandbox().spawn(spec({ config })), 'InvalidResourceLimits');
  });

  it('seccomp disabled and no cgroup are refused unless opted into', async () => {
    await rejectsWith(
      new LinuxSandbox().spawn(spec({ config: defaultSandboxConfig({ seccomp: { mode: 'disabled' } }) })),
      'InvalidArgument',
    );
    await rejectsWith(
      new LinuxSandbox().spawn(spec({ config: defaultSandboxConfig({ cgroup: null }) })),
      'InvalidArgument',
    );
  });

  it('binding the whole root read-only is refused', async () => {
    await rejectsWith(new LinuxSandbox().spawn(spec({ readOnlyPaths: ['/'] })), 'InvalidArgument');
  });

  it('contradicting network settings are InvalidArgument', async () => {
    const base = defaultSandboxConfig();
    const config = { ...base, network: { mode: 'full' as const } }; // net namespace still on: a contradiction
    await rejectsWith(new LinuxSandbox().spawn(spec({ config })), 'InvalidArgument');
  });

  it('an I/O weight is applied where the I/O controller has weights, else SandboxUnavailable', async () => {
    const layout = detectCgroupLayout();
    const dir0 = tempDir();
    fs.writeFileSync(path.join(dir0, 'hold.mjs'), HOLD_SCRIPT);
    const result = await new LinuxSandbox({ stdio: 'pipe' })
      .spawn(
        spec({
          args: [path.join(dir0, 'hold.mjs')],
          readOnlyPaths: [dir0],
          config: defaultSandboxConfig({ cgroup: { ioWeight: 500 } }),
        }),
      )
      .then(
        (p) => p,
        (e: unknown) => e,
      );
    if (isPluginError(result)) {
      console.warn(`\n*** no I/O weight controller on this machine: ${result.message} ***\n`);
      expect(result.code).toBe('SandboxUnavailable');
      return;
    }
    const proc = result as Awaited<ReturnType<LinuxSandbox['spawn']>>;
    const dir = layout?.version === 1 ? proc.cgroupPaths.blkio : proc.cgroupPaths.io;
    expect(dir).toBeDefined();
    const file = ['blkio.weight', 'blkio.bfq.weight', 'io.weight']
      .map((f) => path.join(dir ?? '', f))
      .find((f) => fs.existsSync(f));
    // v1 weights are 10–1000: 500 of 10000 maps to 50.
    expect(fs.readFileSync(file ?? '', 'utf8')).toMatch(layout?.version === 1 ? /\b50\b/ : /default 500/);
    proc.ipc.write('bye');
    expect((await proc.exit).code).toBe(0);
  });

  it('a custom seccomp profile whose default would kill Node is refused', () => {
    expect(() =>
      buildSeccompFilter({ mode: 'custom', defaultAction: { action: 'kill' }, rules: [] }),
    ).toThrow(/kills Node/);
    expect(() =>
      buildSeccompFilter({
        mode: 'custom',
        defaultAction: { action: 'allow' },
        rules: [{ syscall: 'no_such_syscall', action: { action: 'errno', errno: 1 } }],
      }),
    ).toThrow(/unknown syscall/);
  });
});

describe('LinuxSandbox runs real plugins', () => {
  it('checkSandboxSupport() finds bwrap, libseccomp and the cgroup controllers here', async () => {
    const report = await checkSandboxSupport();
    const missing = report.features.filter((f) => !f.available);
    if (!report.supported) console.warn('sandbox support incomplete:', missing);
    expect(report.features.find((f) => f.feature === 'bubblewrap')?.available).toBe(true);
    expect(report.features.find((f) => f.feature === 'libseccomp')?.available).toBe(true);
  });

  it('strict mode still runs a real Node workload: fs in /tmp, crypto, timers, a worker thread', async () => {
    const r = await runScript(
      `const crypto = await import('node:crypto'); const { Worker } = await import('node:worker_threads');
       fs.writeFileSync('/tmp/a', 'x'.repeat(1000));
       const hash = crypto.createHash('sha256').update(fs.readFileSync('/tmp/a')).digest('hex').slice(0, 8);
       await new Promise((r) => setTimeout(r, 10));
       const w = new Worker('require("node:worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
       const answer = await new Promise((r) => w.once('message', r)); await w.terminate();
       const key = await new Promise((r) => crypto.pbkdf2('a', 'b', 1000, 8, 'sha256', (e, k) => r(k.toString('hex'))));
       await done({ hash, answer, key: key.length, hostname: (await import('node:os')).hostname() });`,
    );
    expect(firstMessage(r)).toEqual({ hash: expect.any(String), answer: 42, key: 16, hostname: 'plugward' });
    expect(r.exit).toEqual({ code: 0, signal: null, oomKilled: false });
    expectHostHealthy(r);
  });

  it('every seccomp mode still runs Node (basic, moderate, permissive, custom)', async () => {
    const modes = [
      { mode: 'basic' as const },
      { mode: 'moderate' as const },
      { mode: 'permissive' as const },
      {
        mode: 'custom' as const,
        defaultAction: { action: 'allow' as const },
        rules: [{ syscall: 'getpriority', action: { action: 'errno' as const, errno: 13 } }],
      },
    ];
    for (const seccomp of modes) {
      const r = await runScript(
        `const os = await import('node:os'); let prio = 'ok'; try { os.getPriority(); } catch (e) { prio = e.info?.code ?? e.code ?? 'threw'; }
         await done({ ok: true, prio });`,
        { config: { seccomp } },
      );
      expect(firstMessage(r).ok, `mode ${seccomp.mode}: ${r.stderr}`).toBe(true);
      // The custom rule really is in force: getpriority(2) answers EACCES; the other modes allow it.
      expect(firstMessage(r).prio).toBe(seccomp.mode === 'custom' ? 'EACCES' : 'ok');
      expectHostHealthy(r);
    }
  });

  it('exposes the cgroup directories and metrics while running, and removes them after exit', async () => {
    const dir = tempDir();
    // The plugin says when it runs and exits when told, so the test holds under any machine load.
    fs.writeFileSync(
      path.join(dir, 'p.mjs'),
      `import net from 'node:net'; const s = new net.Socket({ fd: 3, readable: true, writable: true });
       s.write('ready'); s.on('data', () => s.end(() => process.exit(0)));`,
    );
    const proc = await new LinuxSandbox().spawn(
      spec({ args: [path.join(dir, 'p.mjs')], readOnlyPaths: [dir], config: defaultSandboxConfig() }),
    );
    // Joined before spawn() resolved: the launcher (which becomes bwrap) is already in the cgroup.
    expect(proc.pids()).toContain(proc.pid);
    await new Promise((r) => proc.ipc.once('data', r));
    const m = await proc.metrics();
    expect(m.source).toMatch(/^cgroup-v[12]$/);
    expect(m.memoryBytes).toBeGreaterThan(1024 * 1024);
    expect(m.threads).toBeGreaterThanOrEqual(2);
    expect(Object.keys(proc.cgroupPaths)).toEqual(expect.arrayContaining(['memory', 'pids', 'cpu']));
    for (const d of Object.values(proc.cgroupPaths)) expect(fs.existsSync(d)).toBe(true);
    // Every process of the sandbox is inside the cgroup: nothing ran before the join.
    expect(proc.pids().length).toBeGreaterThanOrEqual(2);
    proc.ipc.write('bye');
    const exit = await proc.exit;
    expect(exit.code).toBe(0);
    for (const d of Object.values(proc.cgroupPaths)) expect(fs.existsSync(d)).toBe(false);
  });

  it('kill() ends the whole sandbox', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'p.mjs'), 'setInterval(() => {}, 1000);');
    const proc = await new LinuxSandbox().spawn(
      spec({ args: [path.join(dir, 'p.mjs')], readOnlyPaths: [dir] }),
    );
    await new Promise((r) => setTimeout(r, 200));
    const pids = proc.pids();
    expect(() => proc.kill('SIGNOPE')).toThrow(/unknown signal/);
    proc.kill();
    const exit = await proc.exit;
    expect(exit.code === 0).toBe(false);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    expect(pids.filter(isRunning)).toEqual([]);
  });

  it('installProcessFilter() in a plain child process denies exec afterwards (the second, in-process filter)', async () => {
    const { spawnSync } = await import('node:child_process');
    const dist = path.resolve(__dirname, '../dist/index.js');
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { installProcessFilter } from ${JSON.stringify(dist)};
         import { execFileSync } from 'node:child_process';
         const before = (() => { try { execFileSync('/bin/true'); return 'ok'; } catch (e) { return e.code; } })();
         installProcessFilter();
         const after = (() => { try { execFileSync('/bin/true'); return 'ok'; } catch (e) { return e.code; } })();
         const status = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
         console.log(JSON.stringify({ before, after, nnp: /NoNewPrivs:\\s+1/.test(status) }));`,
      ],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(r.stdout)).toEqual({ before: 'ok', after: 'EPERM', nnp: true });
    void installProcessFilter;
  });
});

describe('packageReadOnlyPaths', () => {
  it('binds a package and its dependencies so a sandboxed script can import it', async () => {
    const pkgRoot = path.resolve(__dirname, '..');
    const paths = packageReadOnlyPaths(['@plugward/types'], pkgRoot);
    expect(paths[0]).toBe(path.join(pkgRoot, 'node_modules', '@plugward', 'types'));
    // Inside, the packages sit where Node finds them from the script (never at their host paths): import by name.
    const r = await runScript(
      `const t = await import('@plugward/types'); await done({ code: new t.PluginError('IoError', 'x').code });`,
      { readOnlyPaths: paths },
    );
    expect(firstMessage(r)).toEqual({ code: 'IoError' });
    expect(() => packageReadOnlyPaths(['no-such-package-plugward'], pkgRoot)).toThrow(/not installed/);
  });
});

describe('cgroup limits derived from the plugin limits', () => {
  it('memory = maxHeapBytes + headroom and pids = MIN_THREADS_FOR_NODE + maxThreads when the config leaves them open', async () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'hold.mjs'), HOLD_SCRIPT);
    const proc = await new LinuxSandbox().spawn(
      spec({
        args: [path.join(dir, 'hold.mjs')],
        readOnlyPaths: [dir],
        limits: {
          maxHeapBytes: 64 * 1024 * 1024,
          maxCpuTimeMs: 1000,
          maxFileDescriptors: 64,
          maxThreads: 4,
          maxConnections: 1,
          maxDbQueryMs: 1,
          maxExternalApiMs: 1,
        },
      }),
    );
    const layout = detectCgroupLayout();
    const mem = proc.cgroupPaths.memory ?? '';
    const pids = proc.cgroupPaths.pids ?? '';
    const memFile = layout?.version === 1 ? 'memory.limit_in_bytes' : 'memory.max';
    expect(Number(fs.readFileSync(path.join(mem, memFile), 'utf8'))).toBe(
      64 * 1024 * 1024 + RUNTIME_MEMORY_HEADROOM_BYTES,
    );
    expect(fs.readFileSync(path.join(pids, 'pids.max'), 'utf8').trim()).toBe(
      String(MIN_THREADS_FOR_NODE + 4),
    );
    proc.ipc.write('bye');
    expect((await proc.exit).code).toBe(0);
  });
});

describe('commands that end at once', () => {
  // A command can exit before spawn() has seen its cgroup join; its exit must still be reported (a lost 'exit' event
  // once hung the caller forever).
  itWithC(
    'report their exit even when they are gone before spawn() returns',
    async () => {
      const { compileC, runCommand } = await import('./helpers.js');
      const bin = compileC('quick');
      const runs = await Promise.all(
        Array.from({ length: 12 }, () =>
          runCommand(bin, [], { readOnlyPaths: [path.dirname(bin)], killAfterMs: 10_000 }),
        ),
      );
      for (const r of runs) expect(r.exit).toMatchObject({ code: 7, signal: null });
    },
    60_000,
  );
});

describe('stale cgroup sweep', () => {
  it("removes empty cgroups of dead hosts, never this process's own (an own empty one may be about to be joined)", async (ctx) => {
    const { spawnSync } = await import('node:child_process');
    const layout = detectCgroupLayout();
    if (layout === undefined || process.getuid?.() !== 0)
      return ctx.skip('needs root and a cgroup hierarchy');
    const parent = `plugward-sweep-${process.pid}`;
    const own = createCgroup(layout, parent, cgroupName('own'), { pidsMax: 32 });
    // A host pid that is certainly dead: a child that already exited.
    const dead = spawnSync('/bin/true').pid as number;
    const mount =
      layout.version === 1 ? (layout.mounts.pids as string) : (Object.values(layout.mounts)[0] as string);
    const staleDir = path.join(mount, parent, `stale-${dead}-deadbeef`);
    fs.mkdirSync(staleDir);
    try {
      const removed = cleanupStaleCgroups(parent, layout);
      expect(removed).toContain(staleDir);
      expect(fs.existsSync(staleDir)).toBe(false);
      for (const dir of Object.values(own.paths)) expect(fs.existsSync(dir)).toBe(true);
    } finally {
      if (fs.existsSync(staleDir)) fs.rmdirSync(staleDir);
      await own.remove();
      for (const m of new Set(Object.values(layout.mounts))) {
        try {
          fs.rmdirSync(path.join(m, parent));
        } catch {
          // Not created under this controller.
        }
      }
    }
  });
});
