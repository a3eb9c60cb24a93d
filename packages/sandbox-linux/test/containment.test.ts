// Issue 12, the sandbox itself: what an attacker achieved against a root host (cgroup v1, bwrap 0.8), tried again from
// the plugin side. Each test asserts the attack's goal failed, the host still works and nothing is left behind.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
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

describe("bwrap's pid 1 is gone", () => {
  it('chmod through /proc/1/exe and writes to /proc/1/mem cannot touch a host binary or an unfiltered process', async () => {
    const bwrapMode = fs.statSync('/usr/bin/bwrap').mode;
    const nodeMode = fs.statSync(fs.realpathSync(process.execPath)).mode;
    const r = await runScript(
      `await done({
         pid: process.pid,
         exe: fs.readlinkSync('/proc/1/exe'),
         chmod: errCode(() => fs.chmodSync('/proc/1/exe', 0o6777)),
         status: fs.readFileSync('/proc/1/status', 'utf8').match(/^Seccomp:\\s+(\\d)/m)[1],
         others: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)),
       });`,
    );
    const m = firstMessage(r);
    expect(m.pid).toBe(1); // the plugin itself: its own filter applies to everything /proc/1 reaches
    expect(m.exe).not.toContain('bwrap');
    expect(m.status).toBe('2');
    expect(m.others).toEqual(['1']);
    expect(m.chmod).not.toBe('ok');
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

describe('a host that exits without awaiting its sandboxes', () => {
  // OPEN (audit s7b #3): a host that exits while its sandbox is still starting — after spawn() resolved, before bwrap
  // armed --die-with-parent — can leave the sandbox running, reparented to init, its uid lease released. This case
  // exits once bwrap has started the command (what it asserts holds then); the starting window is not covered yet.
  rootOnly('leaves no temp dir, uid lease or plugin process behind', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = tempDir('pw-exit-');
    const script = path.join(dir, 'host.mjs');
    fs.writeFileSync(
      script,
      `import fs from 'node:fs';
import { defaultSandboxConfig, LinuxSandbox } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const s = new LinuxSandbox();
const p = await s.spawn({ command: process.execPath, args: ['-e', 'setInterval(() => {}, 1000)'], readOnlyPaths: [],
  config: defaultSandboxConfig(), label: 'orphan' });
const started = (pid) => { const st = fs.readFileSync('/proc/' + pid + '/stat', 'utf8'); return st.slice(st.lastIndexOf(')') + 2).split(' ')[19]; };
// Until bwrap has started the command (two processes in the cgroup): see the note on this test.
for (let i = 0; i < 500 && p.pids().length < 2; i++) await new Promise((r) => setTimeout(r, 10));
console.log(JSON.stringify({ host: process.pid, uid: p.uid, pids: p.pids().map((pid) => [pid, started(pid)]) }));
process.exit(0);`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' })) as {
      host: number;
      uid: number;
      pids: [number, string][];
    };
    expect(fs.readdirSync(sbxBase).filter((n) => n.startsWith(`plugward-sbx-${out.host}-`))).toEqual([]);
    expect(fs.existsSync(path.join(DEFAULT_UID_LOCK_DIR, String(out.uid)))).toBe(false);
    expect(out.pids.length).toBeGreaterThan(0);
    // --die-with-parent: the sandbox goes with its host. A process counts as gone once /proc has no live process of
    // that pid and start time (pid_max can be small: a pid may be reused; a zombie waits only on its reaper). Up to
    // 10 s: on a loaded machine the kill and the reaping take their turn.
    const running = ([pid, start]: [number, string]): boolean => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        // After "(comm) ": the state, then fields 4…; the start time is field 22.
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return fields[0] !== 'Z' && fields[19] === start;
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 500 && out.pids.some(running); i++) await sleep(20);
    expect(out.pids.filter(running)).toEqual([]);
  });
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
          '--reuid',
          '65534',
          '--regid',
          '65534',
          '--clear-groups',
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
      const out = execFileSync(
        '/usr/bin/setpriv',
        ['--reuid', '65534', '--regid', '65534', '--clear-groups', process.execPath, script],
        {
          encoding: 'utf8',
          env: { PATH: '/usr/bin:/bin', HOME: '/tmp' },
        },
      );
      const r = JSON.parse(out) as { exit: { code: number }; uid: number; inside: string };
      expect(r.exit.code).toBe(0);
      expect(r.uid).toBe(65534);
      expect(r.inside).toBe('65534');
    },
  );
});
