// Issue 12, the sandbox itself: what an attacker achieved against a root host (cgroup v1, bwrap 0.8), tried again from
// the plugin side. Each test asserts the attack's goal failed, the host still works and nothing is left behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroupLayout } from '@plugward/limits';
import { afterAll, describe, expect, it } from 'vitest';
import {
  childCommands,
  killHostUnderSubreaper,
  pidsOfUidRange,
} from '../../sandbox-common/test/host-death.js';
import { AS_NOBODY } from '../../sandbox-common/test/sandbox-run.js';
import { DEFAULT_UID_LOCK_DIR, defaultSandboxConfig, LinuxSandbox, ROOT_SANDBOX_DIR } from '../dist/index.js';
import {
  cleanupDirs,
  compileC,
  expectHostHealthy,
  firstMessage,
  itWithC,
  runCommand,
  runScript,
  tempDir,
} from './helpers.js';

const MiB = 1024 * 1024;
const isRoot = process.getuid?.() === 0;
/** Where the backend makes its per-sandbox directories (root: a fixed folder the leased uid can traverse). */
const sbxBase = isRoot ? ROOT_SANDBOX_DIR : os.tmpdir();
const rootOnly = isRoot ? it : it.skip;
const rootOnlyWithC = isRoot ? itWithC : it.skip;
const { EMFILE, ENOSPC, EPERM } = os.constants.errno;
if (!isRoot) console.warn('\n*** containment suite: not root; the uid-switch tests need a root host ***\n');

afterAll(cleanupDirs);

/** Nothing of a finished sandbox is left: its temp dir, its uid lease, its cgroups, its processes. */
function expectNothingLeft(
  uid: number,
  pids: readonly number[],
  cgroupPaths: Readonly<Record<string, string>>,
): void {
  const dirs = fs.readdirSync(sbxBase).filter((n) => n.startsWith(`plugward-sbx-${process.pid}-`));
  expect(dirs).toEqual([]);
  expect(fs.existsSync(path.join(DEFAULT_UID_LOCK_DIR, String(uid)))).toBe(false);
  for (const dir of Object.values(cgroupPaths)) expect(fs.existsSync(dir)).toBe(false);
  for (const pid of pids) expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
}

describe('uid: never one that owns anything on the host', () => {
  rootOnly(
    'plugin code runs as a leased unprivileged uid/gid, inside and to the host kernel, distinct per sandbox',
    async () => {
      const src = `const s = fs.readFileSync('/proc/self/status', 'utf8');
      await report({ uid: process.getuid(), gid: process.getgid(), groups: /^Groups:(.*)$/m.exec(s)[1].trim() });
      await new Promise((r) => __sock.once('data', r)); await done({});`;
      const seen: { uid: number; hostUid: string | undefined }[] = [];
      const results = await Promise.all(
        [0, 1].map(() =>
          runScript(src, {
            onStart: (proc) => {
              proc.ipc.once('data', () => {
                const pid = proc
                  .pids()
                  .find((p) => p !== proc.pid && /node/.test(fs.readFileSync(`/proc/${p}/comm`, 'utf8')));
                const status = pid === undefined ? '' : fs.readFileSync(`/proc/${pid}/status`, 'utf8');
                seen.push({ uid: proc.uid, hostUid: /^Uid:\s+(\d+)/m.exec(status)?.[1] });
                proc.ipc.write('go');
              });
            },
          }),
        ),
      );
      expect(seen).toHaveLength(2);
      for (const r of results) {
        const inside = firstMessage(r);
        expect(inside.uid).not.toBe(0);
        expect(inside.uid).not.toBe(process.getuid?.());
        expect(inside.uid).toBe(r.proc.uid);
        expect(inside.gid).toBe(r.proc.uid);
        expect(inside.groups).toBe('');
        expect(seen.some((s) => s.hostUid === String(r.proc.uid))).toBe(true);
        expectNothingLeft(r.proc.uid, [r.proc.pid], r.cgroupPaths);
      }
      expect(results[0]?.proc.uid).not.toBe(results[1]?.proc.uid);
      expectHostHealthy();
    },
  );

  it('host-wide /proc/sys knobs cannot be written and the host values stay', async () => {
    const knobs = [
      'kernel/core_pattern',
      'kernel/core_uses_pid',
      'kernel/pid_max',
      'vm/drop_caches',
      'fs/file-max',
    ].map((k) => `/proc/sys/${k}`);
    const before = knobs.map((k) => (k.endsWith('drop_caches') ? '' : fs.readFileSync(k, 'utf8')));
    const r = await runScript(
      `const out = {};
       for (const k of ${JSON.stringify(knobs)}) out[k] = errCode(() => fs.writeFileSync(k, k.endsWith('core_pattern') ? '|/proc/%P/root/tmp/x' : '1'));
       await done(out);`,
    );
    const out = firstMessage(r);
    for (const k of knobs) expect(out[k]).not.toBe('ok');
    expect(knobs.map((k) => (k.endsWith('drop_caches') ? '' : fs.readFileSync(k, 'utf8')))).toEqual(before);
    expectHostHealthy(r);
  });

  it('root-only and masked /proc files give nothing', async () => {
    const files = ['/proc/slabinfo', '/proc/kpageflags', '/proc/kpagecount', '/proc/kcore', '/proc/kallsyms'];
    const r = await runScript(
      `const out = {};
       for (const f of ${JSON.stringify(files)}) { try { out[f] = fs.readFileSync(f).length; } catch (e) { out[f] = e.code; } }
       await done(out);`,
    );
    const out = firstMessage(r);
    for (const f of files) if (fs.existsSync(f)) expect([0, 'EACCES', 'ENOENT', 'EPERM']).toContain(out[f]);
    expectHostHealthy(r);
  });

  rootOnlyWithC("exhausting inotify instances inside does not make the host's fs.watch fail", async () => {
    const bin = compileC('inotify');
    let hostWatch = 'not tried';
    let inside = '';
    const r = await runCommand(bin, [], {
      readOnlyPaths: [path.dirname(bin)],
      limits: {
        maxHeapBytes: 64 * MiB,
        maxCpuTimeMs: 1000,
        maxFileDescriptors: 4096,
        maxThreads: 8,
        maxConnections: 0,
        maxDbQueryMs: 0,
        maxExternalApiMs: 0,
      },
      onStart: (proc) => {
        proc.stdout?.once('data', (d: Buffer) => {
          inside = d.toString();
          try {
            const w = fs.watch(tempDir('pw-watch-'));
            w.close();
            hostWatch = 'ok';
          } catch (e) {
            hostWatch = (e as NodeJS.ErrnoException).code ?? String(e);
          }
          proc.kill();
        });
      },
    });
    const [count, errno] = inside.trim().split(' ').map(Number);
    expect(errno).toBe(EMFILE); // the sandbox uid's own instance limit
    expect(count).toBeGreaterThan(0);
    expect(hostWatch).toBe('ok');
    expectHostHealthy(r);
  });
});

describe("the sandbox's pid 1 — bwrap's init — is out of the command's reach", () => {
  // Init holds the parent-death signal bwrap armed, and its death ends the whole pid namespace (the command itself
  // can shed its own signal: audit-thread-exec-pdeathsig.test.ts). It runs with the command's uid and filters, so a
  // write into its memory, a ptrace or a lifted /proc mask would hand the command that guarantee. Tried in every mode,
  // and with CAP_SYS_ADMIN + CAP_SYS_PTRACE kept and no seccomp at all.
  const REACH = [
    'open-mem',
    'open-task-mem',
    'open-environ',
    'open-maps',
    'open-fd',
    'open-status',
    'readlink-exe',
    'readlink-root',
    'ptrace-attach',
    'ptrace-seize-high',
    'vm-readv',
    'vm-writev',
    'pidfd-open',
    'kcmp',
    'prlimit',
    'umount',
    'mount-proc',
  ];
  const configs: [string, Parameters<typeof defaultSandboxConfig>[0], { allowDisabledSeccomp?: boolean }?][] =
    [
      ['strict', {}],
      ['basic', { seccomp: { mode: 'basic' } }],
      ['permissive', { seccomp: { mode: 'permissive' } }],
      [
        'custom (allow everything)',
        { seccomp: { mode: 'custom', defaultAction: { action: 'allow' }, rules: [] } },
      ],
      [
        'disabled, CAP_SYS_ADMIN and CAP_SYS_PTRACE kept',
        {
          seccomp: { mode: 'disabled' },
          capabilities: {
            dropAll: false,
            allowedCaps: ['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'],
            noNewPrivs: true,
          },
        },
        { allowDisabledSeccomp: true },
      ],
    ];
  for (const [name, config, sandbox] of configs) {
    itWithC(
      `${name}: no /proc entry, ptrace, process_vm_*, pidfd, kcmp, prlimit, unmount or signal reaches it`,
      async () => {
        const bin = compileC('init-reach');
        const r = await runCommand(bin, [], { readOnlyPaths: [path.dirname(bin)], config, sandbox });
        const said = new Map(
          r.stdout
            .trim()
            .split('\n')
            .map((l) => {
              const [what = '', ...rest] = l.split(' ');
              return [what, rest.join(' ')] as const;
            }),
        );
        const reached = REACH.filter(
          (what) => said.get(what) !== undefined && !said.get(what)?.startsWith('errno'),
        );
        expect({ reached, missing: REACH.filter((what) => !said.has(what)) }).toEqual({
          reached: [],
          missing: [],
        });
        expect(said.get('ppid')).toBe('1'); // the command's parent is init (pid 1), not the command itself
        expect(said.has('alive')).toBe(true); // SIGSTOP/SIGKILL from inside did nothing to init
        expectHostHealthy(r);
      },
    );
  }

  it('a node plugin is pid 2; /proc/1 is an empty read-only folder; host binaries keep their modes', async () => {
    const bwrapMode = fs.statSync('/usr/bin/bwrap').mode;
    const nodeMode = fs.statSync(fs.realpathSync(process.execPath)).mode;
    const r = await runScript(
      `await done({
         pid: process.pid,
         ppid: process.ppid,
         one: fs.readdirSync('/proc/1'),
         chmod: errCode(() => fs.chmodSync('/proc/1/exe', 0o6777)),
         write: errCode(() => fs.writeFileSync('/proc/1/x', 'x')),
         status: fs.readFileSync('/proc/self/status', 'utf8').match(/^Seccomp:\\s+(\\d)/m)[1],
         others: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)),
       });`,
    );
    const m = firstMessage(r);
    expect(m.pid).toBe(2);
    expect(m.ppid).toBe(1);
    expect(m.one).toEqual([]);
    expect(m.chmod).not.toBe('ok');
    expect(m.write).not.toBe('ok');
    expect(m.status).toBe('2');
    expect(m.others).toEqual(['1', '2']);
    expect(fs.statSync('/usr/bin/bwrap').mode).toBe(bwrapMode);
    expect(fs.statSync(fs.realpathSync(process.execPath)).mode).toBe(nodeMode);
    expectHostHealthy(r);
  });
});

describe('scratch space and mountinfo', () => {
  rootOnlyWithC(
    '/tmp and /dev/shm are noexec,nosuid,nodev and sized; mapping a file written there executable fails',
    async () => {
      const bin = compileC('mmapexec');
      const r = await runCommand(bin, [], { readOnlyPaths: [path.dirname(bin)] });
      expect(r.stdout.trim().split('\n')).toEqual([`denied ${EPERM}`, `denied ${EPERM}`]);
      const info = await runScript(`await done({ m: fs.readFileSync('/proc/self/mountinfo', 'utf8') });`);
      const lines = String(firstMessage(info).m).split('\n');
      for (const point of ['/tmp', '/dev/shm']) {
        const line = lines.find((l) => l.split(' ')[4] === point) ?? '';
        expect(line.split(' ')[5]?.split(',')).toEqual(expect.arrayContaining(['noexec', 'nosuid', 'nodev']));
        expect(line).toMatch(/size=16384k/);
      }
      expectHostHealthy(r);
    },
  );

  rootOnly(
    "mountinfo shows neither the checkout, the plugin's private copy directory nor the sandbox's temp dir",
    async () => {
      const dir = tempDir('pw-private-');
      const r = await runScript(`await done({ m: fs.readFileSync('/proc/self/mountinfo', 'utf8') });`, {
        readOnlyPaths: [dir],
      });
      const m = String(firstMessage(r).m);
      expect(m).not.toContain('pw-attack-');
      expect(m).not.toContain(dir);
      expect(m).not.toContain('plugward-sbx-');
      expect(m).not.toContain(os.tmpdir() === '/tmp' ? ' /tmp/' : os.tmpdir());
      expect(m).not.toContain(ROOT_SANDBOX_DIR);
      // Nor the checkout: the lockdown module, koffi and @plugward/types are copied in, not bound.
      expect(m).not.toContain(path.resolve(new URL('../../..', import.meta.url).pathname));
      expectHostHealthy(r);
    },
  );
});

describe('paths the sandbox uid cannot read', () => {
  rootOnly(
    'a runtime under a private (0700) directory is copied in and runs; its host path shows nowhere',
    async () => {
      const home = tempDir('pw-home-'); // 0700, like /root above a checkout
      const app = path.join(home, 'app');
      fs.mkdirSync(app, { mode: 0o755 });
      fs.writeFileSync(
        path.join(app, 'p.mjs'),
        `import fs from 'node:fs'; import net from 'node:net';
       const s = new net.Socket({ fd: 3, readable: true, writable: true });
       s.end(JSON.stringify({ m: fs.readFileSync('/proc/self/mountinfo', 'utf8') }) + '\\n');`,
        { mode: 0o644 },
      );
      const r = await runCommand(process.execPath, [path.join(app, 'p.mjs')], { readOnlyPaths: [app] });
      const m = String(firstMessage(r).m);
      expect(m).not.toContain(home);
      expect(m).not.toContain('pw-home-');
      expectHostHealthy(r);
    },
  );

  rootOnly(
    'with copyHostPaths off, a bound path under a private directory is refused with a clear error',
    async () => {
      const home = tempDir('pw-home-');
      const app = path.join(home, 'app');
      fs.mkdirSync(app, { mode: 0o755 });
      fs.writeFileSync(path.join(app, 'p.mjs'), 'console.log(1)', { mode: 0o644 });
      const err = await new LinuxSandbox({ copyHostPaths: false })
        .spawn({
          command: process.execPath,
          args: [path.join(app, 'p.mjs')],
          readOnlyPaths: [app],
          config: defaultSandboxConfig(),
          label: 'private',
        })
        .then(
          () => undefined,
          (e: unknown) => e as { code?: string; message?: string },
        );
      expect(err?.code).toBe('SandboxUnavailable');
      expect(err?.message).toContain(`${home} is private to its owner`);
      expect(fs.readdirSync(sbxBase).filter((n) => n.startsWith(`plugward-sbx-${process.pid}-`))).toEqual([]);
    },
  );
});

describe('seccomp: no namespaces, whatever the clone flags', () => {
  itWithC(
    'thread clones with CLONE_NEW* flags, setns, unshare and mount are refused by the filter (EPERM)',
    async () => {
      const bin = compileC('nsclone');
      const r = await runCommand(bin, [], { readOnlyPaths: [path.dirname(bin)] });
      expect(r.stdout.trim()).toBe(Array(5).fill(EPERM).join(' '));
      expectHostHealthy(r);
    },
  );
});

describe('no nested user namespace even without seccomp help', () => {
  itWithC('--disable-userns: unshare(CLONE_NEWUSER) fails under a custom allow-all filter', async () => {
    const bin = compileC('userns');
    const r = await runCommand(bin, [], {
      readOnlyPaths: [path.dirname(bin)],
      config: { seccomp: { mode: 'custom', defaultAction: { action: 'allow' }, rules: [] } },
    });
    const [rc, errno] = r.stdout.trim().split(' ').map(Number);
    expect(rc).toBe(-1);
    expect([EPERM, ENOSPC]).toContain(errno); // ENOSPC: user.max_user_namespaces = 0 inside
    expectHostHealthy(r);
  });
});

describe('CPU quota', () => {
  rootOnly(
    'a quota is always set (one CPU by default) and a background spinner is held to a 20% quota',
    async () => {
      const sandbox = new LinuxSandbox({ cpus: 0.2 });
      const dir = tempDir();
      const file = path.join(dir, 'spin.mjs');
      fs.writeFileSync(file, 'for (;;) {}');
      const proc = await sandbox.spawn({
        command: process.execPath,
        args: [file],
        readOnlyPaths: [dir],
        config: defaultSandboxConfig(),
        label: 'spin',
      });
      proc.stdout?.resume();
      proc.stderr?.resume();
      const cpu = proc.cgroupPaths.cpu ?? '';
      expect(fs.readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim()).toBe('20000');
      await sleep(300);
      const usage = (): number =>
        Number(fs.readFileSync(path.join(proc.cgroupPaths.cpuacct ?? cpu, 'cpuacct.usage'), 'utf8'));
      const u0 = usage();
      const t0 = performance.now();
      await sleep(1000);
      const used = (usage() - u0) / 1e9;
      const wall = (performance.now() - t0) / 1000;
      proc.kill();
      const exit = await proc.exit;
      expect(exit.signal).toBe('SIGKILL');
      expect(used / wall).toBeLessThan(0.35);
      expectNothingLeft(proc.uid, [proc.pid], proc.cgroupPaths);
    },
  );

  it('a sandbox started with no CPU setting anywhere gets one CPU', async () => {
    let quota = '';
    const r = await runScript(`await done({});`, {
      onStart: (p) => {
        const cpu = p.cgroupPaths.cpu ?? '';
        quota = `${fs.readFileSync(path.join(cpu, 'cpu.cfs_quota_us'), 'utf8').trim()}/${fs.readFileSync(path.join(cpu, 'cpu.cfs_period_us'), 'utf8').trim()}`;
      },
    });
    expect(quota).toBe('100000/100000');
    expectHostHealthy(r);
  });
});

describe('cleanup', () => {
  rootOnly(
    'after exit and after kill, no temp dir, uid lease, mount, cgroup or process is left',
    async () => {
      const done = await runScript(`await done({});`);
      expectNothingLeft(done.proc.uid, [done.proc.pid], done.cgroupPaths);
      const killed = await runScript(`await report({ up: true }); for (;;) {}`, {
        onStart: (p) => p.ipc.once('data', () => p.kill()),
      });
      expectNothingLeft(killed.proc.uid, [killed.proc.pid], killed.cgroupPaths);
      // The scratch tmpfs lived only in the launcher's private mount namespace.
      expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('plugward-sbx-');
      expectHostHealthy(killed);
    },
  );
});

describe('a host that exits or dies while its sandboxes start or run', () => {
  const distIndex = new URL('../dist/index.js', import.meta.url).href;
  // A uid range and lock directory of these tests alone: any process running as a uid of the range afterwards is a
  // survivor of theirs.
  const range = { first: 1_960_000_000, count: 100_000 };
  const inRange = (): number[] => pidsOfUidRange(range);

  const described = (): string[] =>
    inRange().map((pid) => {
      try {
        return `${pid}: ${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')}`;
      } catch {
        return `${pid}`;
      }
    });
  /**
   * Waits up to 10 s (a loaded machine takes its turn to kill and reap) for no process of the range (whose command
   * line includes `only`, when given) to run; returns those still running.
   */
  const survivors = async (only?: string): Promise<string[]> => {
    const left = (): string[] => described().filter((p) => only === undefined || p.includes(only));
    for (let i = 0; i < 500 && left().length > 0; i++) await sleep(20);
    return left();
  };
  /**
   * A host script: spawns one sandbox running a command that never exits on its own (it ignores its fd 3 closing),
   * says "spawning" before and the sandbox's uid after spawn() resolved, then exits at once (`exit`) or waits to be
   * killed (`wait`).
   */
  const hostScript = (dir: string, lockDir: string, lockdown: boolean, then: 'exit' | 'wait'): string => {
    const script = path.join(dir, `host-${lockdown}-${then}.mjs`);
    fs.writeFileSync(
      script,
      `import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(distIndex)};
const s = new LinuxSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(lockDir)}, lockdown: ${lockdown} });
process.stdout.write('spawning\\n');
const p = await s.spawn({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], readOnlyPaths: [],
  config: defaultSandboxConfig(), label: 'host-death' });
process.stdout.write(JSON.stringify({ host: process.pid, uid: p.uid }) + '\\n');
${then === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}`,
    );
    return script;
  };

  rootOnly(
    'a host that exits right after spawn() resolved leaves no process, lease or directory behind (×8, with and without the lockdown)',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const dir = tempDir('pw-exit-');
      const lockDir = path.join(dir, 'uids');
      const uids: number[] = [];
      for (let i = 0; i < 8; i++) {
        const out = execFileSync(process.execPath, [hostScript(dir, lockDir, i % 2 === 0, 'exit')], {
          encoding: 'utf8',
          timeout: 60_000,
        });
        const line = JSON.parse(out.trim().split('\n').at(-1) as string) as { host: number; uid: number };
        uids.push(line.uid);
        expect(fs.readdirSync(sbxBase).filter((n) => n.startsWith(`plugward-sbx-${line.host}-`))).toEqual([]);
      }
      // The host's exit handler killed each sandbox and waited for its cgroup to empty before giving the uid back.
      expect(fs.readdirSync(lockDir)).toEqual([]);
      expect(await survivors()).toEqual([]);
      expect(uids.every((u) => u >= range.first && u < range.first + range.count)).toBe(true);
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    120_000,
  );

  rootOnly(
    'a host killed (SIGKILL) at any moment of a sandbox start leaves nothing running; the next host clears what it left',
    async () => {
      const { execFileSync } = await import('node:child_process');
      const dir = tempDir('pw-kill-');
      const lockDir = path.join(dir, 'uids');
      const hosts: number[] = [];
      const reapers: { end(): Promise<void> }[] = [];
      const preloadOrphans: string[] = [];
      // Each host runs below a subreaper (as in a container with tini): a launcher whose host died is not reparented
      // to pid 1. It is killed 0–52 ms after it started its launcher (the setpriv → unshare → sh → mount → setpriv →
      // bwrap chain, bwrap's set-up of the sandbox, node's boot: every window), or just after spawn() resolved. Half
      // the sandboxes run node with the preload (its host check catches a host that died while bwrap was still
      // setting the sandbox up), half without.
      const launcherStarted = (pid: number): boolean =>
        childCommands(pid).some((c) => c.includes('plugward-sandbox') || c.includes('setpriv'));
      for (let i = 0; i < 16; i++) {
        const lockdown = i % 2 === 0;
        const delay = i < 14 ? i * 4 : -1;
        const killed = await killHostUnderSubreaper(
          hostScript(dir, lockDir, lockdown, 'wait'),
          delay,
          launcherStarted,
          '"uid"',
        );
        hosts.push(killed.hostPid);
        reapers.push(killed);
        // Before the next host starts (its sweep would kill what this one left): no node with the preload runs on —
        // a host killed after bwrap armed --die-with-parent in the sandbox took it along, one killed before was seen
        // gone by the preload's check before anything of the command ran. A bwrap still setting up, or a command
        // without the preload, may be left where bwrap had not armed the signal yet (it does so in the sandbox only
        // at the end of its set-up): those are for the sweep below.
        const left = await killed.orphans(lockdown ? 3000 : 0);
        // (A bwrap process names the command too: it is one of those, stuck in its set-up or about to exec.)
        preloadOrphans.push(
          ...left.filter((o) => o.includes('sandbox-preload') && !/^\d+: \S*bwrap /.test(o)),
        );
      }
      await Promise.all(reapers.map((r) => r.end()));
      expect(preloadOrphans).toEqual([]);
      // What is left is killed by the next host's sweep: one more host, which starts (and ends) one sandbox.
      execFileSync(process.execPath, [hostScript(dir, lockDir, true, 'exit')], {
        encoding: 'utf8',
        timeout: 60_000,
      });
      expect(await survivors()).toEqual([]);
      // Nothing of the killed hosts is left: their cgroups (the sweep removed them once empty), their leases (taken
      // back once nothing ran as their uids).
      expect(fs.readdirSync(lockDir)).toEqual([]);
      for (const m of new Set(Object.values(detectCgroupLayout()?.mounts ?? {}))) {
        const base = path.join(m, 'plugward');
        const left = fs.existsSync(base)
          ? fs.readdirSync(base).filter((n) => hosts.some((h) => n.includes(`-${h}-`)))
          : [];
        expect(left).toEqual([]);
      }
      const r = await runScript('await done({ ok: true });');
      expect(firstMessage(r)).toEqual({ ok: true });
      expectHostHealthy(r);
    },
    240_000,
  );
});

describe('non-root hosts', () => {
  rootOnly(
    "checkSupport() of a host that is not root warns that plugins share the host user's uid",
    async () => {
      const { execFileSync } = await import('node:child_process');
      const entry = new URL('../dist/index.js', import.meta.url).href;
      const out = execFileSync(
        '/usr/bin/setpriv',
        [
          ...AS_NOBODY,
          process.execPath,
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(entry)}); const r = await m.checkSandboxSupport(); console.log(JSON.stringify(r));`,
        ],
        { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } },
      );
      const report = JSON.parse(out) as { warnings?: string[]; features: { feature: string }[] };
      expect(report.warnings?.join(' ')).toMatch(/not root: plugin code runs as the host user's own uid/);
      expect(report.features.some((f) => f.feature === 'uid-switch')).toBe(false);
    },
  );

  rootOnly(
    "a non-root host still runs a sandbox (without a cgroup here), as the host user's uid, as documented",
    async () => {
      const { execFileSync } = await import('node:child_process');
      const dir = tempDir('pw-nonroot-');
      fs.chmodSync(dir, 0o755);
      const script = path.join(dir, 'host.mjs');
      fs.writeFileSync(
        script,
        `import fs from 'node:fs';
import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const s = new LinuxSandbox({ allowNoCgroup: true });
const p = await s.spawn({ command: process.execPath, args: ['-e', 'console.log(process.getuid())'], readOnlyPaths: [],
  config: defaultSandboxConfig({ cgroup: null }), label: 'nonroot' });
let out = ''; p.stdout.on('data', (d) => (out += d));
console.log(JSON.stringify({ exit: await p.exit, uid: p.uid, inside: out.trim() }));`,
        { mode: 0o644 },
      );
      const out = execFileSync('/usr/bin/setpriv', [...AS_NOBODY, process.execPath, script], {
        encoding: 'utf8',
        env: { PATH: '/usr/bin:/bin', HOME: '/tmp' },
      });
      const r = JSON.parse(out) as { exit: { code: number }; uid: number; inside: string };
      expect(r.exit.code).toBe(0);
      expect(r.uid).toBe(65534);
      expect(r.inside).toBe('65534');
    },
  );
});
