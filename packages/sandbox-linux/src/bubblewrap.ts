import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type MountInfoEntry, readMountInfo } from '@plugward/limits';
import { capabilitiesToKeep } from '@plugward/sandbox-common';
import { PluginError, type SandboxConfig } from '@plugward/types';
import type { ViewOp } from './filesystem-view.js';
import { kernelFilesystemProblem } from './kernel-mounts.js';

/** Oldest bubblewrap this package drives (`--size` for tmpfs arrived in 0.7). */
export const MIN_BWRAP_VERSION = '0.7.0';

/** Install line printed when bwrap is missing. */
export const BWRAP_INSTALL_HINT =
  'apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)';

/** A located bubblewrap binary. */
export interface BwrapInfo {
  path: string;
  version: string;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Finds bwrap (a configured path, else `PATH`, else `/usr/bin/bwrap`) and checks its version. Throws
 * `SandboxUnavailable` with an install hint when it is missing or too old.
 */
export function findBwrap(configured?: string): BwrapInfo {
  const candidates =
    configured !== undefined
      ? [configured]
      : [
          ...(process.env.PATH ?? '')
            .split(':')
            .filter(Boolean)
            .map((d) => path.join(d, 'bwrap')),
          '/usr/bin/bwrap',
        ];
  const found = candidates.find((c) => {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return path.isAbsolute(c);
    } catch {
      return false;
    }
  });
  if (found === undefined) {
    throw new PluginError(
      'SandboxUnavailable',
      `bubblewrap (bwrap) not found; install it: ${BWRAP_INSTALL_HINT}`,
      {
        details: { searched: candidates },
      },
    );
  }
  let out: string;
  try {
    out = execFileSync(found, ['--version'], { encoding: 'utf8', env: {}, timeout: 5000 });
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', `${found} --version failed`, { cause });
  }
  const version = /bubblewrap\s+(\d+\.\d+(?:\.\d+)?)/.exec(out)?.[1];
  if (version === undefined || compareVersions(version, MIN_BWRAP_VERSION) < 0) {
    throw new PluginError(
      'SandboxUnavailable',
      `bubblewrap ${version ?? '(unknown version)'} at ${found} is older than ${MIN_BWRAP_VERSION}; ${BWRAP_INSTALL_HINT}`,
    );
  }
  return { path: found, version };
}

/**
 * Sensitive `/proc` entries hidden in every sandbox (on top of `FilesystemConfig.maskPaths`): what runc/Docker mask
 * or make read-only, plus the root-only kernel memory and allocator views. `/proc/sys` is bound read-only on top.
 */
export const DEFAULT_MASK_PATHS: readonly string[] = [
  '/proc/kcore',
  '/proc/kmsg',
  '/proc/kpageflags',
  '/proc/kpagecount',
  '/proc/kpagecgroup',
  '/proc/kpageidle',
  '/proc/slabinfo',
  '/proc/vmallocinfo',
  '/proc/pagetypeinfo',
  '/proc/iomem',
  '/proc/ioports',
  '/proc/mtrr',
  '/proc/config.gz',
  '/proc/keys',
  '/proc/key-users',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/kallsyms',
  '/proc/modules',
  '/proc/sysrq-trigger',
  '/proc/latency_stats',
  '/proc/asound',
  '/proc/acpi',
  '/proc/scsi',
  '/proc/fs',
  '/proc/irq',
  '/proc/bus',
  '/proc/driver',
  '/proc/tty',
];

/** Everything {@link buildBwrapArgs} needs. */
export interface BwrapArgsInput {
  config: SandboxConfig;
  /** The read-only view (node, its libraries, the runtime, the plugin). */
  view: readonly ViewOp[];
  /** fd number the BPF program of the seccomp mode is readable on, when seccomp is on. */
  seccompFd?: number;
  /**
   * fd numbers of further BPF programs bwrap stacks beside it (the kernel answers each syscall with the strictest of
   * them): the sandbox's parent-death guard.
   */
  extraSeccompFds?: readonly number[];
  /**
   * Host paths of the sized `noexec,nosuid,nodev` tmpfs mounts the launcher made for `/tmp` and `/dev/shm` (root
   * hosts). Absent: bwrap makes them itself (sized, but it has no noexec option).
   */
  scratch?: { tmp: string; shm: string };
  /** fd of the first `file` op of the view; the others follow in order (the caller opens them so). */
  firstFileFd?: number;
  /**
   * Root hosts: for each of `config.filesystem.binds` (same order), the staged path the launcher mounted the object
   * opened and checked in the host on (see `stageBinds`). bwrap binds these instead of the sources, which it would
   * otherwise resolve again by name.
   */
  stagedBinds?: readonly string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkPath(p: string, what: string): string {
  if (typeof p !== 'string' || !path.isAbsolute(p) || p.includes('\0')) {
    throw new PluginError(
      'InvalidArgument',
      `${what} must be an absolute path without NUL: ${JSON.stringify(p)}`,
    );
  }
  return path.normalize(p);
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The bwrap options (to be passed NUL-separated through `--args FD`, so host paths do not show in the sandbox's
 * `/proc/1/cmdline`). Pure apart from `stat` calls on mask and bind paths; throws `InvalidArgument` on a config that
 * bwrap can't honour or that contradicts itself.
 */
export function buildBwrapArgs(input: BwrapArgsInput): string[] {
  const { config } = input;
  const ns = config.namespaces;
  const out: string[] = ['--die-with-parent', '--new-session'];
  // The host's mounts, read once (only if a bind needs judging): every bind source is checked against them.
  let mountTable: MountInfoEntry[] | undefined;
  const mounts = (): MountInfoEntry[] => {
    mountTable ??= readMountInfo();
    return mountTable;
  };
  if (!ns.mount) {
    throw new PluginError('InvalidArgument', 'bubblewrap always uses a mount namespace; set mount: true');
  }
  // The sandbox's uid is the host user's (root maps to root): without its own pid and IPC namespaces it could signal
  // that user's host processes and read their SysV shared memory, capabilities or not.
  if (!ns.pid || !ns.ipc) {
    throw new PluginError(
      'InvalidArgument',
      'a sandbox needs its own pid and ipc namespaces (set pid: true, ipc: true)',
    );
  }
  const wantsNet = config.network.mode !== 'full';
  if (wantsNet !== ns.net) {
    throw new PluginError(
      'InvalidArgument',
      `network mode '${config.network.mode}' needs namespaces.net = ${wantsNet} (got ${ns.net})`,
    );
  }
  // bwrap always runs unprivileged (as root hosts: as the sandbox's own uid), which needs a user namespace.
  if (!ns.user) {
    throw new PluginError(
      'InvalidArgument',
      'the sandbox always uses a user namespace (bwrap runs unprivileged); set user: true',
    );
  }
  // --disable-userns: no nested user namespace inside. No --as-pid-1: the sandbox's pid 1 is bwrap's init (same uid,
  // same filters, armed with the parent-death signal by bwrap), whose death ends every process of the namespace; a
  // command that is pid 1 itself sheds that signal with an execve from a second thread. Init's /proc/1 is masked below
  // and the guard filter denies the calls that reach it by pid (seccomp.ts sandboxInitRules).
  out.push('--unshare-user', '--disable-userns');
  if (ns.pid) out.push('--unshare-pid');
  if (ns.net) out.push('--unshare-net');
  if (ns.ipc) out.push('--unshare-ipc');
  if (ns.uts) out.push('--unshare-uts', '--hostname', 'plugward');
  if (ns.cgroup) out.push('--unshare-cgroup');

  out.push('--clearenv');
  for (const [k, v] of Object.entries(config.env)) {
    if (!ENV_NAME.test(k) || typeof v !== 'string' || v.includes('\0')) {
      throw new PluginError('InvalidArgument', `invalid environment variable ${JSON.stringify(k)}`);
    }
    out.push('--setenv', k, v);
  }

  out.push('--cap-drop', 'ALL');
  for (const cap of capabilitiesToKeep(config.capabilities)) out.push('--cap-add', cap);

  const fsc = config.filesystem;
  if (!Number.isSafeInteger(fsc.tmpfsBytes) || fsc.tmpfsBytes < 4096) {
    throw new PluginError(
      'InvalidArgument',
      `filesystem.tmpfsBytes must be an integer ≥ 4096, got ${fsc.tmpfsBytes}`,
    );
  }
  // /dev/shm gets its own sized tmpfs and /dev is made read-only below: bwrap's /dev is an unbounded tmpfs.
  // /proc/sys is bound read-only (bwrap's own remount of it is skipped on some kernels). /proc/1 (bwrap's init: its
  // mem, fd, environ, task/1, …) is covered by an empty read-only tmpfs: the command can't open anything of it.
  out.push('--proc', '/proc', '--ro-bind', '/proc/sys', '/proc/sys');
  out.push('--size', '4096', '--perms', '0555', '--tmpfs', '/proc/1', '--remount-ro', '/proc/1');
  out.push('--dev', '/dev');
  if (input.scratch !== undefined) {
    out.push('--bind', input.scratch.tmp, '/tmp', '--bind', input.scratch.shm, '/dev/shm');
  } else {
    out.push('--size', String(fsc.tmpfsBytes), '--tmpfs', '/tmp');
    out.push('--size', String(fsc.tmpfsBytes), '--tmpfs', '/dev/shm');
  }
  let fileFd = input.firstFileFd ?? -1;
  for (const op of input.view) {
    switch (op.op) {
      case 'symlink':
        out.push('--symlink', op.link, op.target);
        break;
      case 'dir':
        out.push('--perms', '0555', '--dir', checkPath(op.target, 'copy target'));
        break;
      case 'file':
        if (fileFd < 0) throw new PluginError('InvalidArgument', 'file copies need firstFileFd');
        out.push(
          '--perms',
          op.executable ? '0555' : '0444',
          '--file',
          String(fileFd++),
          checkPath(op.target, 'copy target'),
        );
        break;
      default: {
        const kernel = kernelFilesystemProblem(op.source, mounts());
        if (kernel !== undefined) {
          throw new PluginError(
            'InvalidArgument',
            `read-only path ${op.source} would show a kernel filesystem: ${kernel}`,
          );
        }
        out.push(op.op === 'bind' ? '--bind' : '--ro-bind', op.source, op.target);
      }
    }
  }
  if (input.stagedBinds !== undefined && input.stagedBinds.length !== fsc.binds.length) {
    throw new PluginError('InvalidArgument', 'stagedBinds must name one staged path per bind');
  }
  fsc.binds.forEach((b, i) => {
    const source = checkPath(b.source, 'bind source');
    const target = checkPath(b.target ?? b.source, 'bind target');
    if (target === '/' || /^\/(proc|dev)(\/|$)/.test(target)) {
      throw new PluginError(
        'InvalidArgument',
        `bind target ${target} would replace the sandbox's own mounts`,
      );
    }
    if (b.mode !== 'ro' && b.mode !== 'rw')
      throw new PluginError('InvalidArgument', `bind mode must be ro or rw`);
    const staged = input.stagedBinds?.[i];
    if (staged !== undefined) {
      // Opened and checked as an object in the host; the staged path is root's own, nobody else can change it.
      out.push(b.mode === 'rw' ? '--bind' : '--ro-bind', checkPath(staged, 'staged bind'), target);
      return;
    }
    if (!fs.existsSync(source))
      throw new PluginError('InvalidArgument', `bind source ${source} does not exist`);
    const kernel = kernelFilesystemProblem(source, mounts());
    if (kernel !== undefined) {
      throw new PluginError(
        'InvalidArgument',
        `bind source ${source} would show a kernel filesystem: ${kernel}`,
      );
    }
    out.push(b.mode === 'rw' ? '--bind' : '--ro-bind', source, target);
  });
  for (const raw of [...DEFAULT_MASK_PATHS, ...fsc.maskPaths]) {
    const p = checkPath(raw, 'mask path');
    if (!fs.existsSync(p)) continue;
    if (isDirectory(p)) out.push('--tmpfs', p, '--remount-ro', p);
    else out.push('--ro-bind', '/dev/null', p);
  }
  // The root is a tmpfs bwrap made; read-only, so /tmp (with its size) is the only writable scratch space.
  out.push('--remount-ro', '/dev', '--remount-ro', '/', '--chdir', '/');
  // --add-seccomp-fd (repeatable; bwrap refuses to mix it with --seccomp): every program is applied, in order.
  for (const fd of [
    ...(input.seccompFd === undefined ? [] : [input.seccompFd]),
    ...(input.extraSeccompFds ?? []),
  ])
    out.push('--add-seccomp-fd', String(fd));
  return out;
}

/**
 * The command line after bwrap's own options. bwrap does not accept the command inside `--args`, so it follows on the
 * command line; it names only paths that exist inside the sandbox anyway.
 */
export function bwrapCommand(command: string, args: readonly string[]): string[] {
  for (const a of args) {
    if (typeof a !== 'string' || a.includes('\0'))
      throw new PluginError('InvalidArgument', 'arguments must not contain NUL');
  }
  return ['--', checkPath(command, 'command'), ...args];
}
