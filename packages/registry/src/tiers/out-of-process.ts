import { type ChildProcess, spawn } from 'node:child_process';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import { ANY_KEY, type PluginContext } from '@plugward/context';
import { HandlerTimeout } from '@plugward/hooks';
import {
  IpcChannel,
  type IpcTransport,
  type LogBudget,
  PluginProcessClient,
  type RequestRate,
  type WatchedProcess,
} from '@plugward/ipc';
import { assertPrivateHostState, hostTag, sweepStaleSandboxDirsOnce } from '@plugward/sandbox-common';
import { packageReadOnlyPaths } from '@plugward/sandbox-linux';
import type { VerifiedArtifact } from '@plugward/security';
import {
  type FetchRequest,
  type FetchResponse,
  type HookCallInfo,
  type HookRegistrar,
  isPluginError,
  type LogLevel,
  MANIFEST_SUFFIX,
  type PluginContextApi,
  PluginError,
  type PluginMetrics,
  type PluginRequirements,
  type ProcessContainment,
  type ResourceLimits,
  type SandboxBackend,
  type SandboxedProcess,
} from '@plugward/types';
import { CODE_CACHE_ARG } from '../code-cache-protocol.js';
import { processTierReading, sandboxTierReading, type TierMetricsOptions } from '../monitor.js';
import { DEFAULT_HOOK_OUTPUT_BYTES, protocolViolationOf } from '../quotas.js';
import { runtimeCodeCache, whenRuntimeCodeCache } from '../runtime-code-cache.js';
import { hostStartupMark, STARTUP_TRACE_ARG, startupTraceEnabled } from '../startup-trace.js';
import { sweepStaleWarmFolders } from '../warm-folder.js';
import type { WarmPool, WarmSandbox } from '../warm-pool.js';
import { DEFAULT_PLUGIN_OUTPUT_BUDGET, type PluginOutputBudget, readPluginOutput } from './plugin-output.js';
import {
  killNamespace,
  namespacePids,
  processTierChain,
  processTierCommand,
  runtimeExitOf,
} from './process-namespace.js';
import { sandboxConfigFor } from './sandbox-config.js';
import { settleWithin, type TierExit, type TierHandle } from './tier.js';

/** What starting a plugin out of process needs. */
export interface OutOfProcessOptions {
  tier: 'worker' | 'process' | 'sandbox';
  verified: VerifiedArtifact;
  requirements: PluginRequirements;
  limits: ResourceLimits;
  /** Where the plugin's hooks go (the registry's guarded registrar). */
  registrar: HookRegistrar;
  context: PluginContextApi;
  /**
   * The host's context itself, watched for a native plugin's readable keys: their values are pushed to the plugin's
   * local copy (see {@link watchContextFor}). Absent: no pushes (the plugin's copy would go stale).
   */
  hostContext?: WatchedContext;
  log: (level: LogLevel, message: string) => void;
  sandbox: SandboxBackend<Duplex> | undefined;
  /** The registry's warm pool: a sandboxed plugin whose configuration has an idle sandbox is loaded into it. */
  warmPool?: WarmPool;
  /** Brokered fetch for the sandbox's `restricted` network mode. */
  fetch?: (request: FetchRequest, signal: AbortSignal) => Promise<FetchResponse>;
  /**
   * Receives what the plugin process reports its code declares (untrusted input), once `Initialize` succeeded; a throw
   * fails the start (the process is ended).
   */
  onInitialized?: (declared: unknown) => void;
  /** Longest time `Initialize` may take, ms. */
  initTimeoutMs?: number;
  /** Per-plugin bounds of the channel and the log (see `PluginQuotaOptions`). */
  quotas?: ChannelQuotas;
  /** Receives every `QuotaExceeded` the plugin runs into on the host (the registry records violations). */
  onQuotaExceeded?: (error: PluginError) => void;
  /** Largest answer a hook handler of the plugin may return, bytes (`PluginQuotaOptions.hookOutputBytes`). */
  maxHookOutputBytes?: number;
  /** How much of the plugin's stdout/stderr reaches `log` (default {@link DEFAULT_PLUGIN_OUTPUT_BUDGET}). */
  outputBudget?: PluginOutputBudget;
  /** Called once per budget window in which a stream went over budget (for the registry to count a violation). */
  onOutputExceeded?: (stream: 'stdout' | 'stderr') => void;
}

/** The IPC side of `PluginQuotaOptions`. */
export interface ChannelQuotas {
  maxConcurrentRequests?: number;
  maxQueuedRequests?: number;
  maxQueuedRequestBytes?: number;
  stallTimeoutMs?: number;
  logBudget?: Partial<LogBudget>;
  requestRate?: Partial<RequestRate>;
  /** Log lines past the budget the plugin may have dropped before it is ended (the registry: untrusted plugins). */
  droppedLogRate?: Partial<RequestRate>;
  /** Bytes of requests the plugin may send a second and at once before it is ended (the registry: untrusted plugins). */
  requestByteRate?: Partial<RequestRate>;
}

/** How long a plugin whose channel ended (without a protocol violation) may take to exit before it is killed. */
const EXIT_AFTER_CHANNEL_END_MS = 2000;

/**
 * Whether `e` says a time budget ran out: the hook registry's budget, which aborts the call's signal with a
 * `HandlerTimeout`, or an IPC timeout (`Timeout`; hook calls have none of their own, other requests do).
 */
export function isTimeoutError(e: unknown): boolean {
  if (isPluginError(e)) return e.code === 'Timeout' || e.code === 'HookTimeout';
  return e instanceof HandlerTimeout;
}

/** How long the timed-out call ran, ms, when the timeout error says so (`HandlerTimeout`, a `HookTimeout`'s details). */
export function elapsedOf(e: unknown): number | undefined {
  if (e instanceof HandlerTimeout) return e.elapsedMs;
  const elapsed = isPluginError(e) ? e.details?.elapsedMs : undefined;
  return typeof elapsed === 'number' ? elapsed : undefined;
}

/** What {@link watchContextFor} needs of the host's `PluginContext`. */
export type WatchedContext = Pick<PluginContext, 'subscribe' | 'has' | 'find' | 'keys'>;

/**
 * Keeps a native out-of-process plugin's local context copy current (it can't await an IPC read from C): sends the
 * current value of every key in `read` (`'*'`: all keys) now, then subscribes and pushes each later change from
 * inside the write that made it — so the update is on the stream before any hook call the writer makes next. It
 * pushes the value the context holds when the listener runs, not the change's: a listener that rewrote the key in
 * between (nested writes notify inner-first) must not leave the plugin with the older value. Returns the unsubscribe.
 *
 * Only bytes and strings mean anything to the C ABI (any other value gives `PW_ERR_TYPE`, in process too), so other
 * values travel as `null` — "present, not bytes" — which the native loader answers with that same `PW_ERR_TYPE`. A
 * host object that isn't plain data (a class instance, a function) therefore never makes the update undeliverable.
 */
export function watchContextFor(
  context: WatchedContext,
  read: readonly string[],
  client: Pick<PluginProcessClient, 'pushContext'>,
): () => void {
  const readsAll = read.includes(ANY_KEY);
  const push = (key: string): void => {
    if (context.has(key)) client.pushContext(key, { removed: false, value: nativeValue(context.find(key)) });
    else client.pushContext(key, { removed: true });
  };
  const keys = readsAll ? [ANY_KEY] : [...new Set(read)];
  const unsubscribe = keys.map((k) => context.subscribe(k, (change) => push(change.key)));
  for (const key of readsAll ? context.keys() : keys) if (context.has(key)) push(key);
  return () => {
    for (const u of unsubscribe) u();
  };
}

function nativeValue(value: unknown): Uint8Array | string | null {
  return value instanceof Uint8Array || typeof value === 'string' ? value : null;
}

/** Path of the plugin-side runtime entry (built into `runtime/` beside this module). */
export function runtimeEntry(): string {
  return fileURLToPath(new URL('./runtime/runtime.cjs', import.meta.url));
}

/** The starter beside the runtime: runs it from the host's code cache (runtime-start.ts). */
function starterEntry(): string {
  return fileURLToPath(new URL('./runtime/start.cjs', import.meta.url));
}

/**
 * Private copies are `plugward-copy-<host tag>-…`: a later host sweeps those of a host that was killed — only folders
 * of its own user (the sweep skips links and what others planted in a shared temporary folder).
 */
const COPY_PREFIX = 'plugward-copy-';

/**
 * Makes a dead host's read-only copy folder removable by a non-root host (root removes it anyway). The sweep hands over
 * only a real directory of this user's, in a folder where no other user can swap it.
 */
function unlockCopy(dir: string): void {
  fsSync.chmodSync(dir, 0o700);
}

/** Removes the private copies and warm folders of hosts that are gone; each sweep runs once per process. */
function sweepKilledHosts(): void {
  sweepStaleSandboxDirsOnce(os.tmpdir(), COPY_PREFIX, unlockCopy);
  sweepStaleWarmFolders();
}

/**
 * Writes the verified bytes (and their manifest) into a fresh private 0700 directory: the plugin process loads this
 * copy, so swapping the original file after verification changes nothing. A warm sandbox's copy goes into its warm
 * folder (`parent`), and on a root host is made readable by the sandbox's leased uid's group `gid` (root keeps owning
 * it).
 */
async function privateCopy(
  verified: VerifiedArtifact,
  parent = os.tmpdir(),
  gid?: number,
): Promise<{ dir: string; file: string }> {
  const dir = await fs.mkdtemp(path.join(parent, `${COPY_PREFIX}${hostTag()}-`));
  await fs.chmod(dir, 0o700);
  // A directory above the copy that others can write lets them swap it between this write and the plugin's load.
  try {
    assertPrivateHostState(dir, 'directory', 'the private copy');
  } catch (e) {
    await fs.rm(dir, { recursive: true, force: true });
    throw e;
  }
  const file = verified.manifest.artifact.file;
  if (file !== path.basename(file)) {
    throw new PluginError(
      'InvalidManifest',
      `artifact file name ${JSON.stringify(file)} must not contain directories`,
    );
  }
  await fs.writeFile(path.join(dir, file), verified.bytes, { mode: 0o400 });
  await fs.writeFile(path.join(dir, file + MANIFEST_SUFFIX), JSON.stringify(verified.manifest), {
    mode: 0o400,
  });
  if (gid !== undefined) {
    for (const f of [file, file + MANIFEST_SUFFIX]) {
      await fs.chown(path.join(dir, f), 0, gid);
      await fs.chmod(path.join(dir, f), 0o440);
    }
    await fs.chown(dir, 0, gid);
  }
  await fs.chmod(dir, gid === undefined ? 0o500 : 0o550);
  return { dir, file };
}

/**
 * Removes a private copy made by {@link privateCopy}: its two files, then the folder — three calls on the thread pool
 * where a recursive removal makes nine (closing a registry removes hundreds). A folder holding anything else (a
 * process-tier plugin runs as the host's uid and may write there) is removed whole. Never throws.
 */
async function removePrivateCopy(dir: string, file: string): Promise<void> {
  try {
    // Root removes entries of the read-only folder as it is; another host user makes it writable first.
    if (process.getuid?.() !== 0) await fs.chmod(dir, 0o700);
    await Promise.all([file, file + MANIFEST_SUFFIX].map((f) => fs.unlink(path.join(dir, f))));
    await fs.rmdir(dir);
  } catch {
    await fs.chmod(dir, 0o700).catch(() => {});
    await fs.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

interface Started {
  /** The plugin's end of the IPC: fd 3's socket, or the worker's MessagePort (frames as port messages). */
  socket: IpcTransport;
  watched: WatchedProcess;
  pid: number | undefined;
  /** The process tier's: how the plugin's processes are ended with it. */
  containment?: ProcessContainment;
  kill(): void;
  metrics(client: PluginProcessClient, options?: TierMetricsOptions): PluginMetrics | Promise<PluginMetrics>;
  oomKilled(): Promise<boolean>;
  /** The plugin's stdout/stderr pipes (never the host's own fds), read by {@link readPluginOutput}. */
  stdout?: unknown;
  stderr?: unknown;
}

function childEnv(): Record<string, string> {
  // The plugin process gets no host secrets: only what Node needs.
  return { PATH: '/usr/bin:/bin', NODE_OPTIONS: '', LANG: 'C.UTF-8' };
}

/**
 * Finds or makes the host's V8 code cache of the plugin runtime now, and resolves `true` once plugin processes and
 * sandboxes start from it (`false`: none — turned off with `PLUGWARD_CODE_CACHE=0`, or it could not be made here).
 * Without this call the first out-of-process start makes it in the background and starts without it; a host that
 * wants its first plugins to start fast calls this at its own start. The worker tier does not use it.
 */
export async function prepareRuntimeCodeCache(): Promise<boolean> {
  return (await whenRuntimeCodeCache(starterEntry(), runtimeEntry(), childEnv())) !== undefined;
}

/**
 * How a plugin process starts: the runtime's entry and arguments (the private copy, and the start-up trace flag when
 * tracing is on), and the code cache it reads, if any — through the starter when the host has a code cache of the
 * runtime (see runtimeCodeCache), as `runtime.cjs` itself until then.
 */
function runtimeStart(dir: string, file: string): { args: string[]; cache: string | undefined } {
  const tail = startupTraceEnabled ? [dir, file, STARTUP_TRACE_ARG] : [dir, file];
  const cache = runtimeCodeCache(starterEntry(), runtimeEntry(), childEnv());
  if (cache === undefined) return { args: [runtimeEntry(), ...tail], cache: undefined };
  return {
    args: [starterEntry(), CODE_CACHE_ARG, cache.file, cache.digest, cache.bundle, ...tail],
    cache: cache.file,
  };
}

/** Whether the process-group fallback was logged (once per host process). */
let fallbackLogged = false;

/**
 * Starts a process-tier plugin through {@link processTierCommand}: in a pid namespace of its own where the host can
 * make one, else in a process group of its own (see `ProcessContainment`). Either chain starts with
 * `setpriv --pdeathsig KILL` (util-linux; plain `node` where it is missing), so a host killed with SIGKILL takes the
 * chain along even while the plugin is busy in a hook (its runtime would otherwise never see fd 3 close). A host that
 * died before the signal was armed is caught by the runtime itself: fd 3 is at its end before any plugin code ran (that
 * code runs only after the host's Initialize).
 */
async function startProcess(dir: string, file: string, log: OutOfProcessOptions['log']): Promise<Started> {
  const { chain, containment } = await processTierChain();
  if (containment.mechanism === 'process-group' && !fallbackLogged) {
    fallbackLogged = true;
    log(
      'warn',
      `process tier: no pid namespace (${containment.reason}); a process a plugin moves out of its process group, ` +
        'or one running when the host is killed with SIGKILL, is not ended with it',
    );
  }
  const cmd = processTierCommand(chain, [process.execPath, ...runtimeStart(dir, file).args]);
  const child: ChildProcess = spawn(cmd.file, cmd.args, {
    // Pipes, never the host's fds: a plugin could reopen /proc/self/fd/1 and read, truncate or fill the host's log.
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: childEnv(),
    // Its own session and process group: a terminal's Ctrl-C reaches the host only, which ends its plugins itself.
    // Without a namespace, what the plugin starts stays in the group unless it leaves it, and is ended with it (below).
    detached: true,
  });
  const socket = child.stdio[3] as Duplex | null;
  if (!socket || child.pid === undefined) {
    child.kill('SIGKILL');
    throw new PluginError('LoadError', 'could not start the plugin process');
  }
  return containment.mechanism === 'pid-namespace'
    ? namespaced(child, child.pid, socket, containment)
    : grouped(child, child.pid, socket, containment);
}

/**
 * A runtime in a pid namespace: `outer` (the host's child) is `unshare`, its child the namespace's init, the init's
 * child the runtime. The runtime's host pid (for `PluginInfo.pid` and the monitor) is found once it runs — it has
 * answered Initialize before anyone asks. Ending it kills the init, which ends every process of the namespace; the
 * outer exits only once none is left, so its `exit` means the plugin is gone whole. Never signalled after that exit.
 */
function namespaced(
  child: ChildProcess,
  outer: number,
  socket: Duplex,
  containment: ProcessContainment,
): Started {
  let ended = false;
  child.once('exit', () => {
    ended = true;
  });
  let pids: { init: number | undefined; runtime: number | undefined } = {
    init: undefined,
    runtime: undefined,
  };
  const resolve = (): typeof pids => {
    if (pids.runtime === undefined && !ended) pids = namespacePids(outer);
    return pids;
  };
  const exitOf = () =>
    child.exitCode === null && child.signalCode === null
      ? { code: null, signal: null }
      : runtimeExitOf(child.exitCode, child.signalCode);
  const watched: WatchedProcess = {
    get pid() {
      return resolve().runtime;
    },
    get exitCode() {
      return exitOf().code;
    },
    get signalCode() {
      return exitOf().signal;
    },
    once(_event, listener) {
      child.once('exit', (code, signal) => {
        const x = runtimeExitOf(code, signal);
        listener(x.code, x.signal);
      });
      return watched;
    },
  };
  // The monitor's reader opens the runtime's /proc files at its first sweep (the runtime runs by then); between the
  // runtime's end and the outer's exit (the init and unshare leaving) it reads `exited`.
  const runtime = {
    get pid() {
      return resolve().runtime;
    },
    get exitCode() {
      return child.exitCode;
    },
    get signalCode() {
      return child.signalCode;
    },
    once: (event: 'exit', listener: () => void) => child.once(event, listener),
  } as Pick<ChildProcess, 'pid' | 'exitCode' | 'signalCode' | 'once'>;
  let reading: ReturnType<typeof processTierReading> | undefined;
  return {
    socket,
    watched,
    get pid() {
      return resolve().runtime;
    },
    containment,
    kill: () => {
      if (ended) return;
      const { init } = resolve();
      // Not found (not forked yet, or already leaving): the outer's death takes the init along (its parent-death signal).
      if (init === undefined || !killNamespace(outer, init)) child.kill('SIGKILL');
    },
    metrics: (_client, options) => {
      reading ??= processTierReading(runtime);
      return reading(options);
    },
    oomKilled: async () => false,
    stdout: child.stdout,
    stderr: child.stderr,
  };
}

/**
 * The fallback: the runtime in a process group (and session) of its own, killed with it and at its end. What the
 * plugin starts stays in the group unless it leaves it (`setsid`, `setpgid`); nothing is tracked past a host's SIGKILL.
 */
function grouped(child: ChildProcess, pid: number, socket: Duplex, containment: ProcessContainment): Started {
  const reading = processTierReading(child);
  // The group outlives its leader while a member runs (the kernel keeps the number in use meanwhile), so killing it
  // after the runtime ended reaches exactly the processes the plugin left in it.
  // Once the runtime ended and its group was killed, the number is free and may become someone else's group: never
  // signal it again.
  let ended = false;
  const killGroup = (): void => {
    if (ended) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // no member left
    }
  };
  child.once('exit', () => {
    killGroup();
    ended = true;
  });
  return {
    socket,
    watched: child,
    pid,
    containment,
    kill: () => {
      if (ended) return;
      killGroup();
      child.kill('SIGKILL');
    },
    metrics: (_client, options) => reading(options),
    oomKilled: async () => false,
    stdout: child.stdout,
    stderr: child.stderr,
  };
}

function startWorker(dir: string, file: string, limits: ResourceLimits): Started {
  const { port1, port2 } = new MessageChannel();
  const heapMb = Math.max(16, Math.floor(limits.maxHeapBytes / (1024 * 1024)));
  const worker = new Worker(runtimeEntry(), {
    workerData: { port: port2, dir, file, trace: startupTraceEnabled },
    transferList: [port2],
    env: childEnv(),
    resourceLimits: {
      maxOldGenerationSizeMb: heapMb,
      maxYoungGenerationSizeMb: Math.min(64, Math.max(4, heapMb >> 3)),
    },
    // Piped to the worker object (not the host's process.stdout) and read with a budget like the other tiers.
    stdout: true,
    stderr: true,
  });
  let oom = false;
  worker.on('error', (e) => {
    if ((e as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY') oom = true;
  });
  const watched: WatchedProcess = {
    pid: undefined,
    once(_event, listener) {
      worker.once('exit', (code) => listener(code, null));
      return watched;
    },
  };
  return {
    socket: port1,
    watched,
    pid: undefined,
    kill: () => {
      worker.terminate().catch(() => {});
    },
    // The worker reports its own V8 heap (the host's RSS would say nothing about this plugin).
    metrics: (client) => client.getMetrics({ timeoutMs: 2000 }),
    oomKilled: async () => oom,
    stdout: worker.stdout,
    stderr: worker.stderr,
  };
}

async function startSandbox(
  sandbox: SandboxBackend<Duplex>,
  dir: string,
  file: string,
  opts: OutOfProcessOptions,
  warm: WarmSandbox | undefined,
): Promise<Started> {
  const start = warm === undefined ? runtimeStart(dir, file) : undefined;
  const proc: SandboxedProcess<Duplex> =
    warm?.proc ??
    (await sandbox.spawn({
      command: process.execPath,
      args: start?.args ?? [],
      config: sandboxConfigFor(opts.requirements, opts.limits),
      // The code cache is read-only inside like the runtime (bubblewrap: under the neutral root; Landlock: in the
      // content-addressed runtime store), and checked by its digest before use.
      readOnlyPaths: [
        ...runtimeReadOnlyPaths(runtimeEntry()),
        ...(start?.cache === undefined ? [] : [start.cache]),
        dir,
      ],
      limits: opts.limits,
      label: opts.verified.manifest.name,
    }));
  let exitInfo: { oomKilled: boolean } | undefined;
  const reading = sandboxTierReading(proc);
  const watched: WatchedProcess = {
    pid: proc.pid,
    once(_event, listener) {
      proc.exit.then(
        (x) => {
          exitInfo = x;
          listener(x.code, x.signal as NodeJS.Signals | null);
        },
        () => listener(null, null),
      );
      return watched;
    },
  };
  return {
    socket: proc.ipc,
    watched,
    pid: proc.pid,
    kill: () => proc.kill('SIGKILL'),
    metrics: (_client, options) => reading(options),
    oomKilled: async () => (await proc.exit.catch(() => exitInfo ?? { oomKilled: false })).oomKilled,
    stdout: proc.stdout,
    stderr: proc.stderr,
  };
}

/**
 * What the runtime needs to read inside a sandbox: its own folder (dist/runtime: the CommonJS bundle, nothing else the
 * host built) and the koffi package (native plugins; also the strict sandbox's lockdown preload).
 */
export function runtimeReadOnlyPaths(runtime: string): string[] {
  // Walking the installed packages for koffi costs ≈ 2 ms of host CPU: once per runtime path and process.
  let paths = readOnlyPathsOf.get(runtime);
  if (paths === undefined) {
    const dir = path.dirname(runtime);
    // koffi (native, kept out of the bundle) is the only package it resolves, from the registry package's root.
    paths = [dir, ...packageReadOnlyPaths(['koffi'], path.dirname(path.dirname(dir)))];
    readOnlyPathsOf.set(runtime, paths);
  }
  return [...paths];
}

const readOnlyPathsOf = new Map<string, string[]>();

/**
 * Starts a plugin at the worker, process or sandbox tier: copies the verified bytes privately, starts the plugin-side
 * runtime, connects the framed IPC channel, forwards its hook registrations and context calls, and sends Initialize.
 * A hook call that overruns its time budget ends the plugin's process/worker (a stuck plugin can't be trusted to
 * stop), which the registry then reports as a crash.
 */
export async function startOutOfProcess(opts: OutOfProcessOptions): Promise<TierHandle> {
  const name = opts.verified.manifest.name;
  if (opts.tier === 'sandbox' && !opts.sandbox) {
    throw new PluginError('SandboxUnavailable', `plugin ${name}: no sandbox backend configured`, {
      plugin: name,
    });
  }
  if (opts.tier === 'worker' && opts.verified.manifest.kind === 'native') {
    // Placement never puts one here; this start path ends a worker with terminate(), which native code can't take.
    throw new PluginError('Unsupported', `plugin ${name} is native: it can't run at the worker tier`, {
      plugin: name,
      details: { tier: 'worker', kind: 'native' },
    });
  }
  hostStartupMark(name, 'start');
  // What hosts killed with SIGKILL left (they ran no cleanup), once per process, pool or not.
  sweepKilledHosts();
  // A warm sandbox of exactly this plugin's configuration, if the pool has one: it gets the copy in its warm folder.
  const claim = opts.tier === 'sandbox' ? opts.warmPool?.claim(opts.requirements, opts.limits) : undefined;
  const warm = claim?.sandbox;
  let placed: { dir: string; file: string };
  try {
    placed = warm
      ? await warm.handOff((parent, gid) => privateCopy(opts.verified, parent, gid))
      : await privateCopy(opts.verified);
  } catch (e) {
    warm?.proc.kill('SIGKILL');
    claim?.done();
    throw e;
  }
  const { dir, file } = placed;
  hostStartupMark(name, 'copied');
  // Once, and awaited by stop(): close() must not resolve while a private copy is still on disk.
  let removal: Promise<void> | undefined;
  const cleanup = (): Promise<void> => {
    removal ??= removePrivateCopy(dir, file);
    return removal;
  };
  let started: Started;
  try {
    started =
      opts.tier === 'process'
        ? await startProcess(dir, file, opts.log)
        : opts.tier === 'worker'
          ? startWorker(dir, file, opts.limits)
          : await startSandbox(opts.sandbox!, dir, file, opts, warm);
  } catch (e) {
    claim?.done();
    await cleanup();
    throw e;
  }
  hostStartupMark(name, 'spawned');
  const s = started;
  readPluginOutput(s.stdout, 'stdout', opts.log, opts.outputBudget, () => opts.onOutputExceeded?.('stdout'));
  readPluginOutput(s.stderr, 'stderr', opts.log, opts.outputBudget, () => opts.onOutputExceeded?.('stderr'));
  let stopping = false;
  const maxOutput = opts.maxHookOutputBytes ?? DEFAULT_HOOK_OUTPUT_BYTES;
  // A call that overran its budget ends the plugin (a stuck plugin can't be trusted to stop). Read in the client's
  // failure path: no wrapper (async function, promise) around each forwarded call (issue 17).
  const onHookFailure = (e: unknown, info: HookCallInfo): void => {
    if (!stopping && (isTimeoutError(e) || (info.signal?.aborted && isTimeoutError(info.signal.reason)))) {
      opts.log(
        'warn',
        `hook ${info.hookName} overran its budget of ${opts.limits.maxCpuTimeMs} ms: ending the plugin`,
      );
      s.kill();
    }
  };
  const q = opts.quotas ?? {};
  const channel = new IpcChannel(s.socket, {
    role: 'host',
    label: name,
    maxConcurrentRequests: q.maxConcurrentRequests,
    maxQueuedRequests: q.maxQueuedRequests,
    maxQueuedRequestBytes: q.maxQueuedRequestBytes,
    stallTimeoutMs: q.stallTimeoutMs,
    onQuotaExceeded: opts.onQuotaExceeded,
    ...(q.requestByteRate === undefined ? {} : { requestByteRate: q.requestByteRate }),
  });
  // A plugin without its channel can do nothing useful, and one that broke the protocol can't be trusted to stop:
  // it ends at once (a protocol violation) or after a grace for its own exit (it closed its end, it crashed).
  let violation: TierExit['protocolViolation'];
  void channel.closed.then((reason) => {
    if (stopping) return;
    const hostile = protocolViolationOf(reason);
    if (hostile !== undefined) {
      violation = { reason: hostile, message: reason.message };
      s.kill();
    } else {
      setTimeout(() => {
        if (!stopping) s.kill();
      }, EXIT_AFTER_CHANNEL_END_MS).unref();
    }
  });
  const client = new PluginProcessClient(channel, {
    pluginName: name,
    hooks: opts.registrar,
    context: opts.context,
    log: opts.log,
    process: s.watched,
    // One deadline per call (issue 17): every handler reaches the hook registry through the registry's registrar
    // with a time budget, whose timer aborts the call's signal — which ends the IPC request — so the request needs no
    // timer of its own (a second timer per call cost host CPU on every call, and equal timers raced).
    hookTimeoutMs: 0,
    fetch: opts.fetch,
    logBudget: q.logBudget,
    requestRate: q.requestRate,
    ...(q.droppedLogRate === undefined ? {} : { droppedLogRate: q.droppedLogRate }),
    onQuotaExceeded: opts.onQuotaExceeded,
    maxHookOutputBytes: maxOutput,
    onHookFailure,
  });
  // Before Initialize: the plugin's copy is complete when its init runs, and no change can fall between.
  const unwatch =
    opts.verified.manifest.kind === 'native' && opts.hostContext
      ? watchContextFor(opts.hostContext, opts.requirements.context.read, client)
      : () => {};
  const ended = client.exited.then(async (x): Promise<TierExit> => {
    unwatch();
    await cleanup();
    return {
      exitCode: x.exitCode,
      signal: x.signal,
      oomKilled: await s.oomKilled(),
      protocolViolation: violation,
    };
  });
  // An exit the host asked for (`shutdown`/`release` under way) is the unload's to report, never the exit watcher's.
  const exited = ended.then((x) => (stopping ? new Promise<TierExit>(() => {}) : x));
  try {
    const declared = await client.initialize(
      {
        pluginName: name,
        kind: opts.verified.manifest.kind,
        artifactPath: path.join(dir, file),
        tier: opts.tier,
        limits: opts.limits,
        requirements: opts.requirements,
      },
      { timeoutMs: opts.initTimeoutMs ?? 30_000 },
    );
    hostStartupMark(name, 'initialized');
    claim?.done();
    opts.onInitialized?.(declared);
  } catch (e) {
    claim?.done();
    stopping = true;
    unwatch();
    s.kill();
    await client.close().catch(() => {});
    await settleWithin(() => client.exited, 5000, `${name} exit`);
    await cleanup();
    const hostile = protocolViolationOf(e) ?? protocolViolationOf(channel.closeReason);
    if (hostile !== undefined) {
      throw new PluginError(
        'ProtocolViolation',
        `plugin ${name} broke the IPC protocol during init (${hostile})`,
        {
          plugin: name,
          cause: e,
          details: { reason: hostile },
        },
      );
    }
    throw e;
  }
  return {
    tier: opts.tier,
    pid: s.pid,
    ...(s.containment === undefined ? {} : { containment: s.containment }),
    exited,
    ended,
    metrics: (options) => s.metrics(client, options),
    async shutdown(timeoutMs) {
      stopping = true;
      // The plugin is going: nothing more to keep current (and no writes during its shutdown echo back to it).
      unwatch();
      await client.shutdown({ timeoutMs });
    },
    async release(exitWaitMs) {
      stopping = true;
      unwatch();
      // Whatever the plugin did, its process ends here: at once (exitWaitMs 0), or after it had time to exit on its own.
      const gone = client.exited.then(() => undefined);
      if (exitWaitMs <= 0) s.kill();
      else if (await settleWithin(() => gone, Math.min(exitWaitMs, 2000), `${name} exit`)) s.kill();
      const killed = await settleWithin(() => gone, 5000, `${name} kill`);
      await client.close().catch(() => {});
      await cleanup();
      return killed;
    },
  };
}
