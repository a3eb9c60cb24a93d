import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Duplex, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
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
  findLibSeccomp,
  guardSandboxLifetime,
  hostTag,
  NeutralPaths,
  releaseLeaseWhenUnused,
  relocate,
  relocateArg,
  type SandboxCleanupInfo,
  SandboxedChild,
  sandboxCgroupLimits,
  sandboxDirBase,
  sharedLibrariesOf,
  sweepStaleSandboxDirsOnce,
  type UidLease,
  type UidRange,
  validateCpus,
  validateUidRange,
} from '@plugward/sandbox-common';
import {
  DEFAULT_RESOURCE_LIMITS,
  PluginError,
  type SandboxBackend,
  type SandboxConfig,
  type SandboxedProcess,
  type SandboxSpawnSpec,
  type SandboxSupportReport,
  withRuntimeAllowance,
} from '@plugward/types';
import { bindIdentities, closeStagedBinds, type StagedBind, stageBinds } from './bind-handles.js';
import { BIND_IDENTITY_ENV } from './bind-verify.js';
import { type BwrapInfo, buildBwrapArgs, bwrapCommand, findBwrap } from './bubblewrap.js';
import { MIN_FILE_DESCRIPTORS } from './config.js';
import { closeInheritedDescriptorsOnExec } from './fd-hygiene.js';
import {
  assertOthersCanRead,
  copyHostBinds,
  copyIntoView,
  mirrorReadOnly,
  othersAccess,
  type ViewOp,
} from './filesystem-view.js';
import { findLauncherTools, findSetpriv, launcherCommand, scratchFstab } from './launcher.js';
import { packageReadOnlyPaths } from './package-paths.js';
import { buildSeccompFilter, parentDeathGuardFilter } from './seccomp.js';
import { checkSandboxSupport, userNamespacesAvailable } from './support.js';

/** Options of {@link LinuxSandbox}. */
export interface LinuxSandboxOptions {
  /** Path of bwrap; found on `PATH` when absent. */
  bwrapPath?: string;
  /**
   * Where the child's stdout/stderr go: pipes the host reads (`pipe`, the default; read them, or a plugin that writes
   * more than a pipe holds stalls), or the host's own (`inherit`). **`inherit` is unsafe for untrusted code**: the
   * plugin can reopen the host's stdout file through `/proc/self/fd/1`, read it, truncate it, or fill the host's disk.
   */
  stdio?: 'inherit' | 'pipe';
  /**
   * Root hosts: the host uids (and gids of the same numbers) plugin code may run as; each sandbox leases a distinct
   * one (see {@link allocateUid}). Default {@link DEFAULT_UID_RANGE}. Ignored (with a `checkSupport()` warning) when
   * the host is not root: the plugin then shares the host user's uid.
   */
  uidRange?: UidRange;
  /** Root hosts: where uid leases are kept (default {@link DEFAULT_UID_LOCK_DIR}); share it between hosts. */
  uidLockDir?: string;
  /**
   * CPU share of a sandbox when `config.cgroup.cpuQuotaUs` is absent, in CPUs (0.01–64; default 1): the cgroup quota
   * is `cpus × period`. A quota is always set.
   */
  cpus?: number;
  /**
   * Root hosts: copy the non-system paths of the view (the runtime, its packages; not `/usr`, `/lib*`, `/etc`) into
   * the sandbox instead of binding them, so the host's directory layout is not in its `/proc/self/mountinfo` and a
   * checkout under a private directory works. Default true; paths over the copy limits stay bound.
   */
  copyHostPaths?: boolean;
  /** Accept `seccomp: { mode: 'disabled' }` (refused otherwise). */
  allowDisabledSeccomp?: boolean;
  /** Accept `cgroup: null` (refused otherwise: no memory, CPU or pids limit). */
  allowNoCgroup?: boolean;
  /**
   * In `strict` seccomp mode with a node command, preload the lockdown module (`--require`) that installs the second,
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
  /** The host uid (= gid) plugin code runs as: leased per sandbox on root hosts, the host user's uid otherwise. */
  readonly uid: number;
}

const ARGS_FD = 4;
const SECCOMP_FD = 5;
/** The parent-death guard's BPF ({@link parentDeathGuardFilter}), in every sandbox. */
const GUARD_FD = 6;
const FIRST_FILE_FD = 7;
/**
 * Where the runtime, its packages, the lockdown preload and the plugin's copy appear inside the sandbox (see
 * {@link NeutralPaths}): a path that says nothing about the host.
 */
export const NEUTRAL_ROOT = '/plugward';

/**
 * Opens a file to copy into the sandbox: never through a symbolic link swapped in after the walk (O_NOFOLLOW), never
 * blocking on a FIFO (O_NONBLOCK), and only a regular file.
 */
function openRegularFile(file: string): number {
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK } = fs.constants;
  let fd: number;
  try {
    fd = fs.openSync(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (cause) {
    throw new PluginError('InvalidArgument', `cannot open ${file} to copy it into the sandbox`, { cause });
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new PluginError('InvalidArgument', `${file} changed into something other than a regular file`);
  }
  return fd;
}

const readableOk = new Set<string>();

/** {@link assertOthersCanRead}, remembered per path once it passed (node, its libraries, the lockdown module). */
function assertReadableOnce(p: string, what: string): void {
  if (readableOk.has(p)) return;
  assertOthersCanRead(p, what);
  readableOk.add(p);
}

function canonical(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.normalize(p);
  }
}

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
  // The self-contained preload bundle (dist/lockdown/): the sandbox needs only it, koffi and libseccomp.
  const dir = path.join(here(), 'lockdown');
  const entry = path.join(dir, 'sandbox-preload.cjs');
  if (!fs.existsSync(entry)) {
    throw new PluginError(
      'SandboxUnavailable',
      `the lockdown module is missing at ${entry} (build the package)`,
    );
  }
  const lib = findLibSeccomp();
  if (lib === undefined) {
    throw new PluginError('SandboxUnavailable', 'libseccomp.so.2 not found: apt-get install libseccomp2');
  }
  // koffi keeps its native build in an optional per-platform package; packageReadOnlyPaths follows those too.
  return { entry, paths: [dir, lib, ...packageReadOnlyPaths(['koffi'], path.dirname(here()))] };
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
    if (options.uidRange !== undefined) validateUidRange(options.uidRange);
    validateCpus(options.cpus ?? 1);
    this.#options = options;
  }

  /** See {@link checkSandboxSupport}. */
  checkSupport(): Promise<SandboxSupportReport> {
    return checkSandboxSupport({ bwrapPath: this.#options.bwrapPath, cpus: this.#options.cpus ?? 1 });
  }

  #preflight(config: SandboxConfig): BwrapInfo {
    this.#bwrap ??= findBwrap(this.#options.bwrapPath);
    const root = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!userNamespacesAvailable()) {
      throw new PluginError(
        'SandboxUnavailable',
        'bwrap runs unprivileged and needs a user namespace, but the kernel forbids it: sysctl -w kernel.unprivileged_userns_clone=1',
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
    if (root) findLauncherTools();
    else findSetpriv();
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
    const fdLimit = withRuntimeAllowance(spec.limits ?? DEFAULT_RESOURCE_LIMITS).maxFileDescriptors;
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

    // The read-only view: the command, its libraries, the runtime and plugin paths. Everything but system paths is
    // placed under NEUTRAL_ROOT (NeutralPaths), so no argument, mapped file or stack trace names the host's layout.
    const ops: ViewOp[] = [];
    const seen = new Set<string>();
    const root = isRoot();
    const neutral = new NeutralPaths(NEUTRAL_ROOT);
    // Root hosts run bwrap as an unprivileged uid: what stays bound must be readable by others (checked below, with a
    // clear error); non-system paths are copied in (copyHostBinds), a path private to the host's uid always is.
    const place = (p: string): void => {
      const inside = neutral.place(p);
      if (inside === path.normalize(p)) {
        mirrorReadOnly(p, seen, ops);
        return;
      }
      const real = canonical(p);
      if (seen.has(`place:${real}`)) return;
      seen.add(`place:${real}`);
      if (!fs.existsSync(real)) {
        throw new PluginError('SandboxUnavailable', `a path the sandbox needs does not exist: ${p}`);
      }
      if (root && othersAccess(real) === 'leaf') copyIntoView(real, inside, ops);
      else ops.push({ op: 'ro-bind', source: real, target: inside });
    };
    let args = [...spec.args];
    const preloaded =
      config.seccomp.mode === 'strict' && this.#options.lockdown !== false && isNodeBinary(command);
    if (preloaded) {
      const lockdown = lockdownPaths();
      for (const p of lockdown.paths) place(p);
      // `--require`, not `--import`: any `--import` makes Node 20 run a CommonJS main (the plugin runtime) through the
      // ESM loader, which cost more start-up time than the lockdown itself (issue 17).
      args = ['--require', lockdown.entry, ...args];
    }
    for (const p of spec.readOnlyPaths) {
      if (typeof p !== 'string' || path.resolve('/', p) === '/') {
        throw new PluginError(
          'InvalidArgument',
          'readOnlyPaths must name what the plugin needs, not the whole root',
        );
      }
      place(p);
    }
    // A command inside a read-only path runs from there; otherwise it is placed itself (node: a system path).
    if (relocate(command, neutral.moved()) === command) place(command);
    // Libraries stay where the loader looks for them (system paths as a rule).
    for (const lib of sharedLibrariesOf(command)) mirrorReadOnly(lib, seen, ops);
    const moved = neutral.moved();
    args = args.map((a) => relocateArg(a, moved));
    command = relocate(command, moved);
    let view = ops;
    if (root && this.#options.copyHostPaths !== false) view = copyHostBinds(ops);
    if (root) {
      for (const op of view) if (op.op === 'ro-bind') assertReadableOnce(op.source, 'the bound path');
    }

    // With the host network (explicit opt-in) strict still limits sockets, but to unix and IP families.
    const bpf = buildSeccompFilter(config.seccomp, { inetSockets: config.network.mode === 'full' });
    const base = sandboxDirBase(root, ROOT_SANDBOX_DIR);
    sweepStaleSandboxDirsOnce(base, 'plugward-sbx-');

    // A private directory per sandbox: the args and BPF files (unlinked once open) and, on root hosts, the mount
    // points of the scratch tmpfs (mounted only in the launcher's private mount namespace). Removed after exit.
    const dir = fs.mkdtempSync(path.join(base, `plugward-sbx-${hostTag()}-`));
    const scratch = root ? { tmp: path.join(dir, 'tmp'), shm: path.join(dir, 'shm') } : undefined;
    const removeDir = (): void => fs.rmSync(dir, { recursive: true, force: true });
    let lease: UidLease | undefined;
    let cgroup: CgroupHandle | undefined;
    const fds: number[] = [];
    // Root hosts: the bind sources, opened and checked here, held until the sandbox is gone (the launcher moves them).
    let staged: StagedBind[] = [];
    const closeStaged = (): void => {
      closeStagedBinds(staged);
      staged = [];
    };
    let child: ChildProcess | undefined;
    let forget: (() => void) | undefined;
    try {
      // The cgroup before the lease: the first cgroup of this host sweeps dead hosts' groups, killing whatever still
      // ran in them, so the uids those processes held are free when the lease is drawn.
      if (config.cgroup !== null) {
        cgroup = createCgroup(
          this.#cgroupLayout(),
          config.cgroup.parent ?? 'plugward',
          cgroupName(spec.label),
          sandboxCgroupLimits(spec, this.#options.cpus ?? 1),
        );
      }
      if (scratch !== undefined) {
        // The sandbox's uid must reach the mount points (not list them): 0711.
        fs.chmodSync(dir, 0o711);
        fs.mkdirSync(scratch.tmp, { mode: 0o700 });
        fs.mkdirSync(scratch.shm, { mode: 0o700 });
        fs.writeFileSync(path.join(dir, 'fstab'), scratchFstab(scratch, config.filesystem.tmpfsBytes), {
          mode: 0o600,
        });
        lease = allocateUid(
          this.#options.uidRange ?? DEFAULT_UID_RANGE,
          this.#options.uidLockDir ?? DEFAULT_UID_LOCK_DIR,
        );
        if (config.filesystem.binds.length > 0) staged = stageBinds(config.filesystem.binds, dir);
      }
      // Non-root hosts: bwrap binds by name; the strict preload checks each target is the object opened here.
      const identities =
        !root && preloaded && config.filesystem.binds.length > 0
          ? bindIdentities(config.filesystem.binds)
          : undefined;
      const bwrapArgs = buildBwrapArgs({
        config:
          identities === undefined
            ? config
            : { ...config, env: { ...config.env, [BIND_IDENTITY_ENV]: identities } },
        view,
        seccompFd: bpf === undefined ? undefined : SECCOMP_FD,
        extraSeccompFds: [GUARD_FD],
        scratch,
        firstFileFd: FIRST_FILE_FD,
        stagedBinds: scratch === undefined ? undefined : staged.map((b) => b.stage),
      });
      // The args and the BPF programs travel in unlinked private files, read by bwrap from fds 4 (args), 5 (the mode's
      // BPF, when seccomp is on) and 6 (the parent-death guard's, always); the view's files follow from fd 7. Each fd is
      // in `fds` as soon as it is open: the finally closes whatever was opened when a later one fails.
      const privateFd = (name: string, bytes: string | Uint8Array): number => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, bytes, { mode: 0o600 });
        const fd = fs.openSync(file, 'r');
        fds.push(fd);
        fs.unlinkSync(file);
        return fd;
      };
      const passed: (number | 'ignore')[] = [
        privateFd('args', `${bwrapArgs.join('\0')}\0`),
        bpf === undefined ? 'ignore' : privateFd('bpf', bpf),
        privateFd('guard', parentDeathGuardFilter()),
      ];
      for (const op of view) {
        if (op.op !== 'file') continue;
        const fd = openRegularFile(op.source);
        fds.push(fd);
        passed.push(fd);
      }
      closeInheritedDescriptorsOnExec();
      const out = this.#options.stdio === 'inherit' ? 'inherit' : 'pipe';
      const launch = launcherCommand({
        setpriv: findSetpriv(),
        hostPid: process.pid,
        fdLimit,
        procsFiles: cgroup?.procsFiles ?? [],
        bwrap: [bwrap.path, '--args', String(ARGS_FD), ...bwrapCommand(command, args)],
        root:
          lease !== undefined && scratch !== undefined
            ? {
                tools: findLauncherTools(),
                uid: lease.uid,
                fstab: path.join(dir, 'fstab'),
                moves: staged.map((b) => ({ from: `/proc/${process.pid}/fd/${b.tree}`, to: b.stage })),
              }
            : undefined,
      });
      const launched = spawn(launch.file, launch.args, {
        stdio: ['ignore', out, out, 'pipe', ...passed],
        env: {},
        cwd: '/',
      });
      child = launched;
      // From here on a host that exits normally kills the sandbox, starting or not, before it gives its uid back.
      forget = guardSandboxLifetime({ child: launched, cgroup, lease, removeFiles: removeDir });
      await new Promise<void>((resolve, reject) => {
        launched.once('spawn', resolve);
        launched.once('error', reject);
      });
      if (cgroup !== undefined) await waitForJoin(launched, cgroup);
    } catch (cause) {
      child?.kill('SIGKILL');
      const removed = await cgroup?.remove().then(
        () => true,
        () => false,
      );
      if (child !== undefined) await childGone(child);
      releaseLeaseWhenUnused(lease, removed === true);
      closeStaged();
      removeDir();
      forget?.();
      if (cause instanceof PluginError && cause.code !== 'SandboxError') throw cause;
      throw new PluginError('SandboxError', `could not start bwrap for ${spec.label}`, { cause });
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
    if (child === undefined) throw new PluginError('SandboxError', `bwrap did not start for ${spec.label}`);
    const uid = lease?.uid ?? process.getuid?.() ?? -1;
    // After the sandbox's exit: off the event loop (rmdir of its scratch mount points takes the kernel milliseconds
    // each), then the lease — nothing of the uid's sandbox is left when another sandbox may get the uid.
    const cleanup = async ({ contained }: SandboxCleanupInfo): Promise<void> => {
      try {
        closeStaged();
        await fs.promises.rm(dir, { recursive: true, force: true });
      } finally {
        forget?.();
        releaseLeaseWhenUnused(lease, contained);
      }
    };
    // bwrap is the child; the plugin runs below it, so kill signals the cgroup's processes too.
    return new SandboxedChild({ child, cgroup, uid, cleanup, signalCgroup: true });
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Where root hosts put the per-sandbox directories: the leased uid must traverse to the scratch mount points, and
 * `os.tmpdir()` may be a private directory (`TMPDIR` set to a 0700 folder), so a fixed root-owned 0711 folder.
 */
export const ROOT_SANDBOX_DIR = '/run/plugward-sbx';

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
