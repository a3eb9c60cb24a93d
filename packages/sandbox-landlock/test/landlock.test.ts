import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  childCommands,
  killHostUnderSubreaper,
  pidsOfUidRange,
} from '../../sandbox-common/test/host-death.js';
import { AS_NOBODY } from '../../sandbox-common/test/sandbox-run.js';
import { LANDLOCK_SANDBOX_DIR, sweepStaleSandboxDirs } from '../dist/index.js';
import { cleanupDirs, compileC, itWithC, koffiPaths, runScript, tempDir } from './helpers.js';
import { parseProbe, probeScript } from './probe.js';

const isRoot = process.getuid?.() === 0;
/** A host service that would answer: a reset by the client is no test failure. */
const swallow = (s: net.Socket): void => {
  s.on('error', () => undefined);
  s.end('pwned');
};
afterAll(cleanupDirs);

/** Nothing of a finished sandbox is left: no per-sandbox directory, no scratch mount, no cgroup, no uid lease. */
function expectNothingLeft(r: {
  proc: { cgroupPaths: Readonly<Record<string, string>>; scratchDir: string; uid: number };
}): void {
  for (const dir of Object.values(r.proc.cgroupPaths)) expect(fs.existsSync(dir)).toBe(false);
  expect(fs.existsSync(r.proc.scratchDir)).toBe(false);
  expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(r.proc.scratchDir);
  if (isRoot) expect(fs.existsSync(`/run/plugward/uids/${r.proc.uid}`)).toBe(false);
}

describe('filesystem', () => {
  it('reads only the runtime, the plugin and its own /proc; writes only its scratch', async () => {
    const secretDir = tempDir('pw-ll-secret-');
    const secret = path.join(secretDir, 'secret.txt');
    fs.writeFileSync(secret, 'host secret', { mode: 0o644 });
    const r = await runScript(`
const T = process.env.TMPDIR;
await done({
  passwd: errCode(() => fs.readFileSync('/etc/passwd')),
  shadow: errCode(() => fs.readFileSync('/etc/shadow')),
  hostFile: errCode(() => fs.readFileSync(${JSON.stringify(secret)})),
  listRoot: errCode(() => fs.readdirSync('/')),
  listProc: errCode(() => fs.readdirSync('/proc')),
  pid1: errCode(() => fs.readFileSync('/proc/1/cmdline')),
  hostPid: errCode(() => fs.readFileSync('/proc/${process.pid}/environ')),
  sysctl: errCode(() => fs.writeFileSync('/proc/sys/kernel/core_pattern', 'x')),
  ownStatus: errCode(() => fs.readFileSync('/proc/self/status')),
  writeTmp: errCode(() => fs.writeFileSync('/tmp/pw-ll-escape', 'x')),
  writeHostFile: errCode(() => fs.appendFileSync(${JSON.stringify(secret)}, 'x')),
  truncatePlugin: errCode(() => fs.truncateSync(new URL(import.meta.url).pathname, 0)),
  scratch: errCode(() => { fs.writeFileSync(T + '/a', 'b'); fs.renameSync(T + '/a', T + '/c'); fs.readFileSync(T + '/c'); }),
  symlinkOut: errCode(() => fs.symlinkSync('/etc/shadow', T + '/s')),
  fifo: errCode(() => spawnFifo()),
  sandboxDirs: errCode(() => fs.readdirSync(${JSON.stringify(LANDLOCK_SANDBOX_DIR)})),
  // Landlock has no metadata right: seccomp denies these, on the plugin's own files too.
  chmodOwn: errCode(() => fs.chmodSync(T + '/c', 0o777)),
  chmodHost: errCode(() => fs.chmodSync(${JSON.stringify(secret)}, 0o777)),
  utimesHost: errCode(() => fs.utimesSync(${JSON.stringify(secret)}, 0, 0)),
  uid: process.getuid(),
});
function spawnFifo() { throw Object.assign(new Error(), { code: 'skipped' }); }
`);
    expect(r.stderr).toBe('');
    const rep = r.report;
    for (const k of [
      'passwd',
      'shadow',
      'hostFile',
      'listRoot',
      'listProc',
      'pid1',
      'hostPid',
      'writeTmp',
      'writeHostFile',
      'truncatePlugin',
      'symlinkOut',
      'sandboxDirs',
    ]) {
      expect([k, rep[k]]).toEqual([k, 'EACCES']);
    }
    expect(['EACCES', 'EROFS']).toContain(rep.sysctl);
    for (const k of ['chmodOwn', 'chmodHost', 'utimesHost']) expect([k, rep[k]]).toEqual([k, 'EPERM']);
    expect(fs.statSync(secret).mode & 0o777).toBe(0o644);
    expect(rep.ownStatus).toBe('ok');
    expect(rep.scratch).toBe('ok');
    expect(fs.readFileSync(secret, 'utf8')).toBe('host secret');
    expect(fs.existsSync('/tmp/pw-ll-escape')).toBe(false);
    if (isRoot) {
      expect(rep.uid).not.toBe(0);
      expect(r.proc.uid).toBe(rep.uid);
      expect(r.proc.scratch).toBe('tmpfs');
    }
    expect(r.exit.code).toBe(0);
    expectNothingLeft(r);
  });

  it('two sandboxes run as two different uids, neither root nor the host’s', async () => {
    const body = 'await done({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() });';
    const [a, b] = await Promise.all([runScript(body), runScript(body)]);
    if (!isRoot) {
      console.warn('not root: the uid lease is not tested (plugins share the host user’s uid)');
      return;
    }
    expect(a.report.uid).not.toBe(b.report.uid);
    for (const r of [a, b]) {
      expect(r.report.uid).not.toBe(0);
      expect(r.report.gid).toBe(r.report.uid);
      expect(r.report.groups).toEqual([r.report.uid]);
    }
  });
});

describe('network', () => {
  it('isolated: no TCP, UDP, abstract or path unix socket reaches the host', async () => {
    const tcp = net.createServer(swallow).listen(0, '127.0.0.1');
    await new Promise((r) => tcp.once('listening', r));
    const port = (tcp.address() as net.AddressInfo).port;
    const nonce = Math.random().toString(16).slice(2, 10);
    const abstract = net.createServer(swallow).listen(`\0pw-ll-${nonce}`);
    const sockDir = tempDir('pw-ll-sock-');
    const sockPath = path.join(sockDir, 's');
    const named = net.createServer(swallow).listen(sockPath);
    await new Promise((r) => named.once('listening', r));
    fs.chmodSync(sockPath, 0o777);
    let connections = 0;
    for (const s of [tcp, abstract, named]) s.on('connection', () => connections++);
    try {
      const r = await runScript(`
const connect = (opts) => new Promise((res) => {
  const s = net.connect(opts);
  s.on('connect', () => { s.destroy(); res('connected'); });
  s.on('error', (e) => res(e.code));
});
const dgram = await import('node:dgram');
const udp = await new Promise((res) => {
  try { const s = dgram.createSocket('udp4'); s.on('error', (e) => res(e.code)); s.send('x', ${port}, '127.0.0.1', (e) => { res(e ? e.code : 'sent'); s.close(); }); }
  catch (e) { res(e.code); }
});
await done({
  tcp: await connect({ host: '127.0.0.1', port: ${port} }),
  listen: await new Promise((res) => { const s = net.createServer().listen(0, '127.0.0.1'); s.on('listening', () => { s.close(); res('listening'); }); s.on('error', (e) => res(e.code)); }),
  abstract: await connect({ path: '\\0pw-ll-${nonce}' }),
  named: await connect({ path: ${JSON.stringify(sockPath)} }),
  udp,
});
`);
      expect(r.report.tcp).not.toBe('connected');
      expect(r.report.listen).not.toBe('listening');
      expect(r.report.abstract).not.toBe('connected');
      expect(r.report.named).not.toBe('connected');
      expect(r.report.udp).not.toBe('sent');
      expect(connections).toBe(0);
      expectNothingLeft(r);
      // The same script with the host network (explicit opt-in) does connect: the test can fail.
      const full = await runScript(
        `const s = net.connect({ host: '127.0.0.1', port: ${port} }); s.on('connect', async () => { s.destroy(); await done({ tcp: 'connected' }); }); s.on('error', async (e) => done({ tcp: e.code }));`,
        { config: { network: { mode: 'full' } } },
      );
      expect(full.report.tcp).toBe('connected');
    } finally {
      for (const s of [tcp, abstract, named]) s.close();
    }
  });
});

describe('processes', () => {
  it('the plugin’s stdout and stderr are pipes the host reads, not the host’s own fds', async () => {
    const r = await runScript(`
process.stdout.write('to stdout\\n');
process.stderr.write('to stderr\\n');
await done({ fd1: fs.readlinkSync('/proc/self/fd/1'), fd2: fs.readlinkSync('/proc/self/fd/2'), fd0: fs.readlinkSync('/proc/self/fd/0') });
`);
    expect(r.stdout).toBe('to stdout\n');
    expect(r.stderr).toBe('to stderr\n');
    expect(String(r.report.fd1)).toMatch(/^(pipe|socket):/);
    expect(r.report.fd0).toBe('/dev/null');
  });

  it('keeps no capability on any thread (dropAll), and refuses dropAll: false', async () => {
    const r = await runScript(`
const caps = fs.readdirSync('/proc/self/task').map((t) => {
  const s = fs.readFileSync('/proc/self/task/' + t + '/status', 'utf8');
  const f = (k) => new RegExp('^' + k + ':\\\\s+(\\\\S+)', 'm').exec(s)?.[1];
  return [f('CapEff'), f('CapPrm'), f('CapBnd'), f('CapInh'), f('CapAmb')];
});
await done({ caps });
`);
    const caps = r.report.caps as string[][];
    expect(caps.length).toBeGreaterThan(1);
    for (const set of caps) expect(set).toEqual(Array(5).fill('0000000000000000'));
    await expect(
      runScript('await done({});', {
        config: { capabilities: { dropAll: false, allowedCaps: [], noNewPrivs: true } },
      }),
    ).rejects.toMatchObject({ code: 'InvalidArgument' });
  });

  it('no exec, no fork; signals do not reach the host', async () => {
    const r = await runScript(`
const cp = await import('node:child_process');
await done({
  execFile: errCode(() => cp.execFileSync('/bin/true')),
  execNode: errCode(() => cp.execFileSync(process.execPath, ['-e', '0'])),
  spawnShell: errCode(() => cp.execSync('id')),
  killHost: errCode(() => process.kill(${process.pid}, 0)),
  killInit: errCode(() => process.kill(1, 0)),
});
`);
    for (const k of ['execFile', 'execNode', 'spawnShell']) expect([k, r.report[k]]).not.toEqual([k, 'ok']);
    expect(r.report.killHost).toBe('EPERM');
    expect(r.report.killInit).toBe('EPERM');
    expectNothingLeft(r);
  });

  itWithC('native code can not exec, fork or unshare either (raw syscalls)', async () => {
    const so = compileC('raw', true);
    const k = koffiPaths();
    const r = await runScript(
      `
const [koffiEntry, so] = process.argv.slice(2);
const koffi = (await import(koffiEntry)).default;
const fn = koffi.load(so).func('int attempt(char *buf, int len)');
const buf = Buffer.alloc(512);
fn(buf, 512);
await done({ out: buf.toString().replace(/\\0[\\s\\S]*$/, '') });
`,
      { readOnlyPaths: [path.dirname(so), ...k.paths], args: [k.entry, so] },
    );
    const out = String(r.report.out);
    expect(out).toMatch(/^execve=\d+ execveat=\d+ fork=\d+ clone=\d+ unshare=\d+ ptrace=\d+$/);
    for (const field of out.split(' ')) expect(field).not.toMatch(/=0$/);
  });
});

describe('every thread is confined', () => {
  itWithC(
    'a native plugin opening a forbidden file from every thread that existed before it ran (libuv pool, V8 platform) gets EACCES on each',
    async () => {
      const so = compileC('thread-probe', true);
      const target = '/etc/passwd';
      const k = koffiPaths();
      const r = await runScript(probeScript(target), {
        readOnlyPaths: [path.dirname(so), ...k.paths],
        args: [k.entry, so],
      });
      expect(r.stderr).toBe('');
      const probe = parseProbe(String(r.report.out));
      console.log(`landlock sandbox: ${r.report.threads} threads, probe ${r.report.out}`);
      // libuv's pool and V8's platform threads take the signal; every one of them is denied.
      expect(probe.results.length).toBeGreaterThanOrEqual(4);
      for (const res of probe.results) expect(res.errno).toBe(os.constants.errno.EACCES);
      expect(r.report.pool).toBe('EACCES');
      expect(r.report.main).toBe('EACCES');
    },
  );

  itWithC(
    'control: restricting only the main thread in process (no TSYNC, no exec) leaves those threads free — the probe sees it',
    async () => {
      const so = compileC('thread-probe', true);
      const k = koffiPaths();
      const dir = tempDir();
      const script = path.join(dir, 'control.mjs');
      fs.writeFileSync(
        script,
        `import fs from 'node:fs';
const koffi = (await import(${JSON.stringify(k.entry)})).default;
await Promise.all([1, 2, 3, 4, 5, 6].map(() => fs.promises.stat('/dev/null').catch(() => 0)));
const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long nr, ...)');
const prctl = libc.func('int prctl(int, unsigned long, unsigned long, unsigned long, unsigned long)');
const lib = koffi.load(${JSON.stringify(so)});
const probe = lib.func('int probe(const char *path, char *buf, int len)');
// Ruleset: READ_FILE handled, allowed nowhere: the main thread can read no file any more.
const attr = Buffer.alloc(8); attr.writeBigUInt64LE(4n);
const fd = Number(syscall(444, 'void *', attr, 'size_t', 8, 'uint32_t', 0));
prctl(38, 1, 0, 0, 0);
const rc = Number(syscall(446, 'int', fd, 'uint32_t', 0));
const buf = Buffer.alloc(8192);
probe('/etc/passwd', buf, buf.length);
let main; try { fs.readFileSync('/etc/passwd'); main = 'ok'; } catch (e) { main = e.code; }
process.stdout.write(JSON.stringify({ rc, main, out: buf.toString().replace(/\\0[\\s\\S]*$/, '') }));
`,
      );
      const res = spawnSync(process.execPath, [script], { encoding: 'utf8' });
      const rep = JSON.parse(res.stdout) as { rc: number; main: string; out: string };
      expect(rep.rc).toBe(0);
      expect(rep.main).toBe('EACCES');
      const probe = parseProbe(rep.out);
      expect(probe.results.some((x) => x.errno === 0)).toBe(true);
    },
  );
});

describe('rlimits and scratch', () => {
  it('sets NOFILE, FSIZE, DATA, NPROC, CORE; the scratch is sized and noexec', async () => {
    const r = await runScript(
      `
const limits = fs.readFileSync('/proc/self/limits', 'utf8');
const grab = (name) => (limits.split('\\n').find((l) => l.startsWith(name)) ?? '').replace(name, '').trim().split(/\\s+/).slice(0, 2).join(' ');
const T = process.env.TMPDIR;
const fds = [];
let fdErr = 'none';
try { for (let i = 0; i < 200; i++) fds.push(fs.openSync('/dev/null', 'r')); } catch (e) { fdErr = e.code; }
for (const fd of fds) fs.closeSync(fd);
await done({
  nofile: grab('Max open files'), fsize: grab('Max file size'), data: grab('Max data size'),
  nproc: grab('Max processes'), core: grab('Max core file size'),
  fdErr,
  big: errCode(() => fs.writeFileSync(T + '/big', Buffer.alloc(3 << 20))),
  mountOpts: fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\\n').find((l) => l.split(' ')[4] === T) ?? '',
});
`,
      {
        limits: {
          maxHeapBytes: 128 << 20,
          maxCpuTimeMs: 5000,
          maxFileDescriptors: 64,
          maxThreads: 10,
          maxConnections: 4,
          maxDbQueryMs: 1000,
          maxExternalApiMs: 1000,
        },
        config: { filesystem: { binds: [], tmpfsBytes: 2 << 20, maskPaths: [] } },
        sandbox: { stdio: 'pipe' },
      },
    );
    // maxFileDescriptors plus the runtime's allowance (RUNTIME_ALLOWANCE.fileDescriptors = 32).
    expect(r.report.nofile).toBe('96 96');
    expect(r.report.fsize).toBe(`${2 << 20} ${2 << 20}`);
    expect(r.report.core).toBe('0 0');
    expect(r.report.fdErr).toBe('EMFILE');
    expect(['EFBIG', 'ENOSPC']).toContain(r.report.big);
    if (isRoot) {
      expect(r.report.nproc).toBe('26 26');
      expect(String(r.report.mountOpts)).toMatch(/noexec/);
    }
    expectNothingLeft(r);
  });
});

describe('a host that is SIGKILLed', () => {
  it('takes its plugin with it, and the next host removes what it left (directory, scratch tmpfs)', async () => {
    const dir = tempDir();
    const host = path.join(dir, 'host.mjs');
    const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'index.js');
    fs.writeFileSync(path.join(dir, 'idle.mjs'), 'setInterval(() => {}, 1000);', { mode: 0o644 });
    fs.writeFileSync(
      host,
      `import { LandlockSandbox, defaultLandlockConfig } from ${JSON.stringify(dist)};
const p = await new LandlockSandbox().spawn({ command: process.execPath, args: [${JSON.stringify(path.join(dir, 'idle.mjs'))}],
  readOnlyPaths: [${JSON.stringify(dir)}], config: defaultLandlockConfig(), label: 'orphan' });
process.stdout.write(JSON.stringify({ pid: p.pid, scratch: p.scratchDir }) + '\\n');
setInterval(() => {}, 1000);`,
    );
    const child = spawn(process.execPath, [host], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((res) =>
      child.stdout.once('data', (d: Buffer) => res(d.toString())),
    );
    const { pid, scratch } = JSON.parse(line) as { pid: number; scratch: string };
    expect(fs.existsSync(`/proc/${pid}`)).toBe(true);
    // Its scratch exists while its host lives (no sweep removes the directory of a live host).
    expect(fs.existsSync(scratch)).toBe(true);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    for (
      let i = 0;
      i < 100 &&
      fs.existsSync(`/proc/${pid}/status`) &&
      !/State:\s+Z/.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const state = fs.existsSync(`/proc/${pid}/status`)
      ? /State:\s+(\S)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
      : 'gone';
    expect(['Z', 'gone']).toContain(state); // PR_SET_PDEATHSIG: no plugin code runs after its host
    // The next host removes what it left: this test's sweep, or — when another test file's first spawn got there
    // first (the same folder on a root host, as in production) — that host's. Either way: no directory, no mount.
    const left = path.dirname(scratch);
    const removed = sweepStaleSandboxDirs(path.dirname(left));
    if (!removed.includes(left)) {
      console.log(`the directory ${left} was swept by another host of this run before this test's sweep`);
    }
    expect(removed.includes(left) || !fs.existsSync(left)).toBe(true);
    expect(fs.existsSync(left)).toBe(false);
    expect(fs.readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(scratch);
  });
});

describe('a host that dies while its sandbox starts', () => {
  it.skipIf(!isRoot)(
    'SIGKILL 0–64 ms after its launcher started (before, during and after it arms its parent-death signal): no process of it runs on',
    async () => {
      const dir = tempDir();
      const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'index.js');
      fs.writeFileSync(path.join(dir, 'idle.mjs'), 'setInterval(() => {}, 1000);', { mode: 0o644 });
      const range = { first: 1_970_000_000, count: 100_000 };
      const host = path.join(dir, 'host.mjs');
      fs.writeFileSync(
        host,
        `import { LandlockSandbox, defaultLandlockConfig } from ${JSON.stringify(dist)};
const s = new LandlockSandbox({ uidRange: ${JSON.stringify(range)}, uidLockDir: ${JSON.stringify(path.join(dir, 'uids'))} });
process.stdout.write('spawning\\n');
await s.spawn({ command: process.execPath, args: [${JSON.stringify(path.join(dir, 'idle.mjs'))}],
  readOnlyPaths: [${JSON.stringify(dir)}], config: defaultLandlockConfig(), label: 'host-death' });
process.stdout.write('spawned\\n');
setInterval(() => {}, 1000);`,
      );
      const running = (): number[] => pidsOfUidRange(range);
      const killed = [];
      const orphans: string[] = [];
      for (let i = 0; i < 10; i++) {
        // Killed 0–64 ms after the host started its launcher (node booting, joining, dropping to the uid, arming).
        const delay = i < 9 ? i * 8 : -1;
        const launcherStarted = (pid: number): boolean =>
          childCommands(pid).some((c) => c.includes('launcher.cjs'));
        const k = await killHostUnderSubreaper(host, delay, launcherStarted, 'spawned');
        killed.push(k);
        // Before the next host starts (its cgroup sweep would kill what this one left): nothing of it may run on.
        orphans.push(...(await k.orphans(5000)));
      }
      // The launcher arms PR_SET_PDEATHSIG after its uid change and then checks its parent is still the host (not
      // pid 1 alone: the hosts here run below a subreaper, which takes their orphans): a host gone before that leaves
      // nothing running either.
      // Looked for while the subreapers still live (an orphan of theirs would run on as their child).
      for (let i = 0; i < 500 && running().length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      const left = running();
      await Promise.all(killed.map((k) => k.end()));
      expect(orphans).toEqual([]);
      expect(left).toEqual([]);
      const r = await runScript('await done({ ok: true });');
      expect(r.report).toEqual({ ok: true });
    },
    120_000,
  );
});

describe('a non-root host without a cgroup (the host itself runs as nobody)', () => {
  it.skipIf(!isRoot)(
    'still denies files and scopes signals to the host (same uid), and reports the missing cgroup',
    () => {
      const dir = tempDir();
      const dist = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'index.js');
      fs.writeFileSync(
        path.join(dir, 'plugin.mjs'),
        `import net from 'node:net';
import os from 'node:os';
import fs from 'node:fs';
const t = (f) => { try { f(); return 'ok'; } catch (e) { return e.code; } };
const ipc = new net.Socket({ fd: 3, readable: true, writable: true });
ipc.end(JSON.stringify({ uid: process.getuid(), passwd: t(() => fs.readFileSync('/etc/passwd')),
  signalHost: t(() => process.kill(process.ppid, 'SIGTERM')), hostEnviron: t(() => fs.readFileSync('/proc/' + process.ppid + '/environ')),
  limits: fs.readFileSync('/proc/self/limits', 'utf8').split('\\n').filter((l) => /data size|cpu time/.test(l)).map((l) => l.replace(/\\s+/g, ' ')) }));`,
        { mode: 0o644 },
      );
      fs.writeFileSync(
        path.join(dir, 'host.mjs'),
        `import { LandlockSandbox, defaultLandlockConfig } from ${JSON.stringify(dist)};
const sb = new LandlockSandbox({ allowExecutableScratch: true });
const report = await sb.checkSupport();
const p = await sb.spawn({ command: process.execPath, args: [${JSON.stringify(path.join(dir, 'plugin.mjs'))}],
  readOnlyPaths: [${JSON.stringify(dir)}], config: defaultLandlockConfig(), label: 'nonroot' });
let got = '';
p.ipc.on('data', (d) => { got += d; });
const exit = await p.exit;
process.stdout.write(JSON.stringify({ warnings: report.warnings, plugin: JSON.parse(got), exit, scratch: p.scratch, cgroups: p.cgroupPaths }));`,
        { mode: 0o644 },
      );
      const r = spawnSync('setpriv', [...AS_NOBODY, process.execPath, path.join(dir, 'host.mjs')], {
        encoding: 'utf8',
        cwd: '/',
        timeout: 30_000,
      });
      expect(r.stderr).toBe('');
      const out = JSON.parse(r.stdout) as {
        warnings: string[];
        plugin: { uid: number; passwd: string; signalHost: string; hostEnviron: string; limits: string[] };
        exit: { code: number };
        scratch: string;
        cgroups: Record<string, string>;
      };
      expect(out.warnings.join('\n')).toMatch(/no writable cgroup/);
      expect(out.warnings.join('\n')).toMatch(/not root/);
      expect(out.plugin.uid).toBe(65534); // the host's own uid: what makes the scopes matter
      expect(out.plugin.passwd).toBe('EACCES');
      expect(out.plugin.signalHost).toBe('EPERM'); // Landlock signal scope (ABI 6): same uid, still denied
      expect(out.plugin.hostEnviron).toBe('EACCES'); // same uid, but no rule for another process's /proc
      expect(out.plugin.limits.join(' ')).toMatch(/Max cpu time 3600 3600/);
      expect(out.plugin.limits.join(' ')).toMatch(/Max data size \d+ \d+/);
      expect(out.cgroups).toEqual({});
      expect(out.exit.code).toBe(0);
    },
  );
});
