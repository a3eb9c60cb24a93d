import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupStaleCgroups } from '@plugward/limits';
import type { FetchRequest } from '@plugward/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceCpuBudget, exitViolation, FetchBroker, type LinuxSandboxedProcess } from '../dist/index.js';
import {
  cleanupDirs,
  compileC,
  expectHostHealthy,
  firstMessage,
  HAS_C_COMPILER,
  itWithC,
  runCommand,
  runScript,
  tempDir,
} from './helpers.js';

const MiB = 1024 * 1024;
const { EAGAIN, EPERM } = os.constants.errno;
const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn('\n*** sandbox attack suite: not root; cgroup tests need root or a delegated cgroup ***\n');

afterAll(cleanupDirs);

describe('resource exhaustion', () => {
  itWithC('fork bomb is held by the pids limit', async () => {
    const bin = compileC('forkbomb');
    const r = await runCommand(bin, [], {
      readOnlyPaths: [path.dirname(bin)],
      config: { seccomp: { mode: 'permissive' }, cgroup: { pidsMax: 20, memoryBytes: 256 * MiB } },
    });
    const out = JSON.parse(r.stdout.trim()) as { forks: number; errno: number };
    expect(out.errno).toBe(EAGAIN); // from the pids controller
    expect(out.forks).toBeLessThan(20);
    expectHostHealthy(r);
  });

  it('allocating past the memory limit is OOM-killed inside the cgroup and reported as a memory violation', async () => {
    const r = await runScript(
      `await report({ started: true });
       const keep = []; for (;;) { keep.push(Buffer.alloc(8 * 1024 * 1024, 1)); }`,
      { config: { cgroup: { memoryBytes: 96 * MiB, swapBytes: 0 } } },
    );
    expect(firstMessage(r).started).toBe(true);
    expect(r.exit.oomKilled).toBe(true);
    expect(exitViolation(r.exit, 96 * MiB)).toEqual({ type: 'OutOfMemory', limit: 96 * MiB });
    expectHostHealthy(r);
  });

  it('a CPU spin is throttled by the quota and killed by the CPU budget', async () => {
    let watch: ReturnType<typeof enforceCpuBudget> | undefined;
    let throttled: number | undefined;
    const r = await runScript(`await report({ spinning: true }); for (;;) {}`, {
      // 1 ms per 10 ms period: any time slice the scheduler gives the spin (≥ 1 ms) uses the period's quota up, so
      // the quota is seen to hold however loaded the machine (with 10 ms per 100 ms a spin that got less than 10% of a
      // core at load ≈ 13 was never throttled).
      config: { cgroup: { cpuQuotaUs: 1_000, cpuPeriodUs: 10_000, memoryBytes: 256 * MiB } },
      onStart: (proc: LinuxSandboxedProcess) => {
        watch = enforceCpuBudget(proc, { budgetMs: 150, intervalMs: 50 });
        const poll = (): void => {
          proc.metrics().then(
            (m) => {
              if (m.throttledPeriods !== undefined) throttled = Math.max(throttled ?? 0, m.throttledPeriods);
              if (m.exited !== true) setTimeout(poll, 50);
            },
            () => undefined,
          );
        };
        poll();
      },
    });
    const violation = await watch?.violation;
    expect(violation?.type).toBe('CpuTime');
    expect(r.exit.signal ?? r.exit.code).toBeTruthy();
    // The kernel throttled the cgroup (the quota held) before the budget ended the process.
    expect(throttled).toBeGreaterThan(0);
    expectHostHealthy(r);
  });

  it('exhausting file descriptors hits EMFILE inside the sandbox only', async () => {
    const r = await runScript(
      `let n = 0, code = 'none';
       try { for (;;) { fs.openSync('/dev/null', 'r'); n++; if (n > 100000) break; } } catch (e) { code = e.code; }
       await done({ n, code });`,
      { limits: { ...limitsBase(), maxFileDescriptors: 64 } },
    );
    const m = firstMessage(r);
    expect(m.code).toBe('EMFILE');
    // The rlimit is maxFileDescriptors plus the runtime's allowance (RUNTIME_ALLOWANCE.fileDescriptors, 32).
    expect(m.n).toBeLessThan(64 + 32);
    // The host still opens files freely.
    const fds = Array.from({ length: 100 }, () => fs.openSync('/dev/null', 'r'));
    for (const fd of fds) fs.closeSync(fd);
    expectHostHealthy(r);
  });

  it('filling /tmp stops at the tmpfs size with ENOSPC', async () => {
    const r = await runScript(
      `let written = 0, code = 'none'; const chunk = Buffer.alloc(256 * 1024, 7);
       try { const fd = fs.openSync('/tmp/fill', 'w'); for (;;) { fs.writeSync(fd, chunk); written += chunk.length; } }
       catch (e) { code = e.code; }
       await done({ written, code });`,
      { config: { filesystem: { binds: [], tmpfsBytes: 4 * MiB, maskPaths: [] } } },
    );
    const m = firstMessage(r);
    expect(m.code).toBe('ENOSPC');
    expect(m.written).toBeLessThanOrEqual(4 * MiB);
    expectHostHealthy(r);
  });

  it('/dev is read-only and /dev/shm stops at its size with ENOSPC', async () => {
    const r = await runScript(
      `let written = 0, code = 'none'; const chunk = Buffer.alloc(256 * 1024, 7);
       try { const fd = fs.openSync('/dev/shm/fill', 'w'); for (;;) { fs.writeSync(fd, chunk); written += chunk.length; } }
       catch (e) { code = e.code; }
       await done({ written, code, dev: errCode(() => fs.writeFileSync('/dev/fill', 'x')), devnull: errCode(() => fs.writeFileSync('/dev/null', 'x')) });`,
      { config: { filesystem: { binds: [], tmpfsBytes: 4 * MiB, maskPaths: [] } } },
    );
    const m = firstMessage(r);
    expect(m).toMatchObject({ code: 'ENOSPC', dev: 'EROFS', devnull: 'ok' });
    expect(m.written).toBeLessThanOrEqual(4 * MiB);
    expectHostHealthy(r);
  });

  it('the sandbox root is read-only, so it cannot be used to dodge the /tmp size', async () => {
    const r = await runScript(
      `await done({ root: errCode(() => fs.writeFileSync('/fill', 'x')), mk: errCode(() => fs.mkdirSync('/x')) });`,
    );
    expect(firstMessage(r)).toEqual({ root: 'EROFS', mk: 'EROFS' });
    expectHostHealthy(r);
  });
});

describe('network', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      hits++;
      res.end('host-secret');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('isolated mode: connecting to a host 127.0.0.1 server is refused (own network namespace)', async () => {
    const before = hits;
    const r = await runScript(
      `const s = net.connect(${port}, '127.0.0.1');
       const code = await new Promise((res) => { s.on('connect', () => res('connected')); s.on('error', (e) => res(e.code)); });
       await done({ code });`,
      { config: { seccomp: { mode: 'permissive' } } },
    );
    expect(['ECONNREFUSED', 'ENETUNREACH']).toContain(firstMessage(r).code);
    expect(hits).toBe(before);
    expectHostHealthy(r);
  });

  it('strict mode: an AF_INET socket is denied by seccomp', async () => {
    const r = await runScript(
      `const s = net.connect(${port}, '127.0.0.1');
       const code = await new Promise((res) => { s.on('connect', () => res('connected')); s.on('error', (e) => res(e.code)); });
       await done({ code });`,
    );
    expect(['EPERM', 'EACCES']).toContain(firstMessage(r).code);
    expectHostHealthy(r);
  });

  it('full mode (explicit opt-in) shares the host network; strict then allows IP sockets', async () => {
    const r = await runScript(
      `const s = net.connect(${port}, '127.0.0.1');
       const code = await new Promise((res) => { s.on('connect', () => res('connected')); s.on('error', (e) => res(e.code)); });
       s.destroy();
       await done({ code });`,
      { config: { network: { mode: 'full' } } },
    );
    expect(firstMessage(r).code).toBe('connected');
    expectHostHealthy(r);
  });

  /** Serves `{fetch: FetchRequest}` lines from the plugin with the broker, replying `{status}` or `{error}`. */
  function serveBroker(broker: FetchBroker) {
    return (proc: LinuxSandboxedProcess): void => {
      let buf = '';
      proc.ipc.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const line = JSON.parse(buf.slice(0, i)) as { fetch?: FetchRequest };
          buf = buf.slice(i + 1);
          if (line.fetch === undefined) continue;
          broker.fetch(line.fetch).then(
            (res) =>
              proc.ipc.write(
                `${JSON.stringify({ status: res.status, body: Buffer.from(res.body).toString() })}\n`,
              ),
            (e: unknown) =>
              proc.ipc.write(`${JSON.stringify({ error: (e as { code?: string }).code ?? 'unknown' })}\n`),
          );
        }
      });
    };
  }

  const fetchThroughBroker = (url: string): string => `
    __sock.write(JSON.stringify({ fetch: { url: ${JSON.stringify(url)}, method: 'GET', headers: {} } }) + '\\n');
    const reply = await new Promise((res) => { let b = ''; __sock.on('data', (d) => { b += d; if (b.includes('\\n')) res(JSON.parse(b)); }); });
    await done({ reply });`;

  it('restricted mode: an allowed name that resolves to 127.0.0.1 is refused by the broker', async () => {
    const before = hits;
    const broker = new FetchBroker({ allowedTargets: [{ host: 'localhost' }] });
    const r = await runScript(fetchThroughBroker(`http://localhost:${port}/`), {
      config: { network: { mode: 'restricted', allowedTargets: [{ host: 'localhost' }] } },
      onStart: serveBroker(broker),
    });
    expect(r.messages.at(-1)?.reply).toEqual({ error: 'PermissionDenied' });
    expect(hits).toBe(before);
    expectHostHealthy(r);
  });

  it('restricted mode: an allowed name that resolves to 169.254.169.254 (cloud metadata) is refused', async () => {
    const broker = new FetchBroker({
      allowedTargets: [{ host: 'api.example.test' }],
      // A real resolver answer we can't get from public DNS: the name maps to the metadata service.
      lookup: async () => [{ address: '169.254.169.254', family: 4 }],
    });
    const r = await runScript(fetchThroughBroker('http://api.example.test/latest/meta-data/'), {
      config: { network: { mode: 'restricted', allowedTargets: [{ host: 'api.example.test' }] } },
      onStart: serveBroker(broker),
    });
    expect(r.messages.at(-1)?.reply).toEqual({ error: 'PermissionDenied' });
    expectHostHealthy(r);
  });

  it('restricted mode: an explicitly listed loopback address is served (the broker is not a blanket deny)', async () => {
    const broker = new FetchBroker({ allowedTargets: [{ host: '127.0.0.1', ports: [port] }] });
    const r = await runScript(fetchThroughBroker(`http://127.0.0.1:${port}/`), {
      config: { network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [port] }] } },
      onStart: serveBroker(broker),
    });
    expect(r.messages.at(-1)?.reply).toEqual({ status: 200, body: 'host-secret' });
    expectHostHealthy(r);
  });
});

describe('filesystem', () => {
  it('/etc/shadow does not exist inside the sandbox', async () => {
    const r = await runScript(
      `await done({ shadow: errCode(() => fs.readFileSync('/etc/shadow')), etc: errCode(() => fs.readdirSync('/etc')) });`,
    );
    expect(firstMessage(r)).toEqual({ shadow: 'ENOENT', etc: 'ENOENT' });
    expectHostHealthy(r);
  });

  it('a symlink in the plugin directory to a host file leads nowhere (ENOENT)', async () => {
    const secretDir = tempDir('pw-secret-');
    const secret = path.join(secretDir, 'secret.txt');
    fs.writeFileSync(secret, 'host secret');
    const pluginDir = tempDir();
    fs.symlinkSync(secret, path.join(pluginDir, 'link'));
    const r = await runScript(
      `await done({ read: errCode(() => fs.readFileSync(${JSON.stringify(path.join(pluginDir, 'link'))}, 'utf8')) });`,
      {
        readOnlyPaths: [pluginDir],
      },
    );
    expect(firstMessage(r)).toEqual({ read: 'ENOENT' });
    expect(fs.readFileSync(secret, 'utf8')).toBe('host secret');
    expectHostHealthy(r);
  });

  it('writing to a read-only bind (and to the plugin copy) fails with EROFS', async () => {
    const data = tempDir('pw-ro-');
    fs.chmodSync(data, 0o755);
    fs.writeFileSync(path.join(data, 'f'), 'original', { mode: 0o666 });
    const pluginDir = tempDir();
    const r = await runScript(
      `const here = new URL('.', import.meta.url).pathname;
       await done({
         bind: errCode(() => fs.writeFileSync(${JSON.stringify(path.join(data, 'f'))}, 'pwned')),
         plugin: errCode(() => fs.writeFileSync(here + 'plugin.mjs', 'pwned')),
         pluginNew: errCode(() => fs.writeFileSync(here + 'x', 'pwned')),
       });`,
      {
        config: { filesystem: { binds: [{ source: data, mode: 'ro' }], tmpfsBytes: 4 * MiB, maskPaths: [] } },
        readOnlyPaths: [pluginDir],
      },
    );
    expect(firstMessage(r)).toEqual({ bind: 'EROFS', plugin: 'EROFS', pluginNew: 'EROFS' });
    expect(fs.readFileSync(path.join(data, 'f'), 'utf8')).toBe('original');
    expectHostHealthy(r);
  });

  it("no bind or read-only path brings a kernel filesystem of the host in (binds are recursive: '/' carries /proc)", async () => {
    // Through the host's procfs the command would reach its own init by its host pid (/proc/<pid>/mem, same uid).
    const fsWith = (source: string) => ({
      filesystem: {
        binds: [{ source, target: '/host', mode: 'ro' as const }],
        tmpfsBytes: 4 * MiB,
        maskPaths: [],
      },
    });
    for (const source of ['/', '/proc', '/proc/self', '/sys/fs/cgroup']) {
      // `/proc/self` is a symbolic link: refused as such where binds are opened without following one (root hosts).
      await expect(runScript('await done({});', { config: fsWith(source) })).rejects.toMatchObject({
        code: 'InvalidArgument',
        message: expect.stringMatching(
          /kernel filesystem: .*(proc|sysfs|cgroup)|symbolic link is on its way/,
        ),
      });
    }
    await expect(runScript('await done({});', { readOnlyPaths: ['/proc'] })).rejects.toMatchObject({
      code: 'InvalidArgument',
      message: expect.stringMatching(/read-only path \/proc would show a kernel filesystem/),
    });
    const r = await runScript('await done({ ok: true });', { config: fsWith('/usr') });
    expect(firstMessage(r)).toEqual({ ok: true });
    expectHostHealthy(r);
  });

  it('a read-write bind is writable and nothing else on the host is', async () => {
    const data = tempDir('pw-rw-');
    // The plugin runs as its own uid: a host granting a writable directory makes it writable for that uid.
    fs.chmodSync(data, 0o1777);
    const r = await runScript(
      `fs.writeFileSync('/data/out.txt', 'from plugin');
       await done({ home: errCode(() => fs.readdirSync('/root')), proc: errCode(() => fs.readFileSync('/proc/kcore')) });`,
      {
        config: {
          filesystem: {
            binds: [{ source: data, target: '/data', mode: 'rw' }],
            tmpfsBytes: 4 * MiB,
            maskPaths: [],
          },
        },
      },
    );
    expect(fs.readFileSync(path.join(data, 'out.txt'), 'utf8')).toBe('from plugin');
    expect(firstMessage(r).home).toBe('ENOENT');
    expect(firstMessage(r).proc).not.toBe('ok');
    expectHostHealthy(r);
  });
});

describe('privilege and escape attempts (C)', () => {
  let bin = '';
  beforeAll(() => {
    if (HAS_C_COMPILER) bin = compileC('escapes');
  });
  const attempt = async (what: string) => {
    const r = await runCommand(bin, [what], { readOnlyPaths: [path.dirname(bin)] });
    return { r, errno: Number(r.stdout.trim()) };
  };

  itWithC('ptrace(PTRACE_ATTACH) of pid 1 is denied with EPERM', async () => {
    const res = await attempt('ptrace');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('ptrace(PTRACE_TRACEME) is denied with EPERM', async () => {
    const res = await attempt('traceme');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('mount(2) is denied with EPERM', async () => {
    const res = await attempt('mount');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('unshare(CLONE_NEWUSER) of a nested user namespace is denied with EPERM', async () => {
    const res = await attempt('unshare');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('clone(CLONE_NEWUSER) is denied with EPERM', async () => {
    const res = await attempt('clone-userns');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('bpf(2) and keyctl(2) are denied with EPERM', async () => {
    const a = await attempt('bpf');
    const b = await attempt('keyctl');
    expect([a.errno, b.errno]).toEqual([EPERM, EPERM]);
    expectHostHealthy(b.r);
  });

  itWithC('ioctl(TIOCSTI) is denied with EPERM', async () => {
    const res = await attempt('tiocsti');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('ioctl(TIOCSTI) with the high 32 bits set is still denied with EPERM', async () => {
    const res = await attempt('tiocsti-high');
    expect(res.errno).toBe(EPERM);
    expectHostHealthy(res.r);
  });

  itWithC('an x32-ABI syscall kills the process and never executes', async () => {
    const res = await attempt('x32');
    expect(res.r.stdout).toContain('before');
    expect(res.r.stdout).not.toContain('after');
    // bwrap's reaper reports the SIGSYS death as 128 + 31.
    expect(res.r.exit.code).toBe(159);
    expectHostHealthy(res.r);
  });

  itWithC('a raw int 0x80 (i386 ABI) syscall kills the process and never executes', async () => {
    const res = await attempt('int80');
    expect(res.r.stdout).toContain('before');
    expect(res.r.stdout).not.toContain('EXECUTED');
    expect(res.r.stdout).not.toContain('after');
    expect(res.r.exit.code === 0 && res.r.exit.signal === null).toBe(false);
    expectHostHealthy(res.r);
  });
});

describe('process isolation (JS)', () => {
  it('child_process.spawn in strict mode fails with EPERM', async () => {
    const r = await runScript(
      `const cp = await import('node:child_process');
       const code = await new Promise((res) => { try { const c = cp.spawn(process.execPath, ['-e', '0']); c.on('error', (e) => res(e.code)); c.on('spawn', () => res('spawned')); } catch (e) { res(e.code); } });
       await done({ code, exec: errCode(() => cp.execFileSync(process.execPath, ['-e', '0'])) });`,
    );
    expect(firstMessage(r)).toEqual({ code: 'EPERM', exec: 'EPERM' });
    expectHostHealthy(r);
  });

  it('host environment variables are absent; only the configured environment exists', async () => {
    process.env.PLUGWARD_HOST_SECRET = 'do-not-leak';
    try {
      const r = await runScript(`await done({ env: process.env });`, { config: { env: { ONLY: 'this' } } });
      const env = firstMessage(r).env as Record<string, string>;
      expect(env.PLUGWARD_HOST_SECRET).toBeUndefined();
      expect(env.PATH).toBeUndefined();
      expect(env.ONLY).toBe('this');
      expectHostHealthy(r);
    } finally {
      delete process.env.PLUGWARD_HOST_SECRET;
    }
  });

  it('host processes are not visible in /proc', async () => {
    const r = await runScript(
      `await done({ pids: fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).map(Number), self: process.pid });`,
    );
    const m = firstMessage(r) as { pids: number[]; self: number };
    expect(m.pids.length).toBeLessThanOrEqual(3);
    expect(m.pids).not.toContain(process.pid);
    expect(m.self).toBeLessThanOrEqual(3);
    expectHostHealthy(r);
  });

  it('CapEff/CapBnd are 0 and NoNewPrivs 1 and Seccomp 2 on every thread', async () => {
    const r = await runScript(
      `const { Worker } = await import('node:worker_threads');
       const w = new Worker('setTimeout(() => {}, 300)', { eval: true });
       await new Promise((res) => setTimeout(res, 100));
       const tasks = fs.readdirSync('/proc/self/task').map((t) => {
         const s = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
         const f = (k) => new RegExp('^' + k + ':\\\\s+(\\\\S+)', 'm').exec(s)?.[1];
         return { CapEff: f('CapEff'), CapBnd: f('CapBnd'), CapPrm: f('CapPrm'), NoNewPrivs: f('NoNewPrivs'), Seccomp: f('Seccomp') };
       });
       await w.terminate();
       await done({ tasks });`,
    );
    const tasks = firstMessage(r).tasks as Record<string, string>[];
    expect(tasks.length).toBeGreaterThan(5);
    for (const t of tasks) {
      expect(t).toEqual({
        CapEff: '0000000000000000',
        CapBnd: '0000000000000000',
        CapPrm: '0000000000000000',
        NoNewPrivs: '1',
        Seccomp: '2',
      });
    }
    expectHostHealthy(r);
  });

  it('keeps no capability the host did not list (dropAll: false + allowedCaps), and refuses dropAll: false alone', async () => {
    const NET_BIND_SERVICE = 1n << 10n;
    const r = await runScript(
      `const caps = fs.readdirSync('/proc/self/task').map((t) => {
         const s = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
         const f = (k) => new RegExp('^' + k + ':\\\\s+(\\\\S+)', 'm').exec(s)?.[1];
         return [f('CapEff'), f('CapPrm'), f('CapBnd'), f('CapInh'), f('CapAmb')];
       });
       await done({ caps });`,
      {
        config: {
          capabilities: { dropAll: false, allowedCaps: ['CAP_NET_BIND_SERVICE'], noNewPrivs: true },
        },
      },
    );
    const caps = firstMessage(r).caps as string[][];
    expect(caps.length).toBeGreaterThan(0);
    for (const set of caps.flat()) expect(BigInt(`0x${set}`) & ~NET_BIND_SERVICE).toBe(0n);
    expectHostHealthy(r);
    await expect(
      runScript('await done({});', {
        config: { capabilities: { dropAll: false, allowedCaps: [], noNewPrivs: true } },
      }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it("pid 1's (bwrap's init) cmdline can't be read, and the plugin's carries no host paths, cgroup paths or environment", async () => {
    const r = await runScript(
      `await done({
         pid: process.pid,
         init: errCode(() => fs.readFileSync('/proc/1/cmdline', 'utf8')),
         cmd: fs.readFileSync('/proc/self/cmdline', 'utf8').split('\\0'),
       });`,
      {
        config: { env: { TOKEN: 'in-env-only' } },
      },
    );
    expect(firstMessage(r).pid).toBe(2);
    expect(firstMessage(r).init).toBe('ENOENT');
    const cmd = (firstMessage(r).cmd as string[]).join(' ');
    expect(cmd).not.toContain('bwrap');
    expect(cmd).not.toContain('--ro-bind');
    expect(cmd).not.toContain('pw-attack-');
    expect(cmd).not.toContain('in-env-only');
    expect(cmd).not.toContain('/sys/fs/cgroup');
    expectHostHealthy(r);
  });

  it('SIGKILL of the host leaves no plugin process alive', async () => {
    const dir = tempDir('pw-host-');
    const hostScript = path.join(dir, 'host.mjs');
    const plugin = path.join(dir, 'plugin.mjs');
    fs.writeFileSync(
      plugin,
      "import net from 'node:net'; new net.Socket({ fd: 3, readable: true, writable: true }).write('ready'); setInterval(() => {}, 1000);",
    );
    const dist = path.resolve(__dirname, '../dist/index.js');
    fs.writeFileSync(
      hostScript,
      `import { LinuxSandbox, defaultSandboxConfig } from ${JSON.stringify(dist)};
       const p = await new LinuxSandbox().spawn({ command: process.execPath, args: [${JSON.stringify(plugin)}], readOnlyPaths: [${JSON.stringify(dir)}], config: defaultSandboxConfig(), label: 'orphan' });
       await new Promise((r) => p.ipc.once('data', r));
       console.log(JSON.stringify({ pids: p.pids(), cgroups: p.cgroupPaths }));
       setInterval(() => {}, 1000);`,
    );
    const host = spawn(process.execPath, [hostScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res) => {
      let b = '';
      host.stdout.on('data', (d: Buffer) => {
        b += d.toString();
        if (b.includes('\n')) res(b);
      });
    });
    const { pids, cgroups } = JSON.parse(line) as { pids: number[]; cgroups: Record<string, string> };
    expect(pids.length).toBeGreaterThanOrEqual(2);
    host.kill('SIGKILL');
    const alive = (pid: number): boolean => {
      try {
        // A zombie waiting for the host's init to reap it runs no code: it counts as dead.
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && pids.some(alive); i++) await sleep(50);
    expect(pids.filter(alive)).toEqual([]);
    // The host died before it could clean up: its cgroups are empty (or already gone: any other host's first spawn
    // sweeps the cgroups of dead hosts, and test files run in parallel), and the stale-cgroup sweep removes them.
    // A zombie still listed (its new parent, the machine's init, reaps it a moment later) runs no code.
    const running = (dir: string): number[] =>
      fs.existsSync(dir)
        ? fs
            .readFileSync(path.join(dir, 'cgroup.procs'), 'utf8')
            .split('\n')
            .filter(Boolean)
            .map(Number)
            .filter(alive)
        : [];
    for (let i = 0; i < 100 && Object.values(cgroups).some((d) => running(d).length > 0); i++)
      await sleep(50);
    for (const dir of Object.values(cgroups)) expect(running(dir)).toEqual([]);
    if (host.exitCode === null && host.signalCode === null) await new Promise((r) => host.once('exit', r));
    // (A concurrent run's sweep may have removed them first: what matters is that they are gone.)
    // A zombie listed in cgroup.procs until the machine's init reaps it keeps the group busy: sweep again until then.
    const left = (): string[] => Object.values(cgroups).filter((d) => fs.existsSync(d));
    for (let i = 0; i < 100; i++) {
      cleanupStaleCgroups();
      if (left().length === 0) break;
      await sleep(50);
    }
    expect(left()).toEqual([]);
    expectHostHealthy();
  });

  it('the IPC socket on fd 3 is a working stream in both directions', async () => {
    const r = await runScript(
      `const msg = await new Promise((res) => __sock.once('data', (d) => res(String(d))));
       await done({ echo: msg.trim().toUpperCase() });`,
      { onStart: (p) => p.ipc.write('ping\n') },
    );
    expect(firstMessage(r)).toEqual({ echo: 'PING' });
    expectHostHealthy(r);
  });
});

function limitsBase() {
  return {
    maxHeapBytes: 128 * MiB,
    maxCpuTimeMs: 5000,
    maxFileDescriptors: 100,
    maxThreads: 10,
    maxConnections: 10,
    maxDbQueryMs: 1000,
    maxExternalApiMs: 1000,
  };
}

void execFileSync;
