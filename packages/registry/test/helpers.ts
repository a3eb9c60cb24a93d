// Shared fixture helpers of the registry's integration tests: everything real (signed manifests, an encrypted trust
// list, .so files compiled here with the system compiler, the bubblewrap sandbox). Each test file makes its own keys
// and its own temp directory, so files run in parallel without sharing state.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileNativePlugin } from '@plugward/loader';
import { OWNER_FILE } from '@plugward/sandbox-common';
import { generateKeyPair, type KeyPair, toHex, writeSignedManifest } from '@plugward/security';
import { afterAll, beforeAll } from 'vitest';
import {
  checkLandlockSupport,
  checkSandboxSupport,
  LandlockSandbox,
  LinuxSandbox,
  type PluginManifest,
  PluginRegistry,
  type PluginRegistryOptions,
  type PluginRequirements,
  PluginSecurity,
  type ResourceLimits,
  readManifest,
  type SecurityPolicy,
  saveTrustList,
  type TrustedPluginEntry,
  trustEntryFromManifest,
  type UnmountBehavior,
} from '../dist/index.js';

/** Both sandbox backends, for `it.each`: label, its support check, a fresh backend. */
export const SANDBOX_BACKENDS = [
  ['bubblewrap', checkSandboxSupport, () => new LinuxSandbox()],
  ['landlock', checkLandlockSupport, () => new LandlockSandbox()],
] as const;

/** Whether `support()` says the backend runs here; when not, says so on the console (a visible skip). */
export async function backendRunsHere(
  label: string,
  support: (typeof SANDBOX_BACKENDS)[number][1],
): Promise<boolean> {
  const report = await support();
  if (!report.supported)
    console.warn(`!!! SKIPPED ${label}: not supported here (${JSON.stringify(report.features)})`);
  return report.supported;
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A fresh 0700 temp directory, removed by the returned function. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pw-reg-${prefix}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export interface SignOptions {
  name: string;
  version?: string;
  kind: 'js' | 'native';
  limits?: Partial<ResourceLimits>;
  requirements?: PluginRequirements;
  keys?: KeyPair;
}

/** A publisher: a fresh key pair, the artifacts it signed, and the trust entries for them. */
export class Fixtures {
  readonly publisher = generateKeyPair();
  readonly stranger = generateKeyPair();
  readonly entries: TrustedPluginEntry[] = [];
  readonly listKey = randomBytes(32).toString('hex');
  constructor(readonly dir: string) {}

  /** Writes `source` as `file` in `subdir`, signs it; returns the artifact path. */
  async js(file: string, source: string, opts: SignOptions, subdir = ''): Promise<string> {
    const dest = path.join(this.dir, subdir, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    fs.writeFileSync(dest, source);
    await this.sign(dest, opts);
    return dest;
  }

  /** Compiles C `source` into `file` (a .so) in `subdir` and signs it. */
  async native(file: string, source: string, opts: SignOptions, subdir = ''): Promise<string> {
    const dest = path.join(this.dir, subdir, file);
    fs.mkdirSync(path.dirname(dest), { recursive: true });
    const src = path.join(this.dir, `${file}.c`);
    fs.writeFileSync(src, source);
    await compileNativePlugin({ sources: [src], output: dest, flags: ['-pthread'] });
    await this.sign(dest, opts);
    return dest;
  }

  async sign(artifactPath: string, opts: SignOptions): Promise<PluginManifest> {
    return writeSignedManifest(
      {
        artifactPath,
        name: opts.name,
        version: opts.version ?? '1.0.0',
        author: 'registry tests',
        kind: opts.kind,
        ...(opts.limits ? { limits: opts.limits } : {}),
        ...(opts.requirements ? { requirements: opts.requirements } : {}),
      },
      (opts.keys ?? this.publisher).privateKey,
    );
  }

  /** Adds the artifact's current signed manifest to the trust list. */
  async trust(artifactPath: string): Promise<void> {
    this.entries.push(trustEntryFromManifest(await readManifest(artifactPath), this.publisher.publicKey));
  }

  /** Saves the encrypted trust list and returns a PluginSecurity that loaded it. */
  async security(policy: Partial<SecurityPolicy> = {}): Promise<PluginSecurity> {
    const listPath = path.join(this.dir, `trust-${randomBytes(4).toString('hex')}.enc`);
    await saveTrustList(listPath, { listVersion: 1, entries: [...this.entries] }, this.listKey);
    const security = new PluginSecurity(
      { onlyTrusted: true, ...policy, trustListPath: listPath },
      [toHex(this.publisher.publicKey)],
      [],
    );
    await security.loadAndDecryptTrustList(this.listKey);
    return security;
  }
}

/**
 * What a host script run in a child process (`node --input-type=module -e …`) needs to build its `PluginSecurity`
 * from a trust list of `fx`'s publisher: the registry's built entry (`DIST`, to `import()`), the encrypted list
 * (`LIST`), its key (`LIST_KEY`) and the publisher's pinned key (`PUB`).
 */
export function hostScriptEnv(fx: Fixtures, listPath: string): Record<string, string> {
  return {
    DIST: path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/index.js'),
    LIST: listPath,
    LIST_KEY: fx.listKey,
    PUB: toHex(fx.publisher.publicKey),
  };
}

/** How a host script run by {@link runHostScript} ended: its JSON report line (the first starting with `{`), stderr. */
export interface HostRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  report: Record<string, unknown> | undefined;
  stderr: string;
}

/**
 * Runs a host script (`node --input-type=module -e script`) with `env` on top of this process's; it must end on its
 * own within `limitMs` (else it is killed and its stderr says so).
 */
export async function runHostScript(
  script: string,
  env: Record<string, string>,
  limitMs = 30_000,
): Promise<HostRun> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const timer = setTimeout(() => {
    stderr += `\n[test] host still running after ${limitMs} ms: killed`;
    child.kill('SIGKILL');
  }, limitMs);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearTimeout(timer);
  const line = out.split('\n').find((l) => l.startsWith('{'));
  return { code, signal, report: line ? (JSON.parse(line) as Record<string, unknown>) : undefined, stderr };
}

/**
 * Runs the host script file `hostFile` with node as `nobody` (`setpriv`; the test runs as root) and only `env`: a host
 * that is not root, whose sandboxes run as its own uid. Returns its stdout and, when it failed or timed out after
 * `timeoutMs`, what went wrong (signal, message, stderr); `failure` is '' for a run that exited 0.
 */
export function runAsNobody(
  hostFile: string,
  env: Record<string, string>,
  timeoutMs: number,
): { stdout: string; failure: string } {
  try {
    const stdout = execFileSync(
      '/usr/bin/setpriv',
      ['--reuid', 'nobody', '--regid', 'nogroup', '--clear-groups', process.execPath, hostFile],
      { env, encoding: 'utf8', timeout: timeoutMs },
    );
    return { stdout, failure: '' };
  } catch (e) {
    const err = e as { stdout?: string; signal?: string; stderr?: string };
    return {
      stdout: err.stdout ?? '',
      failure: `${err.signal ?? ''} ${(e as Error).message.slice(0, 400)} ${String(err.stderr ?? '').slice(0, 1500)}`,
    };
  }
}

/**
 * Starts a host script (`node --input-type=module -e script`, behind `prefix` — e.g. `setpriv --reuid …`) with `env` on
 * top of this process's, for a test that kills it: `line` resolves to its first output line as JSON (rejects when it
 * ends first, with its stderr), `exited` once it has ended.
 */
export function startHostScript(
  script: string,
  env: Record<string, string>,
  prefix: string[] = [],
): { child: ChildProcess; line: Promise<Record<string, unknown>>; exited: Promise<void> } {
  const [file, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', script];
  const child = spawn(file as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const line = new Promise<Record<string, unknown>>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)) as Record<string, unknown>);
    });
    child.once('exit', (code, sig) =>
      reject(new Error(`host exited ${code ?? sig} before answering: ${err.slice(-400)}`)),
    );
  });
  const exited = new Promise<void>((r) => {
    if (child.exitCode !== null || child.signalCode !== null) r();
    else child.once('exit', () => r());
  });
  return { child, line, exited };
}

/** The sandbox backend, or undefined (with a loud reason) when this machine can't run it. */
export async function sandboxOrReason(): Promise<{ sandbox?: LinuxSandbox; reason?: string }> {
  const support = await checkSandboxSupport();
  if (support.supported) return { sandbox: new LinuxSandbox() };
  const reason = support.features
    .filter((f) => !f.available)
    .map((f) => `${f.feature}: ${f.detail}`)
    .join('; ');
  console.warn(`!!! SKIPPING sandbox-tier tests: the Linux sandbox is not supported here (${reason})`);
  return { reason };
}

/** Unmount behaviour for tests: immediate, no grace period, logged nowhere. */
export const FAST_UNMOUNT: UnmountBehavior = {
  autoUnmount: true,
  gracePeriodMs: 0,
  allowCleanup: true,
  maxCleanupTimeMs: 1000,
  logViolations: false,
  callShutdownHook: true,
};

/** Resolves when `predicate` holds (polled), rejects after `timeoutMs`. */
export async function until(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True while a process with this pid exists (and is not a zombie). */
export function pidAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

export const NO_GRANTS = (read: string[] = [], write: string[] = []): PluginRequirements => ({
  network: { mode: 'isolated' },
  filesystem: { mode: 'none' },
  context: { read, write },
});

/**
 * A temp root of this test file's own, made the process's TMPDIR (where the registry puts private copies) by `use()`
 * until `restore()`, which also removes it: "no private copy left" is then checked against what this file made.
 */
export function ownTmpDir(prefix: string): { dir: string; use: () => void; restore: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pw-${prefix}-tmp-`));
  let saved: string | undefined;
  return {
    dir,
    use: () => {
      saved = process.env.TMPDIR;
      process.env.TMPDIR = dir;
    },
    restore: () => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The entries of `dir` that the host `owner` (its pid, or its tag `<pid>-<start time>`) made: named with it
 * (`…-<owner>-…`), or named at random with the host's tag in their owner file — inside the entry, or beside it as `<entry>.owner`, which counts as an entry of its own (a
 * leftover too). Per-sandbox folders of Landlock and warm folders are named at random so a sandbox can't read the pid.
 */
export function entriesOfHost(dir: string, owner = String(process.pid)): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const ownedBy = (file: string): boolean => {
    try {
      return fs.readFileSync(file, 'utf8').startsWith(`${owner}-`);
    } catch {
      return false;
    }
  };
  return names
    .filter(
      (n) =>
        n.includes(`-${owner}-`) ||
        ownedBy(n.endsWith(OWNER_FILE) ? path.join(dir, n) : path.join(dir, n + OWNER_FILE)) ||
        ownedBy(path.join(dir, n, OWNER_FILE)),
    )
    .map((n) => path.join(dir, n));
}

/**
 * What a plugin left behind: private copies (`plugward-*`) in `tmpRoot`, and the cgroup v1 directories this process
 * made for the plugin `name` (named `<name>-<host pid>-<hex>`). Empty when everything was cleaned up.
 */
export function leftovers(name: string, tmpRoot: string): string[] {
  const out: string[] = [];
  for (const f of fs.readdirSync(tmpRoot)) if (f.startsWith('plugward-')) out.push(path.join(tmpRoot, f));
  for (const controller of ['memory', 'pids', 'cpu', 'cpuacct']) {
    const dir = `/sys/fs/cgroup/${controller}/plugward`;
    if (!fs.existsSync(dir)) continue;
    for (const f of fs.readdirSync(dir))
      if (f.startsWith(`${name}-${process.pid}-`)) out.push(path.join(dir, f));
  }
  return out;
}

/**
 * The memory, pids and CPU limits of the cgroups `pid` is in, read from the kernel (not from what the host meant to
 * set): every one must be a plugward group with a real limit.
 */
export function cgroupLimits(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n')) {
    const [, controllers = '', where = ''] = line.split(':');
    const read = (dir: string, file: string) => {
      try {
        return `${where}:${fs.readFileSync(path.join(dir, file), 'utf8').trim()}`;
      } catch {
        return undefined;
      }
    };
    for (const c of controllers.split(',')) {
      if (c === 'memory') out.memory = read(`/sys/fs/cgroup/memory${where}`, 'memory.limit_in_bytes') ?? '';
      if (c === 'pids') out.pids = read(`/sys/fs/cgroup/pids${where}`, 'pids.max') ?? '';
      if (c === 'cpu') out.cpu = read(`/sys/fs/cgroup/${controllers}${where}`, 'cpu.cfs_quota_us') ?? '';
    }
    if (controllers === '' && where !== '/') {
      const dir = `/sys/fs/cgroup${where}`;
      out.memory ??= read(dir, 'memory.max') ?? '';
      out.pids ??= read(dir, 'pids.max') ?? '';
      out.cpu ??= read(dir, 'cpu.max') ?? '';
    }
  }
  return out;
}

/**
 * C source of a native plugin named `name` whose hook `hook` answers its input upper-cased; `prelude` is top-level C
 * placed before it (a constructor, say).
 */
export function shoutPluginC(opts: {
  name: string;
  hook: string;
  author?: string;
  prelude?: string;
}): string {
  return `
#include <stdio.h>
#include <stdlib.h>
#include "plugward.h"
${opts.prelude ?? ''}
static int32_t p_init(pw_plugin *s, const pw_host_api *h, char *e, size_t c) { (void)s; (void)h; (void)e; (void)c; return PW_OK; }
static int32_t p_reg(pw_plugin *s, const pw_host_api *h, char *e, size_t c) {
  (void)s; if (h->register_hook(h->host_data, ${JSON.stringify(opts.hook)}, 100) != PW_OK) return pw_set_error(e, c, 1, "reg"); return PW_OK;
}
static int32_t p_call(pw_plugin *s, const char *k, const uint8_t *in, size_t n, uint8_t **out, size_t *on, char *e, size_t c) {
  (void)s; (void)k; uint8_t *b = malloc(n ? n : 1); if (!b) return pw_set_error(e, c, PW_ERR_NO_MEMORY, "oom");
  for (size_t i = 0; i < n; i++) b[i] = (in[i] >= 'a' && in[i] <= 'z') ? in[i] - 32 : in[i];
  *out = b; *on = n; return PW_OK;
}
static void p_free(pw_plugin *s, uint8_t *b, size_t l) { (void)s; (void)l; free(b); }
static int32_t p_shut(pw_plugin *s, char *e, size_t c) { (void)s; (void)e; (void)c; return PW_OK; }
static void p_destroy(pw_plugin *s) { (void)s; }
static pw_plugin g_plugin = {
  .abi_version = PLUGWARD_ABI_VERSION, .struct_size = sizeof(pw_plugin), .name = ${JSON.stringify(opts.name)}, .version = "1.0.0",
  .author = ${JSON.stringify(opts.author ?? 'registry tests')}, .description = "", .limits = {0}, .state = NULL, .init = p_init,
  .register_hooks = p_reg, .call_hook = p_call, .free_buffer = p_free, .shutdown = p_shut, .destroy = p_destroy,
};
PW_EXPORT pw_plugin *create_plugin(void) { return &g_plugin; }
`;
}

/** Every descendant of process `root` (by parent pid), read from /proc. */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(p)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const c of children.get(pid) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(root);
  return out;
}

/**
 * Uid lease files in `lockDir` held by this process: a lease names its host as `<pid>-<start time>` (the host tag) or,
 * left by an earlier version, `<pid>`.
 */
export function ownUidLeases(lockDir = '/run/plugward/uids'): string[] {
  const out: string[] = [];
  let names: string[] = [];
  try {
    names = fs.readdirSync(lockDir);
  } catch {
    return out;
  }
  for (const n of names) {
    try {
      const holder = fs.readFileSync(path.join(lockDir, n), 'utf8').trim().split(/[\s-]/)[0];
      if (holder === String(process.pid)) out.push(path.join(lockDir, n));
    } catch {
      // released meanwhile
    }
  }
  return out;
}

/** CPU time (ms) the calling thread has used so far, from `/proc/thread-self/stat` (10 ms ticks). */
function threadCpuMs(): number {
  const stat = fs.readFileSync('/proc/thread-self/stat', 'utf8');
  // Fields after the command (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * Watches this thread's event loop: the longest turn between two 1 ms ticks, in wall time and in the CPU this thread
 * spent during it. A flood that keeps the host busy shows in both; a host only waiting for a core (the machine loaded
 * by other tests) shows in wall time alone — so a bound on how long a plugin can keep the host's loop busy is checked
 * on the CPU figure, which load does not inflate.
 */
export function watchLoopTurns(): { stop: () => { longestWallMs: number; longestBusyMs: number } } {
  let last = performance.now();
  let lastCpu = threadCpuMs();
  let longestWallMs = 0;
  let longestBusyMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = threadCpuMs();
    longestWallMs = Math.max(longestWallMs, now - last);
    longestBusyMs = Math.max(longestBusyMs, Math.min(cpu - lastCpu, now - last + 10));
    last = now;
    lastCpu = cpu;
  }, 1);
  return {
    stop: () => {
      clearInterval(timer);
      return { longestWallMs, longestBusyMs };
    },
  };
}

/** A trusted plugin the audit tests call to show the host still serves: `audit.health` answers `ok:<input>`. */
export const HEALTH_PROBE = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

/**
 * The host's CPU (ms, whole process) over `ms` of wall time while it calls {@link HEALTH_PROBE} every 10 ms, each call
 * checked: what a flood costs the host, to compare with the same window idle.
 */
export async function hostCpuWhileServing(
  registry: { hooks: { execute(hook: string, data: Uint8Array): Promise<Uint8Array> } },
  ms: number,
): Promise<number> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    const answer = dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')));
    if (answer !== 'ok:x') throw new Error(`the health probe answered ${answer}`);
    await new Promise((res) => setTimeout(res, 10));
  }
  const cpu = process.cpuUsage(cpu0);
  return (cpu.user + cpu.system) / 1000;
}

/** CPU time (ms, at 10 ms ticks) of process `root` and its descendants so far, from /proc (gone processes count 0). */
export function cpuOfTree(root: number): number {
  let ticks = 0;
  for (const p of [root, ...descendants(root)]) {
    try {
      const f = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const x = f.slice(f.lastIndexOf(')') + 2).split(' ');
      ticks += Number(x[11]) + Number(x[12]);
    } catch {
      // gone
    }
  }
  return ticks * 10;
}

/** This process's read() calls and bytes read so far (`syscr`, `rchar` of /proc/self/io: sockets and pipes included). */
export function hostIo(): { reads: number; bytes: number } {
  const io = fs.readFileSync('/proc/self/io', 'utf8');
  return {
    reads: Number(/syscr: (\d+)/.exec(io)?.[1]),
    bytes: Number(/rchar: (\d+)/.exec(io)?.[1]),
  };
}

/** What {@link measureFlood} saw: the host over a window of serving a trusted probe, then over one of the flood. */
/** What {@link measureFlood} needs of an attacker test's plugins; filled in by {@link floodScene}'s `beforeAll`. */
export interface FloodScene {
  /** The untrusted plugin's name. */
  name: string;
  security: PluginSecurity;
  /** The trusted HEALTH_PROBE's artifact. */
  probe: string;
  /** The untrusted plugin's artifact: its first variant. */
  flooder: string;
  /** Each variant's artifact, by the key it was given under. */
  variants: Record<string, string>;
}

/**
 * The set-up of an attacker test measured with {@link measureFlood}: a temporary folder (`prefix`), the trusted
 * {@link HEALTH_PROBE}, the untrusted plugin `name` — one artifact per entry of `sources` (variant → source), signed
 * by a stranger and asking for no grants — and a `PluginSecurity` that admits untrusted plugins. Registers the
 * `beforeAll` that makes them and the `afterAll` that removes the folder; the scene returned is filled in by then.
 */
export function floodScene(prefix: string, name: string, sources: Record<string, string>): FloodScene {
  const tmp = tempDir(prefix);
  const fx = new Fixtures(tmp.dir);
  const scene: FloodScene = {
    name,
    security: undefined as unknown as PluginSecurity,
    probe: '',
    flooder: '',
    variants: {},
  };
  beforeAll(async () => {
    scene.probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
    await fx.trust(scene.probe);
    for (const [key, source] of Object.entries(sources)) {
      scene.variants[key] = await fx.js(`${key}.mjs`, source, {
        name,
        kind: 'js',
        keys: fx.stranger,
        requirements: NO_GRANTS(),
      });
    }
    scene.flooder = Object.values(scene.variants)[0] ?? '';
    scene.security = await fx.security({ onlyTrusted: false });
  });
  afterAll(() => tmp.remove());
  return scene;
}

export interface FloodReading {
  /** Host CPU (ms) over the window before the flooder was loaded, and over the flood's. */
  idleCpu: number;
  floodCpu: number;
  /** Host read() calls over the same two windows, and the bytes it read during the flood. */
  idleReads: number;
  floodReads: number;
  floodBytes: number;
  /** The flooder's own CPU (ms, its process tree) during the flood's window. */
  pluginCpu: number;
  /** The flooder was still Active at the window's end, and its violations then. */
  active: boolean;
  violations: number;
}

/**
 * The attacker tests' scene of a plugin that makes the host work at its own pace: a registry on `sandbox` serving the
 * trusted `HEALTH_PROBE` in process, its host measured over `windowMs` idle, then the untrusted `flooder` (named
 * `name`) loaded and, after `settleMs`, measured over `windowMs` again; then the registry closed and the flooder's
 * process waited for (5 s). The test asserts on the reading.
 */
export async function measureFlood(options: {
  security: PluginSecurity;
  sandbox: NonNullable<PluginRegistryOptions['sandbox']>;
  probe: string;
  flooder: string;
  name: string;
  settleMs: number;
  windowMs?: number;
}): Promise<FloodReading> {
  const windowMs = options.windowMs ?? 3000;
  const r = new PluginRegistry({
    security: options.security,
    sandbox: options.sandbox,
    policy: { onlyTrusted: false },
    tierOverrides: { 'audit-probe': 'in-process' },
    log: () => {},
  });
  let pid: number | undefined;
  let reading: FloodReading;
  try {
    await r.loadPlugin(options.probe, 'trusted');
    const i0 = hostIo();
    const idleCpu = await hostCpuWhileServing(r, windowMs);
    const idleReads = hostIo().reads - i0.reads;
    await r.loadPlugin(options.flooder, 'untrusted');
    pid = r.getPluginInfo(options.name)?.pid;
    await new Promise((res) => setTimeout(res, options.settleMs));
    const p0 = pid === undefined ? 0 : cpuOfTree(pid);
    const f0 = hostIo();
    const floodCpu = await hostCpuWhileServing(r, windowMs);
    const f1 = hostIo();
    reading = {
      idleCpu,
      floodCpu,
      idleReads,
      floodReads: f1.reads - f0.reads,
      floodBytes: f1.bytes - f0.bytes,
      pluginCpu: pid === undefined ? 0 : cpuOfTree(pid) - p0,
      active: r.getPluginInfo(options.name)?.status === 'Active',
      violations: r.getViolationCount(options.name),
    };
  } finally {
    await r.close();
  }
  if (pid !== undefined) await until(() => !pidAlive(pid as number), 5000, `${options.name} to be gone`);
  return reading;
}

/** What {@link attackerScene} sets up (filled in by its `beforeAll`). */
export interface AttackerScene {
  /** The scene's temp folder (0755: a sandbox's leased uid may have to reach what is granted inside it). */
  dir: string;
  fx: Fixtures;
  /** This file's own TMPDIR: every private copy the registry makes lands here, so "none left" is checkable. */
  ownTmp: string;
  /** The sandbox backend, or undefined with `reason`. */
  sandbox?: LinuxSandbox;
  reason?: string;
  /** The trusted HEALTH_PROBE's artifact (hook `audit.health`). */
  probe: string;
  /** Admits untrusted plugins (`onlyTrusted: false`); the probe is trusted. */
  security: PluginSecurity;
  /** A registry on the scene's security and sandbox that admits untrusted plugins, with the host's `grants`. */
  registry(grants: PluginRegistryOptions['grants']): PluginRegistry;
}

/**
 * The set-up of an attacker test that signs plugins of its own (untrusted ones with `fx.stranger`): a temp folder,
 * the file's own TMPDIR, the sandbox, the trusted HEALTH_PROBE, and the security, loaded after `build` made the
 * file's plugins and whatever they need on disk. Removed after the file.
 */
export function attackerScene(
  prefix: string,
  build: (fx: Fixtures, dir: string) => Promise<void>,
): AttackerScene {
  const tmp = tempDir(prefix);
  const scene: AttackerScene = {
    dir: tmp.dir,
    fx: new Fixtures(tmp.dir),
    ownTmp: fs.mkdtempSync(path.join(os.tmpdir(), `pw-${prefix}-tmp-`)),
    probe: '',
    security: undefined as unknown as PluginSecurity,
    registry: (grants) =>
      new PluginRegistry({
        security: scene.security,
        sandbox: scene.sandbox,
        policy: { onlyTrusted: false },
        grants,
        log: () => {},
      }),
  };
  beforeAll(async () => {
    const found = await sandboxOrReason();
    scene.sandbox = found.sandbox;
    scene.reason = found.reason;
    process.env.TMPDIR = scene.ownTmp;
    fs.chmodSync(tmp.dir, 0o755);
    await build(scene.fx, tmp.dir);
    scene.probe = await scene.fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
    await scene.fx.trust(scene.probe);
    scene.security = await scene.fx.security({ onlyTrusted: false });
  });
  afterAll(() => {
    tmp.remove();
    fs.rmSync(scene.ownTmp, { recursive: true, force: true });
  });
  return scene;
}
