// The plugin-side runtime: the entry of every plugin process, sandboxed process and worker. It loads the verified
// private copy it is pointed at, then serves the plugin over the framed IPC channel (fd 3, or a MessagePort in a
// worker) until the host asks it to shut down or goes away — so no plugin process ever outlives its host.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { isMainThread, MessageChannel, type MessagePort, workerData } from 'node:worker_threads';
import { connectToHost, IpcChannel, PLUGIN_IPC_FD, processMetrics, servePlugin } from '@plugward/ipc';
import { loadVerified } from '@plugward/loader';
import { hashBytes, manifestPathFor, readFileCapped, readManifest } from '@plugward/security';
import {
  type AnyContextKey,
  type ContextChangedRequest,
  contextKeyName,
  DEFAULT_RESOURCE_LIMITS,
  MANIFEST_SUFFIX,
  MINIMAL_REQUIREMENTS,
  type PluginContextApi,
  PluginError,
  type PluginInstance,
  type PluginManifest,
  type PluginMetrics,
  type PluginRuntimeApi,
  parseProcStat,
  procCpuTimeMs,
  toPluginError,
} from '@plugward/types';
import { MAKE_CODE_CACHE_ARG, RUNTIME_START, type RuntimeStart } from './code-cache-protocol.js';
import { epochMs, STARTUP_TRACE_ARG } from './startup-trace.js';
import { readHandoff, WARM_ARG, WARM_READY } from './warm-handoff.js';

/** What the starter handed over (start.cjs; none in a worker or under `node runtime.cjs`), taken before any plugin runs. */
const started = ((): RuntimeStart | undefined => {
  const slot = globalThis as Record<symbol, RuntimeStart | undefined>;
  const handed = slot[RUNTIME_START];
  delete slot[RUNTIME_START];
  return handed;
})();

/**
 * CPU time of the calling thread, in ms, from /proc/thread-self/stat (utime + stime). In a worker, process.cpuUsage()
 * is the whole host process — charging the host's CPU to the plugin would make a busy host unload an idle plugin — and
 * Node 20 has no per-thread counter. `readFileSync` opens the file on this very thread, so `thread-self` is the
 * worker's thread. Undefined when unreadable (never a made-up 0).
 */
function threadCpuTimeMs(): number | undefined {
  try {
    return procCpuTimeMs(parseProcStat(fs.readFileSync('/proc/thread-self/stat', 'latin1')));
  } catch {
    return undefined;
  }
}

function workerMetrics(): PluginMetrics {
  const heap = v8.getHeapStatistics();
  const cpuTimeMs = threadCpuTimeMs();
  return {
    timestamp: Date.now(),
    source: 'v8',
    memoryBytes: heap.used_heap_size + heap.external_memory,
    heapLimitBytes: heap.heap_size_limit,
    ...(cpuTimeMs === undefined ? {} : { cpuTimeMs }),
  };
}

/**
 * Whether this process can change neither `file` nor its directory (the Landlock backend's copy: root-owned 0440 in a
 * 0750 directory, or any copy under a Landlock read-only rule, with a noexec scratch as the only writable place).
 * Root passes every access check, so a root process never counts it as unwritable.
 */
function notWritable(file: string): boolean {
  const denied = (p: string): boolean => {
    try {
      fs.accessSync(p, fs.constants.W_OK);
      return false;
    } catch {
      return true;
    }
  };
  return denied(file) && denied(path.dirname(file));
}

/** Whether the mount `file` lives on is read-only (the longest mount point of /proc/self/mountinfo above it). */
function onReadOnlyMount(file: string): boolean {
  try {
    const real = fs.realpathSync(file);
    let best = '';
    let readOnly = false;
    for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      const point = (f[4] ?? '').replace(/\\040/g, ' ');
      if (f[5] === undefined || point.length < best.length) continue;
      if (real === point || real.startsWith(point === '/' ? '/' : `${point}/`)) {
        best = point;
        readOnly = f[5].split(',').includes('ro');
      }
    }
    return readOnly;
  } catch {
    return false;
  }
}

async function loadCopy(dir: string, file: string): Promise<PluginInstance> {
  const artifactPath = path.join(dir, file);
  // The host verified these bytes before copying them; loadVerified hashes the copy read here against the manifest
  // (a mismatch means the copy was tampered with). No signature check: the runtime has no keys, the host had.
  const manifest = await readManifest(artifactPath);
  if (!isMainThread && manifest.kind === 'native') {
    // The host never places one here: a worker can't be stopped inside native code (see placePlugin).
    throw new PluginError(
      'Unsupported',
      `plugin ${manifest.name} is native: it can't run in a worker thread`,
      {
        plugin: manifest.name,
      },
    );
  }
  const bytes = await readFileCapped(artifactPath, manifest.artifact.size, 'private copy');
  return loadVerified(
    {
      manifest,
      bytes,
      hash: manifest.artifact.sha3_512,
      artifactPath,
      manifestPath: manifestPathFor(artifactPath),
    },
    {
      signatureVerified: false,
      // In a sandbox the copy is on a read-only mount (bwrap) or unwritable to the plugin's uid (Landlock), so nobody
      // can swap it, and the writable /tmp is noexec: dlopen it where it is.
      loadNativeInPlace: onReadOnlyMount(artifactPath) || notWritable(artifactPath),
      ...(started === undefined ? {} : { importModule: started.importModule }),
    },
  );
}

/** A plugin as the runtime serves it: the instance, and for a native plugin the sink of the host's context pushes. */
interface Served {
  instance: PluginInstance;
  onContextChanged?: (change: ContextChangedRequest) => void;
}

/**
 * Native code can't await: the C ABI's context_get is synchronous, while the context here is an IPC proxy. So a native
 * plugin reads from a local copy of the keys it declared readable (`'*'`: every key), which the host keeps current:
 * it sends the current values before `Initialize`, then a `ContextChanged` from inside every write of such a key —
 * the host's, another plugin's, or this plugin's own (the host sends the value it holds after the write, so even a
 * host listener that rewrites the key is reflected). The updates and the host's `ExecuteHook`s share one ordered
 * stream and `servePlugin` applies an update before it dispatches the next frame, so a hook call made after
 * `context.set` on the host sees the new value here, as it would in process. Writes go to the host; the copy
 * changes when the host's update for them arrives (before the write's own answer).
 */
function withLocalContext(instance: PluginInstance): Served {
  if (instance.kind !== 'native') return { instance };
  const copy = new Map<string, unknown>();
  const { read, write } = instance.requirements.context;
  const readsAll = read.includes('*');
  // The host's view enforces the grants too, but only asynchronously (after the C call returned OK): refuse an
  // undeclared key here, synchronously, so the plugin gets PW_ERR_PERMISSION_DENIED exactly as in process.
  const check = (n: string, allowed: readonly string[], what: 'read' | 'write') => {
    if (allowed.includes('*') || allowed.includes(n)) return;
    throw new PluginError(
      'PermissionDenied',
      `plugin "${instance.name}" may not ${what} context key "${n}" (not in its declared ${what} keys)`,
      { plugin: instance.name, details: { key: n, access: what } },
    );
  };
  const onContextChanged = (change: ContextChangedRequest): void => {
    // The host sends only readable keys; anything else would be a copy nobody may read.
    if (!readsAll && !read.includes(change.key)) return;
    if (change.removed) copy.delete(change.key);
    else copy.set(change.key, change.value);
  };
  const served: PluginInstance = {
    name: instance.name,
    version: instance.version,
    author: instance.author,
    description: instance.description,
    kind: instance.kind,
    declaredLimits: instance.declaredLimits,
    requirements: instance.requirements,
    registerHooks: (hooks) => instance.registerHooks(hooks),
    shutdown: () => instance.shutdown(),
    unload: () => instance.unload(),
    init(ctx: PluginContextApi, runtime: PluginRuntimeApi) {
      const local: PluginContextApi = {
        get: <T>(key: AnyContextKey<T>) => {
          const n = contextKeyName(key);
          check(n, read, 'read');
          // The copy holds every readable key the host has, so a key missing here is missing there (as in process).
          if (!copy.has(n)) {
            throw new PluginError('ContextError', `context key "${n}" is not set`, {
              plugin: instance.name,
              details: { key: n },
            });
          }
          return copy.get(n) as T;
        },
        has: (key) => {
          const n = contextKeyName(key);
          check(n, read, 'read');
          return copy.has(n);
        },
        set: (key, value) => {
          check(contextKeyName(key), write, 'write');
          return ctx.set(key, value);
        },
        remove: (key) => {
          check(contextKeyName(key), write, 'write');
          return ctx.remove(key);
        },
        keys: () => [...copy.keys()],
      };
      return instance.init(local, runtime);
    },
  };
  return { instance: served, onContextChanged };
}

/** A stand-in that reports why loading failed, through the normal Initialize error path. */
function failedInstance(error: PluginError, name: string): PluginInstance {
  const fail = async () => {
    throw error;
  };
  return {
    name,
    version: '0.0.0',
    author: '',
    description: undefined,
    kind: 'js',
    declaredLimits: {},
    requirements: MINIMAL_REQUIREMENTS,
    init: fail,
    registerHooks: fail,
    shutdown: async () => {},
    unload: async () => {},
  };
}

function manifestName(dir: string | undefined, file: string): string | undefined {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(dir ?? '', file + MANIFEST_SUFFIX), 'utf8')) as {
      name?: unknown;
    };
    return typeof m.name === 'string' ? m.name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Prints one step of the start-up timeline (see startup-trace.ts) when the host asked for it: wall clock (epoch ms)
 * and the process's CPU time so far (ms; robust against a loaded machine, which stretches the wall clock), or `-`
 * (`cpuMs` null) for a step dated after the fact, whose CPU time then is unknown.
 */
function traceStep(on: boolean, step: string, at = epochMs(), cpuMs?: number | null): void {
  if (!on) return;
  const u = process.cpuUsage();
  const cpu = cpuMs === null ? '-' : (cpuMs ?? (u.user + u.system) / 1000).toFixed(2);
  process.stderr.write(`plugward-startup ${step} ${at.toFixed(2)} ${cpu}\n`);
}

/** The runtime's own no-op plugin: constant, no import, nothing of any plugin. */
const WARM_UP_SOURCE =
  "export default { name: 'plugward-warm-up', version: '0.0.0', author: 'plugward', init() {}, registerHooks(h) { h.register('warm-up', 0, (d) => d); } };";

/**
 * While a warm runtime waits: one load of {@link WARM_UP_SOURCE} through the very path a plugin's copy takes
 * (`loadCopy`: manifest, capped read, hash, import lexer, private copy, `import()`, definition checks) from a scratch
 * folder, then one `Initialize`, hook call and `Shutdown` of it served over an in-process channel pair — so the
 * one-time costs of that path (the ESM loader, the lexer's WebAssembly, compiling the manifest, channel, codec and
 * server code on first use) are paid before a plugin waits for them. All of it is the runtime's own code and constant
 * data; the folder is removed and the channel pair closed after. Best effort: a failure only makes the load slower.
 */
async function warmUp(): Promise<void> {
  const bytes = new TextEncoder().encode(WARM_UP_SOURCE);
  const file = 'warm-up.mjs';
  const manifest: PluginManifest = {
    manifestVersion: 1,
    name: 'plugward-warm-up',
    version: '0.0.0',
    author: 'plugward',
    kind: 'js',
    artifact: { file, sha3_512: hashBytes(bytes), size: bytes.length },
    signature: { algorithm: 'ed25519', keyId: '0'.repeat(16), value: '0'.repeat(128) },
  };
  let dir: string | undefined;
  try {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plugward-warm-up-'));
    fs.writeFileSync(path.join(dir, file), bytes);
    fs.writeFileSync(path.join(dir, file + MANIFEST_SUFFIX), JSON.stringify(manifest));
    const instance = await loadCopy(dir, file);
    const { port1, port2 } = new MessageChannel();
    const host = new IpcChannel(port1, { role: 'host', label: 'warm-up' });
    host.setRequestHandler(() => ({ kind: 'Success' }));
    const served = servePlugin(new IpcChannel(port2, { role: 'plugin', label: 'warm-up' }), instance);
    try {
      await host.sendRequest({
        kind: 'Initialize',
        config: {
          pluginName: instance.name,
          kind: 'js',
          artifactPath: path.join(dir, file),
          tier: 'sandbox',
          limits: DEFAULT_RESOURCE_LIMITS,
          requirements: MINIMAL_REQUIREMENTS,
        },
      });
      await host.sendRequest({ kind: 'ExecuteHook', hookName: 'warm-up', data: new Uint8Array(1) });
      await host.sendRequest({ kind: 'Shutdown' });
      await served;
    } finally {
      await host.close().catch(() => {});
      port1.close();
      port2.close();
    }
  } catch {
    // Only a slower first load.
  } finally {
    if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A warm start (the registry's warm pool): booted, lockdown applied, then waiting on the host's socket for the one
 * plugin it will ever load — a copy the host writes into `warmDir` (bound read-only) and names in its hand-off. No
 * hand-off, no plugin: the socket ending first ends the process.
 */
async function awaitHandoff(warmDir: string): Promise<{ dir: string; file: string; socket: net.Socket }> {
  const socket = new net.Socket({ fd: PLUGIN_IPC_FD, readable: true, writable: true });
  const handoff = readHandoff(socket);
  await warmUp();
  socket.write(WARM_READY);
  const h = await handoff;
  return { dir: path.join(warmDir, h.dir), file: h.file, socket };
}

async function main(): Promise<void> {
  const wd = workerData as { port: MessagePort; dir: string; file: string; trace?: boolean } | null;
  const argv = isMainThread ? process.argv.slice(2) : [];
  if (argv[0] === MAKE_CODE_CACHE_ARG) {
    // The host's cache maker (see runtime-code-cache.ts): compile what a start runs, with the runtime's own no-op plugin.
    await warmUp();
    started?.cacheReady?.();
    return;
  }
  const warmDir = argv[0] === WARM_ARG ? argv[1] : undefined;
  let dir: string | undefined;
  let file: string | undefined;
  let flag: string | undefined;
  if (!isMainThread) [dir, file] = [wd?.dir, wd?.file];
  else if (warmDir !== undefined) flag = argv[2];
  else [dir, file, flag] = argv;
  const trace = isMainThread ? flag === STARTUP_TRACE_ARG : wd?.trace === true;
  if (trace && isMainThread) {
    traceStep(true, 'process-start', performance.timeOrigin, 0);
    traceStep(true, 'node-bootstrapped', epochMs(performance.nodeTiming.bootstrapComplete), null);
  }
  // koffi loads only with a native plugin (the loader loads it on the first native load; a sandbox's lockdown loads its
  // own before any plugin code). A worker never has it, nor any other native code: a worker runs no native plugin, and
  // koffi running in a worker that is being terminated aborts the whole host.
  if (!isMainThread) refuseNativeCode();
  traceStep(trace, 'runtime-evaluated');
  // Whether this start used the host's code cache (`plain`: started without the starter, or it found no valid cache).
  if (trace) process.stderr.write(`plugward-code-cache ${started?.cache ?? 'plain'}\n`);
  let warmSocket: net.Socket | undefined;
  if (warmDir !== undefined) {
    try {
      ({ dir, file, socket: warmSocket } = await awaitHandoff(warmDir));
    } catch {
      process.exit(1);
    }
    traceStep(trace, 'handed-off');
  }
  let served: Served;
  try {
    if (!dir || !file)
      throw new PluginError('InvalidArgument', 'usage: runtime <private-dir> <artifact-file>');
    served = withLocalContext(await loadCopy(dir, file));
    traceStep(trace, 'plugin-loaded');
  } catch (e) {
    // Answer Initialize with the reason (under the expected name, so the host sees the cause, not a name mismatch).
    const name = file ? (manifestName(dir, file) ?? file) : 'unknown';
    served = {
      instance: failedInstance(toPluginError(e, 'LoadError', `plugin runtime could not load ${name}`), name),
    };
  }
  const { instance } = served;
  const channel = warmSocket
    ? new IpcChannel(warmSocket, { role: 'plugin', label: instance.name })
    : isMainThread
      ? connectToHost({ label: instance.name })
      : new IpcChannel(wd!.port, { role: 'plugin', label: instance.name });
  // readHandoff left the socket paused (the host's first frame waits in it): the channel listens now.
  warmSocket?.resume();
  traceStep(trace, 'connected');
  const result = await servePlugin(channel, instance, {
    metrics: isMainThread ? processMetrics : workerMetrics,
    onContextChanged: served.onContextChanged,
  });
  if (isMainThread) end(result.shutdown);
}

/**
 * Ends the plugin process once `servePlugin` returned. After an answered Shutdown its answer has left (the channel's
 * `close()` lets queued frames go first; stdout/stderr are pipes, written synchronously) and nothing is left to run:
 * the process kills itself — the kernel's teardown only, without Node's exit path (issue 17, `close()` of hundreds:
 * ≈ 1 ms of CPU less per process than `process.exit`, which `process.reallyExit` does not save). The host counts a
 * `SIGKILL` after an answered Shutdown as a clean end (`PluginProcessExit.crashed` false), as it does its own kill.
 * Without a Shutdown (the host went away), exit code 1.
 */
function end(shutdown: boolean): void {
  // A SIGKILL a process sends itself is ignored when it is the init of its pid namespace (the runtime under
  // bubblewrap): then it leaves by Node's exit path, with the code that says how it ended.
  if (shutdown) process.kill(process.pid, 'SIGKILL');
  process.exit(shutdown ? 0 : 1);
}

/**
 * In a plugin worker no native code loads at all — not koffi, not any other addon, whoever asks (a JS plugin can find
 * koffi beside the runtime): `worker.terminate()` can't stop native code, so a thread blocked in C would hold the
 * worker, `close()` and the host's exit for as long as it pleases. Native code belongs at the process tier. The ways
 * around that are refused too, before the plugin is imported: a `Worker` of its own (a fresh Node environment with the
 * original `process.dlopen`; terminating the plugin's worker joins it), the inspector's way into the host's main thread
 * (`Session.connectToMainThread()`, also of `node:inspector/promises`, whose `Session` inherits it) and
 * `process.binding` (its `inspector` binding reaches the main thread too). Each is `PluginError` `Unsupported`, pinned (non-writable, non-configurable) on the module's exports and
 * synced into `import { … }` of the built-in's ES module.
 */
function refuseNativeCode(): void {
  const refused = (what: string) => (): never => {
    throw new PluginError('Unsupported', `${what} in a plugin worker (use the process tier)`);
  };
  const pin = (target: object, key: string, value: unknown): void => {
    Object.defineProperty(target, key, { value, writable: false, configurable: false });
  };
  pin(process, 'dlopen', refused('native code cannot be loaded'));
  pin(process, 'binding', refused('process.binding is not available'));
  pin(process, '_linkedBinding', refused('process._linkedBinding is not available'));
  pin(process.getBuiltinModule('node:worker_threads'), 'Worker', function Worker(): never {
    return refused('threads of its own cannot be started')();
  });
  // Loader hooks run on a thread of their own (Node's internal worker: a fresh environment with the original dlopen).
  pin(
    process.getBuiltinModule('node:module'),
    'register',
    refused('loader hooks (a thread of their own) cannot be registered'),
  );
  let inspector: typeof import('node:inspector') | undefined;
  try {
    inspector = process.getBuiltinModule('node:inspector');
  } catch {
    // A Node built without the inspector: nothing to refuse.
  }
  // A session of the plugin's own thread (`connect()`, `inspector.open()`: a debugger of the worker) stays possible.
  if (inspector !== undefined) {
    pin(
      inspector.Session.prototype,
      'connectToMainThread',
      refused("the host's main thread cannot be inspected"),
    );
  }
  syncBuiltinESMExports();
}

main().catch((e) => {
  process.stderr.write(`plugward runtime: ${(e as Error).stack ?? String(e)}\n`);
  if (isMainThread) process.exit(70);
});
