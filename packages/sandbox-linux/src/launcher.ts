import fs from 'node:fs';
import { PluginError } from '@plugward/types';

/** Absolute paths of the util-linux tools a root host's launcher runs. */
export interface LauncherTools {
  unshare: string;
  mount: string;
  setpriv: string;
}

const TOOL_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];

let toolsCache: LauncherTools | undefined;

function findTool(name: string): string {
  for (const dir of TOOL_DIRS) {
    const p = `${dir}/${name}`;
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  throw new PluginError(
    'SandboxUnavailable',
    `${name} not found in ${TOOL_DIRS.join(', ')}; install it: apt-get install util-linux mount`,
  );
}

/** Finds `unshare`, `mount` and `setpriv` (util-linux); throws `SandboxUnavailable` naming the package otherwise. */
export function findLauncherTools(): LauncherTools {
  toolsCache ??= { unshare: findTool('unshare'), mount: findTool('mount'), setpriv: findSetpriv() };
  return toolsCache;
}

let setprivCache: string | undefined;

/**
 * Finds `setpriv` (util-linux ≥ 2.33 for `--pdeathsig`), which every launcher starts with, root or not; throws
 * `SandboxUnavailable` naming the package otherwise.
 */
export function findSetpriv(): string {
  setprivCache ??= findTool('setpriv');
  return setprivCache;
}

// Common prologue. The launcher starts as `setpriv --pdeathsig KILL`, so from its first instruction on it dies with the
// host; a host that died before that (between the fork and the prctl) is caught here: the parent is no longer the
// host's pid (reparented to init or a subreaper), and the launcher stops before anything else runs. Then: set the fd
// limit, join every cgroup with the launcher's own pid (before anything of the plugin runs), exit 125 when any fails.
const JOIN =
  'h=$1; shift; [ "$PPID" = "$h" ] || exit 125; ' +
  'ulimit -n "$1" || exit 125; n=$2; shift 2; ' +
  'while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; ';

/** Non-root host: join, then become bwrap (which makes its own user namespace). */
const USER_SCRIPT = `${JOIN}exec "$@"`;

/**
 * Root host, already in a private mount namespace (`unshare -m`): join, mount the sized noexec scratch tmpfs (only
 * this namespace and the sandbox made from it see them), move the staged binds onto their mount points, then drop to the sandbox's uid/gid with no supplementary
 * groups and no capabilities, and become bwrap. The uid change clears the parent-death signal (the kernel does on
 * every credential change); setpriv sets it again after the change.
 */
const ROOT_SCRIPT =
  `${JOIN}m=$1; fstab=$2; id=$3; setpriv=$4; n=$5; shift 5; ` +
  // One mount(8) run for both (each exec costs milliseconds of cold start).
  '"$m" -a -T "$fstab" || exit 125; ' +
  // The binds, opened in the host as detached mount trees: moved by the host's fd onto their root-owned mount points
  // (-c: the magic link is not to be resolved to a name).
  'while [ "$n" -gt 0 ]; do "$m" -c --move "$1" "$2" || exit 125; shift 2; n=$((n-1)); done; ' +
  'exec "$setpriv" --reuid "$id" --regid "$id" --clear-groups --inh-caps=-all --bounding-set=-all ' +
  '--pdeathsig KILL -- "$@"';

/** fstab escaping of a path (spaces, tabs, newlines and backslashes as octal). */
function fstabPath(p: string): string {
  return p.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
}

/**
 * The fstab `mount -a -T` reads in the launcher: a sized `noexec,nosuid,nodev` tmpfs on each scratch mount point.
 * Pure.
 */
export function scratchFstab(scratch: { tmp: string; shm: string }, bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 4096) {
    throw new PluginError('InvalidArgument', `scratch size must be an integer ≥ 4096, got ${bytes}`);
  }
  const opts = `size=${bytes},mode=1777,nosuid,nodev,noexec`;
  return [scratch.tmp, scratch.shm].map((p) => `plugward ${fstabPath(p)} tmpfs ${opts} 0 0\n`).join('');
}

/** What {@link launcherCommand} turns into an argv. */
export interface LauncherInput {
  /** `setpriv` (see {@link findSetpriv}): the launcher's first program, which arms the parent-death signal. */
  setpriv: string;
  /** The host's pid: the launcher stops when its parent is not this process any more. */
  hostPid: number;
  fdLimit: number;
  /** `cgroup.procs` files to join. */
  procsFiles: readonly string[];
  /** bwrap and everything after it. */
  bwrap: readonly string[];
  /** Root hosts: the uid switch and the scratch mounts. */
  root?: {
    tools: LauncherTools;
    uid: number;
    /** An fstab file (see {@link scratchFstab}) naming the scratch mounts. */
    fstab: string;
    /**
     * Detached mount trees the host holds (`from`: `/proc/<host pid>/fd/<fd>`) to move onto root-owned mount points
     * (`to`) in the launcher's mount namespace before bwrap runs.
     */
    moves?: readonly { from: string; to: string }[];
  };
}

/**
 * The program and arguments that start a sandbox (pure). Every chain starts with `setpriv --pdeathsig KILL` and checks
 * its parent before anything else, so a host that dies at any moment of a sandbox's start takes the launcher with it
 * (bwrap arms `--die-with-parent` itself only later).
 */
export function launcherCommand(input: LauncherInput): { file: string; args: string[] } {
  if (!Number.isSafeInteger(input.hostPid) || input.hostPid <= 0) {
    throw new PluginError('InvalidArgument', `the host pid must be a positive integer, got ${input.hostPid}`);
  }
  const arm = ['--pdeathsig', 'KILL', '--'];
  const join = [
    String(input.hostPid),
    String(input.fdLimit),
    String(input.procsFiles.length),
    ...input.procsFiles,
  ];
  if (input.root === undefined) {
    return {
      file: input.setpriv,
      args: [...arm, '/bin/sh', '-c', USER_SCRIPT, 'plugward-sandbox', ...join, ...input.bwrap],
    };
  }
  const r = input.root;
  if (!Number.isSafeInteger(r.uid) || r.uid <= 0) {
    throw new PluginError('InvalidArgument', `the sandbox uid must be a positive integer, got ${r.uid}`);
  }
  return {
    file: input.setpriv,
    args: [
      ...arm,
      r.tools.unshare,
      '--mount',
      '--propagation',
      'private',
      '--',
      '/bin/sh',
      '-c',
      ROOT_SCRIPT,
      'plugward-sandbox',
      ...join,
      r.tools.mount,
      r.fstab,
      String(r.uid),
      r.tools.setpriv,
      String(r.moves?.length ?? 0),
      ...(r.moves ?? []).flatMap((m) => [m.from, m.to]),
      ...input.bwrap,
    ],
  };
}
