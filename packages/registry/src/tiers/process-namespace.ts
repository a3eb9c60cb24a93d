import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { findLauncherTools, findSetpriv } from '@plugward/sandbox-linux';
import { type ProcessContainment, parseProcStat } from '@plugward/types';

/**
 * The process tier's init: pid 1 of the plugin's pid namespace. It starts the runtime (pid 2), gives up its own copy of
 * the IPC socket (fd 3: the host sees the channel end with the runtime), waits for the runtime and exits with its status
 * (`128 + n` for a signal: an init can't die of its own signal). Its exit ends every other process of the namespace
 * (the kernel kills them and waits for them before the init's parent sees it exit), and the init itself is killed by
 * the parent-death signal `unshare --kill-child` arms — `unshare` being the host's child, armed by `setpriv`. The plugin
 * can't end or stop it (signals from inside a namespace don't reach its init) and never runs its code: a runtime that
 * sheds its own parent-death signal (an `execve` from a second thread) changes nothing.
 */
const INIT = '"$@" & exec 3>&-; wait $!';

/**
 * Starts `unshare` with its own stderr on /dev/null and the plugin's kept on fd 9, which the init gives back to the
 * runtime ({@link QUIET_INIT}): `unshare` (util-linux 2.38) prints "sigprocmask unblock failed" when its child is
 * killed — every unload — and the host would log it as the plugin's own stderr.
 */
const QUIET_UNSHARE = 'exec 9>&2 2>/dev/null; exec "$@"';
const QUIET_INIT = `exec 2>&9 9>&-; ${INIT}`;

/** The init's `argv[0]` (what `ps` shows for it). */
const INIT_NAME = 'plugward-init';

/** Turns the namespace off (the process-group fallback), for A/B runs and hosts that must not make namespaces. */
const OFF_VARIABLE = 'PLUGWARD_PROCESS_NAMESPACE';

/** What {@link processTierCommand} needs: the tools and whether the host must make a user namespace first. */
export interface ProcessTierChain {
  /** `undefined`: not installed (plain `node`, no parent-death signal). */
  setpriv: string | undefined;
  /** `undefined`: no namespace (the process-group fallback). */
  unshare: string | undefined;
  /** Non-root hosts: a user namespace makes the pid namespace possible. */
  userNamespace: boolean;
}

/**
 * The program and arguments that start a process-tier plugin (pure). Every chain starts with `setpriv --pdeathsig KILL`,
 * so it dies with its host from its first instruction. With a namespace: `unshare --pid --fork --kill-child`, whose
 * child is the init ({@link INIT}) of a fresh pid namespace, killed when `unshare` dies. A non-root host makes a user
 * namespace for it (`--map-current-user`: the plugin keeps its uid), and the runtime goes into a user namespace of its
 * own below that one: a process can ptrace or write the memory of a same-uid process only within its own user
 * namespace (or one it holds capabilities over), so the plugin can't reach its init to disarm it.
 */
export function processTierCommand(
  chain: ProcessTierChain,
  command: readonly string[],
  quiet = true,
): { file: string; args: string[] } {
  const arm = ['--pdeathsig', 'KILL', '--'];
  if (chain.setpriv === undefined) return { file: command[0] as string, args: command.slice(1) };
  if (chain.unshare === undefined) return { file: chain.setpriv, args: [...arm, ...command] };
  const user = chain.userNamespace ? ['--user', '--map-current-user'] : [];
  const runtime = chain.userNamespace
    ? [chain.unshare, '--user', '--map-current-user', '--', ...command]
    : command;
  return {
    file: chain.setpriv,
    args: [
      ...arm,
      ...(quiet ? ['/bin/sh', '-c', QUIET_UNSHARE, 'plugward-chain'] : []),
      chain.unshare,
      ...user,
      '--pid',
      '--fork',
      '--kill-child',
      '--',
      '/bin/sh',
      '-c',
      quiet ? QUIET_INIT : INIT,
      INIT_NAME,
      ...runtime,
    ],
  };
}

/**
 * How a chain's exit reads as the runtime's: the init reports a runtime killed by signal `n` as exit code `128 + n`
 * (as a shell does), so such a code is that signal. A runtime that exits with a code above 128 itself reads as that
 * signal too (Node never does on its own).
 */
export function runtimeExitOf(
  code: number | null,
  signal: NodeJS.Signals | null,
): { code: number | null; signal: NodeJS.Signals | null } {
  if (signal !== null || code === null || code <= 128) return { code, signal };
  const name = signalNames.get(code - 128);
  return name === undefined ? { code, signal } : { code: null, signal: name };
}

const signalNames = new Map<number, NodeJS.Signals>(
  Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]),
);

/**
 * The pids whose parent is `pid` (`/proc/<pid>/task/<pid>/children`; where the kernel lacks that file,
 * CONFIG_PROC_CHILDREN, a walk of /proc), in the order the kernel lists them; empty when it is gone.
 */
function childrenOf(pid: number): number[] {
  try {
    return fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .split(' ')
      .filter((p) => p !== '')
      .map(Number);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !fs.existsSync(`/proc/${pid}`)) return [];
    return fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p) && parentOf(Number(p)) === pid)
      .map(Number)
      .sort((a, b) => a - b);
  }
}

/** The parent pid in `/proc/<pid>/stat`, or `undefined` when the process is gone. */
function parentOf(pid: number): number | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).ppid;
  } catch {
    return undefined;
  }
}

/** Whether `/proc/<pid>/status` says the process is pid 2 of its innermost pid namespace (the init's first child). */
function isSecondOfItsNamespace(pid: number): boolean {
  try {
    const m = /^NSpid:\s+([\d\s]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1]?.trim().split(/\s+/).at(-1) === '2';
  } catch {
    return false;
  }
}

/**
 * The host pids of a chain's init and runtime, `outer` being the chain's pid (the host's child, `unshare` by then):
 * the init is its one child, the runtime the init's child that is pid 2 in the namespace (the init's other children
 * are processes the plugin left, reparented). `undefined` for either not (or no longer) there.
 */
export function namespacePids(outer: number): { init: number | undefined; runtime: number | undefined } {
  const init = childrenOf(outer)[0];
  if (init === undefined) return { init: undefined, runtime: undefined };
  return { init, runtime: childrenOf(init).find(isSecondOfItsNamespace) };
}

/**
 * SIGKILLs a chain's init — which ends its whole namespace, and `unshare` exits once nothing of it is left — when `init`
 * is still `outer`'s child (a pid read earlier may have been freed since). Returns whether it was signalled.
 */
export function killNamespace(outer: number, init: number): boolean {
  if (parentOf(init) !== outer) return false;
  try {
    process.kill(init, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

let chainOfHost: Promise<{ chain: ProcessTierChain; containment: ProcessContainment }> | undefined;

/**
 * How this host starts process-tier plugins, found once per process: a trial run of the namespace chain with
 * `/bin/true` as the runtime (a root host makes a pid namespace; another one needs unprivileged user namespaces). Where
 * that fails — or on another OS, or with `PLUGWARD_PROCESS_NAMESPACE=0` — the runtime runs in a process group of its
 * own, and the containment says why. `setpriv` missing leaves plain `node` (no parent-death signal).
 */
export function processTierChain(): Promise<{ chain: ProcessTierChain; containment: ProcessContainment }> {
  chainOfHost ??= findChain();
  return chainOfHost;
}

async function findChain(): Promise<{ chain: ProcessTierChain; containment: ProcessContainment }> {
  const group = (setpriv: string | undefined, reason: string) => ({
    chain: { setpriv, unshare: undefined, userNamespace: false },
    containment: { mechanism: 'process-group', reason } as const,
  });
  if (process.platform !== 'linux') return group(undefined, `not Linux (${process.platform})`);
  let setpriv: string | undefined;
  let unshare: string;
  try {
    setpriv = findSetpriv();
    unshare = findLauncherTools().unshare;
  } catch (e) {
    return group(setpriv, e instanceof Error ? e.message : String(e));
  }
  if (process.env[OFF_VARIABLE] === '0') return group(setpriv, `turned off (${OFF_VARIABLE}=0)`);
  const userNamespace = process.getuid?.() !== 0;
  const chain = { setpriv, unshare, userNamespace };
  // Not quiet: `unshare`'s own stderr says why a namespace can't be had.
  const trial = await trialRun(processTierCommand(chain, ['/bin/true'], false));
  if (trial === undefined) return { chain, containment: { mechanism: 'pid-namespace', userNamespace } };
  return group(
    setpriv,
    `no pid namespace could be made (${trial})` +
      (userNamespace
        ? ': a host that is not root needs unprivileged user namespaces (user.max_user_namespaces > 0; ' +
          'kernel.unprivileged_userns_clone = 1 where it exists; AppArmor: kernel.apparmor_restrict_unprivileged_userns = 0)'
        : ': a root host needs CAP_SYS_ADMIN and a seccomp profile that allows unshare (containers often deny both)'),
  );
}

/** Runs the chain; `undefined` when it exited 0, else what went wrong (its stderr, bounded). */
function trialRun(cmd: { file: string; args: string[] }): Promise<string | undefined> {
  return new Promise((resolve) => {
    let err = '';
    const child = spawn(cmd.file, cmd.args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: '/usr/bin:/bin' },
    });
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 400) err += d.toString();
    });
    child.once('error', (e) => resolve(e.message));
    child.once('close', (code, signal) =>
      resolve(code === 0 ? undefined : `${err.trim() || `exit ${code ?? signal}`}`.slice(0, 400)),
    );
  });
}
