import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DEFAULT_MAX_FILE_DESCRIPTORS,
  DEFAULT_MAX_HEAP_BYTES,
  DEFAULT_MAX_THREADS,
  MIN_THREADS_FOR_NODE,
  PluginError,
  type PluginMetrics,
  type SandboxBackend,
  type SandboxConfig,
  type SandboxExit,
  type SandboxedProcess,
  type SandboxSpawnSpec,
  type SandboxSupportReport,
} from '@plugward/types';
import { type BwrapInfo, buildBwrapArgs, bwrapCommand, findBwrap } from './bubblewrap.js';
import {
  type CgroupHandle,
  type CgroupLayout,
  type CgroupLimits,
  cgroupName,
  cleanupStaleCgroups,
  createCgroup,
  detectCgroupLayout,
} from './cgroups.js';
import { MIN_FILE_DESCRIPTORS, RUNTIME_MEMORY_HEADROOM_BYTES } from './config.js';
import { closeInheritedDescriptorsOnExec } from './fd-hygiene.js';
import { mirrorReadOnly, sharedLibrariesOf, type ViewOp } from './filesystem-view.js';
import { findLibSeccomp } from './libseccomp.js';
import { packageReadOnlyPaths } from './package-paths.js';
import { buildSeccompFilter } from './seccomp.js';
import { checkSandboxSupport, userNamespacesAvailable } from './support.js';

/** Options of {@link LinuxSandbox}. */
export interface LinuxSandboxOptions {
  /** Path of bwrap; found on `PATH` when absent. */
  bwrapPath?: string;
  /** Where the child's stdout/stderr go: the host's (`inherit`, the IPC contract's default) or pipes. */
  stdio?: 'inherit' | 'pipe';
  /** Accept `seccomp: { mode: 'disabled' }` (refused otherwise). */
  allowDisabledSeccomp?: boolean;
  /** Accept `cgroup: null` (refused otherwise: no memory, CPU or pids limit). */
  allowNoCgroup?: boolean;
  /**
   * In `strict` seccomp mode with a node command, preload the lockdown module (`--import`) that installs the second,
   * in-process filter denying exec and fork. Default true.
   */
  lockdown?: boolean;
}

/** A process started by {@link LinuxSandbox}. */
export interface LinuxSandboxedProcess extends SandboxedProcess<Duplex> {
  /** The child's stdout when the sandbox was created with `stdio: 'pipe'`. */
  readonly stdout: Readable | null;
  /** The child's stderr when the sandbox was created with `stdio: 'pipe'`. */
  readonly stderr: Readable | null;
  /** Host pids of every process in the plugin's cgroup (empty without a cgroup). */
  pids(): number[];
}

// sh joins the cgroups with its own pid, sets the fd limit, then becomes bwrap: nothing runs outside the cgroup.
const LAUNCH_SCRIPT =
  'ulimit -n "$1" || exit 125; n=$2; shift 2; ' +
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

const ARGS_FD = 4;
const SECCOMP_FD = 5;

function here(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}

function isNodeBinary(command: string): boolean {
  try {
    return (
      /^node(js)?(\d+)?$/.test(path.basename(command)) ||
      fs.realpathSync(command) === fs.realpathSync(process.execPath)
    );
  } catch {
    return false;
  }
}

let lockdownCache: { entry: string; paths: string[] } | undefined;

function lockdownPaths(): { entry: string; paths: string[] } {
  lockdownCache ??= findLockdownPaths();
  return lockdownCache;
}

function findLockdownPaths(): { entry: string; paths: string[] } {
  const dir = here();
  const entry = path.join(dir, 'lockdown.js');
  if (!fs.existsSync(entry)) {
    throw new PluginError(
      'SandboxUnavailable',
      `the lockdown module is missing at ${entry} (build the package)`,
    );
  }
  const pkgRoot = path.dirname(dir);
  const lib = findLibSeccomp();
  if (lib === undefined) {
    throw new PluginError('SandboxUnavailable', 'libseccomp.so.2 not found: apt-get install libseccomp2');
  }
  // koffi keeps its native build in an optional per-platform package; packageReadOnlyPaths follows those too.
  const paths = [
    dir,
    path.join(pkgRoot, 'package.json'),
    lib,
    ...packageReadOnlyPaths(['koffi', '@plugward/types'], pkgRoot),
  ];
  return { entry, paths };
}

function resolveLimits(spec: SandboxSpawnSpec): CgroupLimits {
  const c = spec.config.cgroup ?? {};
  const l = spec.limits;
  return {
    // Never unlimited: absent fields come from the plugin's limits, else from the defaults.
    memoryBytes: c.memoryBytes ?? (l?.maxHeapBytes ?? DEFAULT_MAX_HEAP_BYTES) + RUNTIME_MEMORY_HEADROOM_BYTES,
    swapBytes: c.swapBytes ?? 0,
    cpuQuotaUs: c.cpuQuotaUs,
    cpuPeriodUs: c.cpuPeriodUs,
    pidsMax: c.pidsMax ?? MIN_THREADS_FOR_NODE + (l?.maxThreads ?? DEFAULT_MAX_THREADS),
    ioWeight: c.ioWeight,
  };
}

/**
 * The Linux {@link SandboxBackend}: bubblewrap namespaces, a libseccomp filter, dropped capabilities, a minimal
 * read-only filesystem and one cgroup per process. It never runs a command unsandboxed: anything it can't enforce is a
 * `SandboxUnavailable` (machine) or `InvalidArgument` (config) error.
 *
 * @example
 * ```ts
 * const sandbox = new LinuxSandbox();
 * const proc = await sandbox.spawn({
 *   command: process.execPath, args: ['/opt/plugin/runtime.mjs'], readOnlyPaths: ['/opt/plugin'],
 *   config: defaultSandboxConfig(), label: 'my-plugin',
 * });
 * proc.ipc.write('hello'); // fd 3 of the sandboxed process
 * console.log(await proc.exit);
 * ```
 */
export class LinuxSandbox implements SandboxBackend<Duplex> {
  readonly name = 'linux-bubblewrap';
  readonly #options: LinuxSandboxOptions;
  #bwrap: BwrapInfo | undefined;
  #layout: CgroupLayout | undefined | null = null;

  constructor(options: LinuxSandboxOptions = {}) {
    this.#options = options;
  }

  /** See {@link checkSandboxSupport}. */
  checkSupport(): Promise<SandboxSupportReport> {
    return checkSandboxSupport({ bwrapPath: this.#options.bwrapPath });
  }

  #preflight(config: SandboxConfig): BwrapInfo {
    this.#bwrap ??= findBwrap(this.#options.bwrapPath);
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if ((config.namespaces.user || !root) && !userNamespacesAvailable()) {
      throw new PluginError(
        'SandboxUnavailable',
        'a user namespace is needed (not root, or requested) but the kernel forbids it: sysctl -w kernel.unprivileged_userns_clone=1',
      );
    }
    if (config.seccomp.mode === 'disabled' && this.#options.allowDisabledSeccomp !== true) {
      throw new PluginError(
        'InvalidArgument',
        "seccomp mode 'disabled' needs LinuxSandbox({ allowDisabledSeccomp: true })",
      );
    }
    if (config.cgroup === null && this.#options.allowNoCgroup !== true) {
      throw new PluginError('InvalidArgument', 'cgroup: null needs LinuxSandbox({ allowNoCgroup: true })');
    }
    if (!config.capabilities.noNewPrivs) {
      // bwrap always sets no_new_privs; say so rather than pretend the flag was honoured.
      throw new PluginError(
        'InvalidArgument',
        'capabilities.noNewPrivs must be true: the sandbox always sets it',
      );
    }
    return this.#bwrap;
  }

  #cgroupLayout(): CgroupLayout {
    if (this.#layout === null) this.#layout = detectCgroupLayout();
    if (this.#layout === undefined) {
      throw new PluginError(
        'SandboxUnavailable',
        'no usable cgroup hierarchy under /sys/fs/cgroup (v1 or v2)',
      );
    }
    return this.#layout;
  }

  /** Starts `spec.command` in a new sandbox. The host end of fd 3 is `ipc`. */
  async spawn(spec: SandboxSpawnSpec): Promise<LinuxSandboxedProcess> {
    const { config } = spec;
    const bwrap = this.#preflight(config);
    const fdLimit = spec.limits?.maxFileDescriptors ?? DEFAULT_MAX_FILE_DESCRIPTORS;
    if (!Number.isSafeInteger(fdLimit) || fdLimit < MIN_FILE_DESCRIPTORS) {
      throw new PluginError(
        'InvalidResourceLimits',
        `maxFileDescriptors must be ≥ ${MIN_FILE_DESCRIPTORS}, got ${fdLimit}`,
      );
    }
    let command = spec.command;
    if (!path.isAbsolute(command))
      throw new PluginError('InvalidArgument', `command must be absolute: ${command}`);
    command = fs.realpathSync(command);

    // The read-only view: the command, its libraries, the runtime and plugin paths.
    const ops: ViewOp[] = [];
    const seen = new Set<string>();
    mirrorReadOnly(command, seen, ops);
    for (const lib of sharedLibrariesOf(command)) mirrorReadOnly(lib, seen, ops);
    let args = [...spec.args];
    if (config.seccomp.mode === 'strict' && this.#options.lockdown !== false && isNodeBinary(command)) {
      const lockdown = lockdownPaths();
      for (const p of lockdown.paths) mirrorReadOnly(p, seen, ops);
      args = ['--import', pathToFileURL(lockdown.entry).href, ...args];
    }
    for (const p of spec.readOnlyPaths) {
      if (typeof p !== 'string' || path.resolve('/', p) === '/') {
        throw new PluginError(
          'InvalidArgument',
          'readOnlyPaths must name what the plugin needs, not the whole root',
        );
      }
      mirrorReadOnly(p, seen, ops);
    }

    // With the host network (explicit opt-in) strict still limits sockets, but to unix and IP families.
    const bpf = buildSeccompFilter(config.seccomp, { inetSockets: config.network.mode === 'full' });
    const bwrapArgs = buildBwrapArgs({
      config,
      view: ops,
      seccompFd: bpf === undefined ? undefined : SECCOMP_FD,
    });

    if (config.cgroup !== null) sweepStaleOnce(config.cgroup.parent ?? 'plugward', this.#cgroupLayout());
    const cgroup =
      config.cgroup === null
        ? undefined
        : createCgroup(
            this.#cgroupLayout(),
            config.cgroup.parent ?? 'plugward',
            cgroupName(spec.label),
            resolveLimits(spec),
          );

    // The args and the BPF travel in unlinked private files, read by bwrap from fds 4 and 5.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-sbx-'));
    const fds: number[] = [];
    let child: ChildProcess | undefined;
    try {
      const argsFile = path.join(dir, 'args');
      fs.writeFileSync(argsFile, `${bwrapArgs.join('\0')}\0`, { mode: 0o600 });
      fds.push(fs.openSync(argsFile, 'r'));
      if (bpf !== undefined) {
        const bpfFile = path.join(dir, 'bpf');
        fs.writeFileSync(bpfFile, bpf, { mode: 0o600 });
        fds.push(fs.openSync(bpfFile, 'r'));
      }
      closeInheritedDescriptorsOnExec();
      const out = this.#options.stdio === 'pipe' ? 'pipe' : 'inherit';
      const procs = cgroup?.procsFiles ?? [];
      const launched = spawn(
        '/bin/sh',
        [
          '-c',
          LAUNCH_SCRIPT,
          'plugward-sandbox',
          String(fdLimit),
          String(procs.length),
          ...procs,
          bwrap.path,
          '--args',
          String(ARGS_FD),
          ...bwrapCommand(command, args),
        ],
        { stdio: ['ignore', out, out, 'pipe', ...fds], env: {}, cwd: '/' },
      );
      child = launched;
      await new Promise<void>((resolve, reject) => {
        launched.once('spawn', resolve);
        launched.once('error', reject);
      });
      if (cgroup !== undefined) await waitForJoin(launched, cgroup);
    } catch (cause) {
      child?.kill('SIGKILL');
      await cgroup?.remove().catch(() => undefined);
      throw new PluginError('SandboxError', `could not start bwrap for ${spec.label}`, { cause });
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
    if (child === undefined) throw new PluginError('SandboxError', `bwrap did not start for ${spec.label}`);
    return new BwrapProcess(child, cgroup);
  }
}

/** Resolves when `stream` has ended or closed (at once when there is none or it already has), or after `timeoutMs`. */
function streamEnded(stream: NodeJS.ReadableStream | null, timeoutMs: number): Promise<void> {
  const s = stream as (NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }) | null;
  if (s === null || s.readableEnded === true || s.destroyed === true) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      s.off('end', finish);
      s.off('close', finish);
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    timer.unref();
    s.once('end', finish);
    s.once('close', finish);
  });
}

const swept = new Set<string>();

/** Once per parent and process: remove empty cgroups left by hosts that were SIGKILLed (see cleanupStaleCgroups). */
function sweepStaleOnce(parent: string, layout: CgroupLayout): void {
  if (swept.has(parent)) return;
  swept.add(parent);
  try {
    cleanupStaleCgroups(parent, layout);
  } catch {
    // Best effort: a sweep that fails leaves only empty directories behind.
  }
}

/**
 * Resolves once the launcher's pid is in the cgroup, so `metrics()` and `pids()` see the process from the moment
 * `spawn` returns. The join itself happens in sh before bwrap runs; this only waits to observe it.
 */
async function waitForJoin(child: ChildProcess, cgroup: CgroupHandle): Promise<void> {
  const file = cgroup.procsFiles[0];
  const pid = String(child.pid);
  for (let i = 0; i < 2000 && file !== undefined; i++) {
    if (child.exitCode !== null || child.signalCode !== null) {
      // The launcher exits 125 when it could not join (and then never runs the command). Any other exit means it
      // joined, ran the command and the command already ended — a fast command is not a failure to start.
      if (child.exitCode === 125 || child.signalCode !== null) {
        throw new PluginError(
          'SandboxError',
          `the sandbox launcher exited (${child.signalCode ?? `code ${child.exitCode}`}) before joining its cgroup`,
        );
      }
      return;
    }
    try {
      if (fs.readFileSync(file, 'utf8').split('\n').includes(pid)) return;
    } catch {
      // Read again below.
    }
    await sleep(1);
  }
  throw new PluginError('SandboxError', 'the sandbox launcher did not join its cgroup within 2 s');
}

class BwrapProcess implements LinuxSandboxedProcess {
  readonly pid: number;
  readonly ipc: Duplex;
  readonly cgroupPaths: Readonly<Record<string, string>>;
  readonly exit: Promise<SandboxExit>;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly #child: ChildProcess;
  readonly #cgroup: CgroupHandle | undefined;
  #exited = false;

  constructor(child: ChildProcess, cgroup: CgroupHandle | undefined) {
    this.#child = child;
    this.#cgroup = cgroup;
    this.pid = child.pid ?? -1;
    const ipc = child.stdio[3];
    if (ipc === null || ipc === undefined)
      throw new PluginError('SandboxError', 'the IPC socket was not created');
    this.ipc = ipc as Duplex;
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    this.cgroupPaths = Object.freeze({ ...(cgroup?.paths ?? {}) });
    this.exit = new Promise<SandboxExit>((resolve) => {
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        this.#exited = true;
        const oomKilled = (cgroup?.oomKills() ?? 0) > 0;
        // 'exit' can come before the piped output has been read: settle once stdout/stderr ended (bounded), so a
        // caller that reads them on `exit` sees everything the command wrote.
        const done = (): void => {
          void Promise.all([child.stdout, child.stderr].map((s) => streamEnded(s, 2000))).then(() =>
            resolve({ code, signal, oomKilled }),
          );
        };
        if (cgroup === undefined) done();
        else
          cgroup.remove().then(done, (e: unknown) => {
            // A cgroup that can't be removed is logged, not fatal: the process itself is gone.
            process.emitWarning(`plugward: ${e instanceof Error ? e.message : String(e)}`);
            done();
          });
      };
      // A fast command can be gone before spawn() returns: its 'exit' event has then already been emitted.
      if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
      else child.once('exit', onExit);
    });
  }

  pids(): number[] {
    const file = this.#cgroup?.procsFiles[0];
    if (file === undefined) return [];
    try {
      return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  kill(signal: string = 'SIGKILL'): void {
    if (!Object.hasOwn(os.constants.signals, signal)) {
      throw new PluginError('InvalidArgument', `unknown signal ${JSON.stringify(signal)}`);
    }
    if (this.#exited) return;
    // Signal everything in the cgroup directly (node itself, not only bwrap), then bwrap.
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal as NodeJS.Signals);
      } catch {
        // Gone already.
      }
    }
    this.#child.kill(signal as NodeJS.Signals);
  }

  async metrics(): Promise<PluginMetrics> {
    if (this.#exited) {
      const source =
        this.#cgroup === undefined ? 'procfs' : this.#cgroup.version === 1 ? 'cgroup-v1' : 'cgroup-v2';
      return { timestamp: Date.now(), source, exited: true };
    }
    if (this.#cgroup === undefined) return { timestamp: Date.now(), source: 'procfs', pid: this.pid };
    return { ...this.#cgroup.metrics(), pid: this.pid };
  }
}
