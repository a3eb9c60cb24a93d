import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  type CgroupHandle,
  type CgroupLayout,
  cgroupName,
  createCgroup,
  detectCgroupLayout,
} from '@plugward/limits';
import {
  allocateUid,
  childGone,
  DEFAULT_UID_LOCK_DIR,
  DEFAULT_UID_RANGE,
  guardSandboxLifetime,
  isOwnDirectory,
  isSystemPath,
  type MovedPath,
  makeUntaggedSandboxDir,
  readOwnSmallFile,
  releaseLeaseWhenUnused,
  relocate,
  type SandboxCleanupInfo,
  SandboxedChild,
  type SandboxedChildOptions,
  sandboxCgroupLimits,
  sandboxDirBase,
  sharedLibrariesOf,
  sweepStaleSandboxDirs as sweepStaleSandboxDirsOf,
  sweepStaleSandboxDirsOnce,
  type UidLease,
  type UidRange,
  unmountIfMounted,
  validateCpus,
  validateUidRange,
} from '@plugward/sandbox-common';
import {
  DEFAULT_RESOURCE_LIMITS,
  PluginError,
  type PluginMetrics,
  parseProcStat,
  procCpuTimeMs,
  type SandboxBackend,
  type SandboxedProcess,
  type SandboxSpawnSpec,
  type SandboxSupportReport,
  withRuntimeAllowance,
} from '@plugward/types';
import { MAX_KNOWN_LANDLOCK_ABI } from './landlock-abi.js';
import { buildLaunchPlan } from './plan.js';
import { FIRST_RULE_FD, openRuleHandles } from './rule-handles.js';
import { runtimeStore } from './runtime-store.js';
import {
  findNoexecParent,
  mountScratch,
  type ScratchKind,
  unmountScratch,
  unmountScratchAsync,
} from './scratch.js';
import { checkLandlockSupport, detectLandlockAbi, unavailableError } from './support.js';

/** Default scratch size: 16 MiB. */
export const DEFAULT_SCRATCH_BYTES = 16 * 1024 * 1024;

/** Options of {@link LandlockSandbox}. */
export interface LandlockSandboxOptions {
  /** Pipes the host reads (`pipe`, default) or the host's own stdout/stderr (`inherit`: unsafe for untrusted code). */
  stdio?: 'inherit' | 'pipe';
  /** Root hosts: uids leased per sandbox (shared with @plugward/sandbox-linux through the same lock directory). */
  uidRange?: UidRange;
  /** Root hosts: where uid leases are kept (default `/run/plugward/uids`, the one sandbox-linux uses). */
  uidLockDir?: string;
  /** CPU share when the config gives no quota, in CPUs (default 1). */
  cpus?: number;
  /**
   * `auto` (default): a cgroup when a writable hierarchy exists, else rlimits only (reported by `checkSupport()`);
   * `required`: refuse to start without one.
   */
  cgroup?: 'auto' | 'required';
  /** Accept `cgroup: null` in the config (refused otherwise). */
  allowNoCgroup?: boolean;
  /** Accept `seccomp: { mode: 'disabled' }` (refused otherwise). */
  allowDisabledSeccomp?: boolean;
  /**
   * Accept a scratch directory that is neither noexec nor sized as a whole, when the host can't mount a tmpfs and no
   * noexec mount exists (refused otherwise). Files are still capped by RLIMIT_FSIZE and `execve` from it is denied.
   */
  allowExecutableScratch?: boolean;
  /** Without a CPU cgroup: total CPU seconds a plugin process may use (RLIMIT_CPU; default 3600). */
  cpuSecondsWithoutCgroup?: number;
}

/** A process started by {@link LandlockSandbox}. */
export interface LandlockSandboxedProcess extends SandboxedProcess<Duplex> {
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  readonly uid: number;
  /** How its scratch directory (`TMPDIR`) is backed. */
  readonly scratch: ScratchKind;
  /** The scratch directory. */
  readonly scratchDir: string;
}

/** Where root hosts keep per-sandbox directories (the leased uid traverses it, never lists it). */
export const LANDLOCK_SANDBOX_DIR = '/run/plugward-ll';
/**
 * The name of a per-sandbox directory: `plugward-ll-<random>` (the host's tag in its `.owner` file; older hosts named
 * them `plugward-ll-<host tag>-<random>`).
 */
const DIR_PREFIX = 'plugward-ll-';
/** In a per-sandbox directory: the path of its scratch directory on a noexec mount elsewhere, when it has one. */
const EXTERNAL_SCRATCH_FILE = 'external-scratch';
const COPY_LIMIT_BYTES = 64 * 1024 * 1024;

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function here(): string {
  return path.dirname(fileURLToPath(import.meta.url));
}

const realLibraries = new Map<string, readonly string[]>();

/** {@link sharedLibrariesOf} by real path (Landlock rules name the files themselves), cached per binary. */
function realLibrariesOf(binary: string): readonly string[] {
  let libs = realLibraries.get(binary);
  if (libs === undefined) {
    libs = sharedLibrariesOf(binary).map((l) => fs.realpathSync(l));
    realLibraries.set(binary, libs);
  }
  return libs;
}

/** Public files Node reads at start that must not answer EACCES: OpenSSL's config, ld.so's cache. */
export const SYSTEM_FILES: readonly string[] = [
  '/etc/ld.so.cache',
  '/etc/ssl/openssl.cnf',
  '/usr/lib/ssl/openssl.cnf',
  '/usr/local/ssl/openssl.cnf',
];

function systemFiles(): string[] {
  const out = new Set<string>();
  for (const f of SYSTEM_FILES) {
    try {
      out.add(f);
      out.add(fs.realpathSync(f));
    } catch {
      out.delete(f);
    }
  }
  return [...out];
}

/** Whether a uid that owns nothing could read `p` (every ancestor o+x, the path itself o+r). */
function othersCanRead(p: string): boolean {
  let real: string;
  try {
    real = fs.realpathSync(p);
  } catch {
    return false;
  }
  for (let dir = path.dirname(real); ; dir = path.dirname(dir)) {
    if ((fs.statSync(dir).mode & 0o001) === 0) return false;
    if (path.dirname(dir) === dir) break;
  }
  const walk = (f: string, depth: number): boolean => {
    const st = fs.lstatSync(f);
    if (st.isSymbolicLink()) return true;
    if (!st.isDirectory()) return (st.mode & 0o004) !== 0;
    if ((st.mode & 0o005) !== 0o005) return false;
    // A private file deep inside counts too (the plugin's copy is a 0500 dir of 0400 files).
    return depth > 3 || fs.readdirSync(f).every((e) => walk(path.join(f, e), depth + 1));
  };
  return walk(real, 0);
}

/**
 * Copies `src` (a file or a tree of files and directories) under `dest`, readable by group `gid` only (root hosts), or
 * by this user only (`gid` undefined).
 */
function copyForGroup(src: string, dest: string, gid: number | undefined): void {
  const own = (p: string, mode: number): void => {
    if (gid === undefined) fs.chmodSync(p, mode & 0o700);
    else {
      fs.lchownSync(p, 0, gid);
      if (!fs.lstatSync(p).isSymbolicLink()) fs.chmodSync(p, mode);
    }
  };
  let bytes = 0;
  const copy = (from: string, to: string): void => {
    const st = fs.lstatSync(from);
    if (st.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(from), to);
      if (gid !== undefined) fs.lchownSync(to, 0, gid);
    } else if (st.isDirectory()) {
      fs.mkdirSync(to, { mode: 0o750 });
      own(to, 0o750);
      for (const e of fs.readdirSync(from)) copy(path.join(from, e), path.join(to, e));
    } else if (st.isFile()) {
      bytes += st.size;
      if (bytes > COPY_LIMIT_BYTES) {
        throw new PluginError(
          'InvalidArgument',
          `${src} is over ${COPY_LIMIT_BYTES} bytes to copy for the sandbox`,
        );
      }
      fs.copyFileSync(from, to);
      own(to, 0o440);
    } else {
      throw new PluginError('InvalidArgument', `${from} is not a regular file or directory`);
    }
  };
  copy(src, dest);
}

/**
 * A {@link SandboxBackend} without namespaces, for hosts where bubblewrap can't create them (containers under
 * Docker's default seccomp profile): Landlock filesystem and TCP rules and scopes, a libseccomp filter (no exec, no
 * fork, no IP sockets unless the network is `full`), rlimits, no_new_privs, its own session, a leased uid on root
 * hosts, a cgroup when one is writable. A launcher applies all of it on its main thread and `execveat`s node, so
 * every thread of the plugin process starts confined. Anything it can't enforce is a coded error, never a weaker run.
 *
 * @example
 * ```ts
 * const sandbox = new LandlockSandbox();
 * const proc = await sandbox.spawn({
 *   command: process.execPath, args: ['/opt/plugin/runtime.mjs'], readOnlyPaths: ['/opt/plugin'],
 *   config: defaultLandlockConfig(), label: 'my-plugin',
 * });
 * ```
 */
export class LandlockSandbox implements SandboxBackend<Duplex> {
  readonly name = 'linux-landlock';
  readonly #options: LandlockSandboxOptions;
  #layout: CgroupLayout | undefined | null = null;

  constructor(options: LandlockSandboxOptions = {}) {
    if (options.uidRange !== undefined) validateUidRange(options.uidRange);
    validateCpus(options.cpus ?? 1);
    const cpuSeconds = options.cpuSecondsWithoutCgroup ?? 3600;
    if (!Number.isSafeInteger(cpuSeconds) || cpuSeconds < 1) {
      throw new PluginError(
        'InvalidArgument',
        `cpuSecondsWithoutCgroup must be a positive integer, got ${cpuSeconds}`,
      );
    }
    this.#options = options;
  }

  /** See {@link checkLandlockSupport}. */
  checkSupport(): Promise<SandboxSupportReport> {
    return checkLandlockSupport();
  }

  #cgroupLayout(): CgroupLayout | undefined {
    if (this.#layout === null) this.#layout = detectCgroupLayout();
    return this.#layout;
  }

  /** Starts `spec.command` (node) confined. The host end of fd 3 is `ipc`. */
  async spawn(spec: SandboxSpawnSpec): Promise<LandlockSandboxedProcess> {
    const { config } = spec;
    const { abi, reason } = detectLandlockAbi();
    if (abi === 0)
      throw new PluginError('SandboxUnavailable', `Landlock is unavailable: ${reason ?? 'unknown'}`);
    const root = isRoot();
    if (!root && abi < 6) {
      throw unavailableError(await checkLandlockSupport());
    }
    if (config.cgroup === null && this.#options.allowNoCgroup !== true) {
      throw new PluginError('InvalidArgument', 'cgroup: null needs LandlockSandbox({ allowNoCgroup: true })');
    }
    if (!path.isAbsolute(spec.command)) {
      throw new PluginError('InvalidArgument', `command must be absolute: ${spec.command}`);
    }
    const command = fs.realpathSync(spec.command);
    const libraries = realLibrariesOf(command);
    if (root) {
      for (const p of [command, ...libraries]) {
        if (!othersCanRead(p)) {
          throw new PluginError(
            'SandboxUnavailable',
            `${p} is not readable by the sandbox's unprivileged uid`,
          );
        }
      }
    }
    // The plugin's own budget plus the Node runtime's allowance (RUNTIME_ALLOWANCE), as the registry's monitor judges it.
    const fdLimit = withRuntimeAllowance(spec.limits ?? DEFAULT_RESOURCE_LIMITS).maxFileDescriptors;
    const cgLimits = sandboxCgroupLimits(spec, this.#options.cpus ?? 1);
    const { memoryBytes, pidsMax } = cgLimits;
    for (const p of spec.readOnlyPaths) {
      if (typeof p !== 'string' || !path.isAbsolute(p) || path.resolve('/', p) === '/') {
        throw new PluginError(
          'InvalidArgument',
          'readOnlyPaths must be absolute and name what the plugin needs',
        );
      }
    }

    const base = sandboxDirBase(root, LANDLOCK_SANDBOX_DIR);
    sweepStaleSandboxDirsOnce(base, DIR_PREFIX, unmountLeftScratch);
    const noexecParent = findNoexecParent();
    if (noexecParent !== undefined) sweepStaleSandboxDirsOnce(noexecParent, DIR_PREFIX, unmountLeftScratch);
    // Its name is seen inside (the scratch is TMPDIR, the plugin's copy is in argv): random, the host's tag inside.
    const dir = makeUntaggedSandboxDir(base, DIR_PREFIX, 0o711);
    const scratchDir = path.join(dir, 'scratch');
    let lease: UidLease | undefined;
    let cgroup: CgroupHandle | undefined;
    let mounted = false;
    let scratchKind: ScratchKind = 'plain-dir';
    let child: ChildProcess | undefined;
    let planFd: number | undefined;
    let ruleFds: number[] = [];
    let externalScratch: string | undefined;
    let forget: (() => void) | undefined;
    const removeFiles = (): void => {
      if (mounted) unmountScratch(scratchDir);
      mounted = false;
      if (externalScratch !== undefined) fs.rmSync(externalScratch, { recursive: true, force: true });
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      // The cgroup before the lease: the first cgroup of this host sweeps dead hosts' groups, killing whatever still
      // ran in them, so the uids those processes held are free when the lease is drawn.
      const layout = config.cgroup === null ? undefined : this.#cgroupLayout();
      if (config.cgroup !== null && layout !== undefined) {
        try {
          cgroup = createCgroup(layout, config.cgroup.parent ?? 'plugward', cgroupName(spec.label), cgLimits);
        } catch (cause) {
          if (this.#options.cgroup === 'required') throw cause;
        }
      }
      if (cgroup === undefined && this.#options.cgroup === 'required' && config.cgroup !== null) {
        throw new PluginError(
          'SandboxUnavailable',
          'no writable cgroup hierarchy and LandlockSandbox({ cgroup: "required" })',
        );
      }
      if (root) {
        fs.chmodSync(dir, 0o711);
        lease = allocateUid(
          this.#options.uidRange ?? DEFAULT_UID_RANGE,
          this.#options.uidLockDir ?? DEFAULT_UID_LOCK_DIR,
        );
      }
      const uid = lease?.uid ?? process.getuid?.() ?? -1;
      // Scratch: a private sized noexec tmpfs where the host may mount, else a directory on a noexec mount.
      fs.mkdirSync(scratchDir, { mode: 0o700 });
      let scratch = scratchDir;
      if (root && mountScratch(scratchDir, config.filesystem.tmpfsBytes, uid)) {
        mounted = true;
        scratchKind = 'tmpfs';
      } else {
        const parent = noexecParent;
        if (parent !== undefined) {
          externalScratch = path.join(parent, `${DIR_PREFIX}${randomBytes(12).toString('hex')}`);
          // Recorded where the plugin can't write, so the sweep of this sandbox's folder removes it too.
          fs.writeFileSync(path.join(dir, EXTERNAL_SCRATCH_FILE), externalScratch, { mode: 0o600 });
          fs.mkdirSync(externalScratch, { mode: 0o700 });
          scratch = externalScratch;
          scratchKind = 'noexec-dir';
        } else if (this.#options.allowExecutableScratch !== true) {
          throw new PluginError(
            'SandboxUnavailable',
            'no noexec scratch: the host can not mount a tmpfs and no noexec mount (/dev/shm, /tmp) exists; ' +
              'pass LandlockSandbox({ allowExecutableScratch: true }) to accept a plain directory',
          );
        }
        if (root) fs.chownSync(scratch, uid, uid);
        fs.chmodSync(scratch, 0o700);
      }
      // Paths the sandbox's uid can't read (the plugin's private 0500 copy) are copied into this sandbox's folder,
      // where only its group can read them (root hosts) or only this user (others). The runtime and its packages go
      // to the shared runtime store: at neutral paths either way, so no argument names the host's layout.
      const moved: MovedPath[] = [];
      const readOnly: string[] = [];
      const shared: string[] = [];
      for (const p of spec.readOnlyPaths) {
        const real = fs.realpathSync(p);
        if (isSystemPath(real)) readOnly.push(real);
        else if (!othersCanRead(p)) {
          const roDir = path.join(dir, 'ro');
          if (!fs.existsSync(roDir)) {
            fs.mkdirSync(roDir, { mode: 0o750 });
            if (root) fs.chownSync(roDir, 0, uid);
          }
          const target = path.join(roDir, String(readOnly.length));
          copyForGroup(real, target, root ? uid : undefined);
          moved.push([path.normalize(p), target]);
          if (real !== path.normalize(p)) moved.push([real, target]);
          readOnly.push(target);
        } else shared.push(p);
      }
      if (shared.length > 0) {
        const store = runtimeStore(shared, base);
        moved.push(...store.moved);
        readOnly.push(store.root);
      }
      moved.sort((a, b) => b[0].length - a[0].length);
      const plan = buildLaunchPlan({
        abi: Math.min(abi, MAX_KNOWN_LANDLOCK_ABI),
        config,
        command,
        libraries,
        readOnlyPaths: readOnly,
        systemFiles: systemFiles(),
        scratchDir: scratch,
        args: spec.args.map((a) => relocate(a, moved)),
        fdLimit,
        dataLimitBytes: cgroup?.paths.memory === undefined ? memoryBytes : undefined,
        uid: lease?.uid,
        pidsMax,
        cpuSeconds: cgroup === undefined ? (this.#options.cpuSecondsWithoutCgroup ?? 3600) : undefined,
        cgroupProcs: cgroup?.procsFiles ?? [],
        hostPid: process.pid,
        allowDisabledSeccomp: this.#options.allowDisabledSeccomp === true,
      });
      // The handles sit below the command's exec fd (the NOFILE limit + 1), which the launcher claims exactly.
      if (FIRST_RULE_FD + plan.pathRules.length > plan.execFd) {
        throw new PluginError(
          'InvalidResourceLimits',
          `${plan.pathRules.length} Landlock rules need maxFileDescriptors ≥ ${FIRST_RULE_FD + plan.pathRules.length}`,
        );
      }
      ruleFds = openRuleHandles(
        plan.pathRules,
        config.filesystem.binds.map((b) => b.source),
      );
      // The plan travels in an unlinked private file on fd 4; fd 5 reports the exec (EOF) or the failure; the rules'
      // handles follow from fd 6.
      const planFile = path.join(dir, 'plan.json');
      fs.writeFileSync(planFile, JSON.stringify(plan), { mode: 0o600 });
      planFd = fs.openSync(planFile, 'r');
      fs.unlinkSync(planFile);
      const out = this.#options.stdio === 'inherit' ? 'inherit' : 'pipe';
      const launched = spawn(process.execPath, [path.join(here(), 'launcher.cjs')], {
        stdio: ['ignore', out, out, 'pipe', planFd, 'pipe', ...ruleFds],
        env: {},
        cwd: '/',
        // Its own session and process group: no controlling terminal, no signals from the host's group.
        detached: true,
      });
      child = launched;
      // From here on a host that exits normally kills the sandbox, starting or not, before it gives its uid back.
      forget = guardSandboxLifetime({ child: launched, cgroup, lease, removeFiles });
      await new Promise<void>((resolve, reject) => {
        launched.once('spawn', resolve);
        launched.once('error', reject);
      });
      fs.closeSync(planFd);
      planFd = undefined;
      for (const fd of ruleFds.splice(0)) fs.closeSync(fd);
      const failure = await execStatus(launched);
      if (failure !== '') throw new PluginError('SandboxError', failure.trim());
    } catch (cause) {
      if (planFd !== undefined) fs.closeSync(planFd);
      for (const fd of ruleFds.splice(0)) fs.closeSync(fd);
      child?.kill('SIGKILL');
      const removed = await cgroup?.remove().then(
        () => true,
        () => false,
      );
      if (child !== undefined) await childGone(child);
      removeFiles();
      releaseLeaseWhenUnused(lease, removed === true);
      forget?.();
      if (cause instanceof PluginError && cause.code !== 'SandboxError') throw cause;
      throw new PluginError('SandboxError', `could not start the Landlock sandbox for ${spec.label}`, {
        cause,
      });
    }
    const uid = lease?.uid ?? process.getuid?.() ?? -1;
    // After the sandbox's exit: the same, off the event loop (a detach and each removed directory take the kernel
    // milliseconds under load), the lease last — nothing of the uid's sandbox is left when another may get the uid.
    const cleanupAfterExit = async ({ contained }: SandboxCleanupInfo): Promise<void> => {
      try {
        if (mounted) await unmountScratchAsync(scratchDir);
        mounted = false;
        const dirs = externalScratch === undefined ? [dir] : [externalScratch, dir];
        await Promise.all(dirs.map((d) => fs.promises.rm(d, { recursive: true, force: true })));
      } finally {
        forget?.();
        releaseLeaseWhenUnused(lease, contained);
      }
    };
    return new LandlockProcess(
      {
        child,
        cgroup,
        uid,
        cleanup: cleanupAfterExit,
        metricsWithoutCgroup: procMetrics,
      },
      scratchKind,
      externalScratch ?? scratchDir,
    );
  }
}

/** Reads the launcher's status fd to its end: '' once the exec closed it, else the failure line. */
function execStatus(child: ChildProcess): Promise<string> {
  const status = (child.stdio as readonly unknown[])[5] as Readable | null | undefined;
  if (status === null || status === undefined) return Promise.resolve('the status pipe was not created');
  return new Promise((resolve) => {
    let text = '';
    status.setEncoding('utf8');
    status.on('data', (d: string) => {
      if (text.length < 4096) text += d;
    });
    const done = (): void => resolve(text);
    status.once('end', done);
    status.once('close', done);
    status.once('error', done);
  });
}

/**
 * A scratch tmpfs a killed host left mounted in its sandbox directory `dir` is unmounted before the removal; a scratch
 * directory it had on a noexec mount elsewhere is removed.
 */
function unmountLeftScratch(dir: string): void {
  unmountIfMounted(path.join(dir, 'scratch'));
  // Written by the host (the sandbox can't write its directory); still read as a file of ours only, and what it names
  // is removed only when it is one of this user's own sandbox folders (never through a link, never another user's).
  const external = readOwnSmallFile(path.join(dir, EXTERNAL_SCRATCH_FILE));
  if (
    external !== undefined &&
    path.isAbsolute(external) &&
    path.normalize(external) === external &&
    path.basename(external).startsWith(DIR_PREFIX) &&
    isOwnDirectory(external)
  ) {
    fs.rmSync(external, { recursive: true, force: true });
  }
}

/**
 * Removes the sandbox directories of hosts that were SIGKILLed (`plugward-ll-<pid>-…`,
 * their plugins died with them through PR_SET_PDEATHSIG), unmounting a scratch tmpfs left mounted first.
 */
export function sweepStaleSandboxDirs(base: string): string[] {
  return sweepStaleSandboxDirsOf(base, DIR_PREFIX, unmountLeftScratch);
}

function procMetrics(pid: number): PluginMetrics {
  const m: PluginMetrics = { timestamp: Date.now(), source: 'procfs', pid };
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    const threads = /^Threads:\s+(\d+)/m.exec(status)?.[1];
    if (rss !== undefined) m.memoryBytes = Number(rss) * 1024;
    if (threads !== undefined) m.threads = Number(threads);
    m.cpuTimeMs = procCpuTimeMs(parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'latin1')));
    m.fileDescriptors = fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    // Gone meanwhile.
  }
  return m;
}

class LandlockProcess extends SandboxedChild implements LandlockSandboxedProcess {
  readonly scratch: ScratchKind;
  readonly scratchDir: string;

  constructor(options: SandboxedChildOptions, scratch: ScratchKind, scratchDir: string) {
    super(options);
    this.scratch = scratch;
    this.scratchDir = scratchDir;
  }
}
