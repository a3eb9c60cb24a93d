// The registry's optional warm pool (issue 17): sandboxes started ahead of time, up to the point where only the plugin
// is missing, one pool per sandbox configuration.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { descendantPids } from '@plugward/limits';
import { onHostExit } from '@plugward/sandbox-common';
import {
  PluginError,
  type PluginRequirements,
  type ResourceLimits,
  type SandboxBackend,
  type SandboxConfig,
  type SandboxedProcess,
  type SandboxSpawnSpec,
} from '@plugward/types';
import { STARTUP_TRACE_ARG, startupTraceEnabled } from './startup-trace.js';
import { runtimeEntry, runtimeReadOnlyPaths } from './tiers/out-of-process.js';
import { sandboxConfigFor } from './tiers/sandbox-config.js';
import { makeWarmFolder, WARM_FOLDER_TARGET, type WarmFolder } from './warm-folder.js';
import { awaitWarmReady, encodeHandoff, WARM_ARG } from './warm-handoff.js';

/** `PluginRegistryOptions.warmPool`: sandboxes kept started per sandbox configuration. */
export interface WarmPoolOptions {
  /** Idle sandboxes kept per configuration, 1–{@link MAX_WARM_POOL_SIZE}. */
  size: number;
  /**
   * An idle sandbox not claimed within this time is ended (and not replaced until its configuration is loaded again),
   * ms. Default {@link DEFAULT_WARM_IDLE_TTL_MS}.
   */
  idleTtlMs?: number;
  /**
   * Configurations kept warm at once, 1–{@link MAX_WARM_CONFIGURATIONS} (default
   * {@link DEFAULT_WARM_CONFIGURATIONS}); the least recently used one's idle sandboxes end beyond it.
   */
  maxConfigurations?: number;
}

/** Largest `WarmPoolOptions.size`. */
export const MAX_WARM_POOL_SIZE = 16;
/** Largest `WarmPoolOptions.maxConfigurations`. */
export const MAX_WARM_CONFIGURATIONS = 16;
/** Default `WarmPoolOptions.idleTtlMs`: one minute. */
export const DEFAULT_WARM_IDLE_TTL_MS = 60_000;
/** Default `WarmPoolOptions.maxConfigurations`. */
export const DEFAULT_WARM_CONFIGURATIONS = 4;
/** After this many failed starts in a row, a configuration is not refilled for {@link RETRY_AFTER_FAILURES_MS}. */
const MAX_FAILED_STARTS = 3;
const RETRY_AFTER_FAILURES_MS = 10_000;
/** Longest a warm sandbox may take from spawn to ready. */
const READY_TIMEOUT_MS = 30_000;
/**
 * The label (cgroup and log names) of warm sandboxes, followed by their pool's {@link WarmPool.id}: they are started
 * before any plugin is known.
 */
export const WARM_LABEL = 'plugward-warm';

/** What {@link WarmPool.stats} reports. */
export interface WarmPoolStats {
  /** Configurations the pool keeps warm now. */
  configurations: number;
  /** Idle sandboxes. */
  idle: number;
  /** Sandboxes being started. */
  starting: number;
  /**
   * The proportional set size (PSS) of each idle sandbox's process tree (bwrap or the launcher, and the runtime),
   * bytes: what each one costs the machine while it waits, shared pages split among their sharers.
   */
  idlePssBytes: number[];
  /** Their sum, bytes. */
  totalIdlePssBytes: number;
  /** The most idle sandboxes there can be: `size × maxConfigurations`. */
  maxIdle: number;
  /** Sandboxed loads that got a warm sandbox. */
  hits: number;
  /** Sandboxed loads that started cold (no idle sandbox of their configuration). */
  misses: number;
}

/** Checks `WarmPoolOptions` and fills in the defaults; `InvalidArgument` for anything out of range. */
export function resolveWarmPoolOptions(o: WarmPoolOptions): Required<WarmPoolOptions> {
  const int = (v: unknown, name: string, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new PluginError(
        'InvalidArgument',
        `warmPool.${name} must be an integer in [${min}, ${max}], got ${v}`,
      );
    }
    return v;
  };
  return {
    size: int(o.size, 'size', 1, MAX_WARM_POOL_SIZE),
    idleTtlMs: int(o.idleTtlMs ?? DEFAULT_WARM_IDLE_TTL_MS, 'idleTtlMs', 1, 24 * 3600 * 1000),
    maxConfigurations: int(
      o.maxConfigurations ?? DEFAULT_WARM_CONFIGURATIONS,
      'maxConfigurations',
      1,
      MAX_WARM_CONFIGURATIONS,
    ),
  };
}

/**
 * A canonical string of a value (sorted keys, bigints tagged): two configurations share a pool only when every field
 * of them is equal. Different values never give the same string; equal ones built in another key order still do.
 */
export function canonicalKey(value: unknown): string {
  if (typeof value === 'bigint') return `{"$bigint":"${value}"}`;
  if (value === null || typeof value !== 'object') {
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalKey).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalKey(v)}`).join(',')}}`;
}

/** Everything a sandboxed plugin process is started with except the plugin: what must match for a warm start. */
interface Shape {
  command: string;
  runtime: string;
  config: SandboxConfig;
  readOnlyPaths: string[];
  limits: ResourceLimits;
  trace: boolean;
}

function shapeFor(requirements: PluginRequirements, limits: ResourceLimits): Shape {
  const runtime = runtimeEntry();
  return {
    command: process.execPath,
    runtime,
    // The same functions the cold start uses: a warm sandbox is the cold one's configuration, nothing else.
    config: sandboxConfigFor(requirements, limits),
    readOnlyPaths: runtimeReadOnlyPaths(runtime),
    limits,
    trace: startupTraceEnabled,
  };
}

interface Idle {
  proc: SandboxedProcess<Duplex>;
  /** The warm folder, bound read-only into the sandbox at its start; the plugin's copy goes in there. */
  dir: string;
  timer: NodeJS.Timeout;
}

interface Configuration {
  key: string;
  shape: Shape;
  idle: Idle[];
  starting: number;
  failures: number;
  lastFailure: number;
  lastUsed: number;
}

/** A pre-started sandbox handed to one plugin: it is never returned to the pool. */
export interface WarmSandbox {
  readonly proc: SandboxedProcess<Duplex>;
  /**
   * Writes the plugin's verified bytes into the sandbox's warm folder (through `copy`, which makes a private copy in
   * the folder it is given, readable by group `gid` when one is given) and tells the runtime to load them.
   */
  handOff(copy: (parent: string, gid?: number) => Promise<{ dir: string; file: string }>): Promise<{
    dir: string;
    file: string;
  }>;
}

/** What {@link WarmPool.claim} returns: a warm sandbox when one of the configuration was idle, and `done`. */
export interface WarmClaim {
  sandbox: WarmSandbox | undefined;
  /** Call once the load settled: the pool refills then (not during the load, whose CPU it would take). */
  done(): void;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** PSS of `pid` and its descendants, bytes (0 for whatever is gone meanwhile). */
async function treePssBytes(pid: number): Promise<number> {
  let total = 0;
  for (const p of [pid, ...(await descendantPids(pid).catch(() => []))]) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(await fs.promises.readFile(`/proc/${p}/smaps_rollup`, 'utf8'));
      total += Number(m?.[1] ?? 0) * 1024;
    } catch {
      // Gone, or not readable: it counts nothing.
    }
  }
  return total;
}

/** Ends an idle sandbox that no plugin will use: its process, then the host's ends of its pipes and socket. */
function discard(idle: Idle): Promise<void> {
  clearTimeout(idle.timer);
  idle.proc.kill('SIGKILL');
  const exited = idle.proc.exit.then(
    () => undefined,
    () => undefined,
  );
  return exited.then(() => {
    for (const s of [idle.proc.ipc, idle.proc.stdout, idle.proc.stderr]) {
      (s as { destroy?: () => void } | null | undefined)?.destroy?.();
    }
  });
}

/**
 * Keeps up to `size` sandboxes per sandbox configuration started and waiting (runtime booted, lockdown applied, IPC
 * socket open), each with an empty warm folder bound read-only. A plugin whose configuration — backend, command,
 * runtime, seccomp, namespaces, capabilities, filesystem view and grants, network, environment, cgroup limits, its
 * resource limits — is exactly that of an idle sandbox is loaded into it: the host writes the verified private copy
 * into the warm folder (root hosts: readable only by the sandbox's leased uid), sends one hand-off line naming it, and
 * the runtime verifies the hash and loads it as it would in a cold start. Invariants:
 * - a warm sandbox serves one plugin once and never returns to the pool (`claim` removes it), so nothing of a previous
 *   plugin can be in it;
 * - the pool refills in the background after a load settles; an idle sandbox that waited `idleTtlMs` ends, and
 *   `close()` ends every idle one (and one being started) before it resolves;
 * - idle sandboxes are full sandboxes of the backend: each has its own uid lease, cgroup and folders, which the
 *   backend's own crash sweeps remove after a host was killed (the warm folders: the first sandboxed load of any host,
 *   or its pool's first start; root hosts unmount their tmpfs first).
 */
export class WarmPool {
  readonly #backend: SandboxBackend<Duplex>;
  readonly #options: Required<WarmPoolOptions>;
  readonly #configs = new Map<string, Configuration>();
  readonly #starts = new Set<Promise<void>>();
  readonly #ending = new Set<Promise<void>>();
  /** Warm folders being removed after their sandbox exited (idle or handed off): close() waits for them. */
  readonly #removals = new Set<Promise<void>>();
  #closed = false;
  /** Fills scheduled by `done()` that have not begun yet. */
  #scheduled = 0;
  #hits = 0;
  #misses = 0;

  /**
   * Names this pool's sandboxes (8 hex digits): their cgroups are `plugward-warm-<id>-<host pid>-…` and their warm
   * folders `plugward-warm-<host pid>-<host start time>-<id>-…`, so a check can tell them from another pool's.
   */
  readonly id = randomBytes(4).toString('hex');

  constructor(backend: SandboxBackend<Duplex>, options: WarmPoolOptions) {
    this.#backend = backend;
    this.#options = resolveWarmPoolOptions(options);
  }

  /** The resolved options. */
  get options(): Readonly<Required<WarmPoolOptions>> {
    return this.#options;
  }

  /**
   * Starts filling the pool of the configuration a plugin with these (granted) requirements and limits gets, before
   * the first such load (which would otherwise be cold and start the filling).
   */
  prewarm(requirements: PluginRequirements, limits: ResourceLimits): void {
    if (this.#closed) return;
    this.#fill(this.#configuration(shapeFor(requirements, limits)));
  }

  /**
   * Takes an idle sandbox of exactly the configuration of a plugin with these requirements and limits, if there is
   * one (it is the caller's from now on); either way the configuration is remembered and refilled after `done()`.
   */
  claim(requirements: PluginRequirements, limits: ResourceLimits): WarmClaim {
    if (this.#closed) return { sandbox: undefined, done: () => {} };
    const c = this.#configuration(shapeFor(requirements, limits));
    const idle = c.idle.shift();
    if (idle !== undefined) clearTimeout(idle.timer);
    if (idle === undefined) this.#misses++;
    else this.#hits++;
    let settled = false;
    return {
      sandbox: idle === undefined ? undefined : warmSandbox(idle),
      done: () => {
        if (settled) return;
        settled = true;
        // After the loader's continuation: a backend's spawn does much of its work synchronously.
        this.#scheduled++;
        setImmediate(() => {
          this.#scheduled--;
          this.#fill(c);
        });
      },
    };
  }

  /** How many sandboxes are idle and starting, and what each idle one costs (PSS). */
  async stats(): Promise<WarmPoolStats> {
    const idle = [...this.#configs.values()].flatMap((c) => c.idle);
    const idlePssBytes = await Promise.all(idle.map((i) => treePssBytes(i.proc.pid)));
    return {
      configurations: this.#configs.size,
      idle: idle.length,
      starting: [...this.#configs.values()].reduce((n, c) => n + c.starting, 0),
      idlePssBytes,
      totalIdlePssBytes: idlePssBytes.reduce((a, b) => a + b, 0),
      maxIdle: this.#options.size * this.#options.maxConfigurations,
      hits: this.#hits,
      misses: this.#misses,
    };
  }

  /** Resolves once no sandbox is being started and every configuration has `size` idle ones (or gave up). */
  async settled(): Promise<void> {
    while (this.#starts.size > 0 || this.#scheduled > 0) {
      if (this.#starts.size > 0) await Promise.all([...this.#starts]);
      else await new Promise((r) => setImmediate(r));
    }
  }

  /** Ends every idle sandbox and every one being started; resolves once they are gone (processes, leases, folders). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#configs.values()) this.#drop(c);
    this.#configs.clear();
    while (this.#starts.size > 0 || this.#ending.size > 0 || this.#removals.size > 0) {
      await Promise.all([...this.#starts, ...this.#ending, ...this.#removals]);
    }
  }

  #configuration(shape: Shape): Configuration {
    const key = canonicalKey(shape);
    let c = this.#configs.get(key);
    if (c === undefined) {
      c = { key, shape, idle: [], starting: 0, failures: 0, lastFailure: 0, lastUsed: 0 };
      this.#configs.set(key, c);
      if (this.#configs.size > this.#options.maxConfigurations) {
        const oldest = [...this.#configs.values()]
          .filter((x) => x !== c)
          .sort((a, b) => a.lastUsed - b.lastUsed)[0];
        if (oldest !== undefined) {
          this.#drop(oldest);
          this.#configs.delete(oldest.key);
        }
      }
    }
    c.lastUsed = Date.now();
    return c;
  }

  #drop(c: Configuration): void {
    for (const idle of c.idle.splice(0)) this.#end(idle);
  }

  #end(idle: Idle): void {
    const p = discard(idle);
    this.#ending.add(p);
    void p.finally(() => this.#ending.delete(p));
  }

  /** Starts sandboxes of `c`, one at a time (a burst would take the CPU of the loads in progress), up to `size`. */
  #fill(c: Configuration): void {
    if (this.#closed || c.starting > 0 || c.idle.length >= this.#options.size) return;
    // A configuration with filesystem grants is never started ahead: a bind is resolved by name when the sandbox
    // starts, and whether a plugin can write on the way to it is judged at each load (the registry's grant check) —
    // a sandbox started later, for a load not yet made, would bind what the path names then.
    if (c.shape.config.filesystem.binds.length > 0) return;
    if (c.failures >= MAX_FAILED_STARTS && Date.now() - c.lastFailure < RETRY_AFTER_FAILURES_MS) return;
    c.starting++;
    const p = this.#startOne(c).finally(() => {
      c.starting--;
      this.#starts.delete(p);
      if (this.#configs.get(c.key) === c) this.#fill(c);
    });
    this.#starts.add(p);
  }

  async #startOne(c: Configuration): Promise<void> {
    let folder: WarmFolder;
    let proc: SandboxedProcess<Duplex>;
    try {
      folder = makeWarmFolder();
    } catch {
      c.failures++;
      c.lastFailure = Date.now();
      return;
    }
    const dir = folder.dir;
    // Also when the host exits without close() (its sandboxes die with it); a killed host's are swept by the next.
    let forget = (): void => {};
    const removeDir = (): void => {
      forget();
      folder.remove();
    };
    forget = onHostExit(removeDir);
    try {
      // A sandbox with a mount table of its own sees the folder at a path that names nothing of the host.
      const target = isRoot() && ownMountTable(this.#backend) ? WARM_FOLDER_TARGET : dir;
      proc = await this.#backend.spawn(warmSpec(c.shape, dir, target, `${WARM_LABEL}-${this.id}`));
    } catch {
      removeDir();
      c.failures++;
      c.lastFailure = Date.now();
      return;
    }
    // After the sandbox's exit, off the event loop; close() (the pool's, so the registry's) waits for it. The host's
    // exit handler stays until it is done.
    const removal = proc.exit
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => folder.removeAsync())
      .then(
        () => forget(),
        () => undefined,
      );
    this.#removals.add(removal);
    void removal.finally(() => this.#removals.delete(removal));
    const idle: Idle = { proc, dir, timer: setTimeout(() => {}, 0) };
    clearTimeout(idle.timer);
    try {
      await awaitWarmReady(proc.ipc, READY_TIMEOUT_MS);
    } catch {
      c.failures++;
      c.lastFailure = Date.now();
      await discard(idle);
      return;
    }
    c.failures = 0;
    if (this.#closed || this.#configs.get(c.key) !== c) {
      this.#end(idle);
      return;
    }
    idle.timer = setTimeout(() => {
      const i = c.idle.indexOf(idle);
      if (i < 0) return;
      c.idle.splice(i, 1);
      this.#end(idle);
    }, this.#options.idleTtlMs);
    idle.timer.unref();
    // A sandbox that ends while idle leaves the pool; it is not replaced until the configuration is used again.
    void proc.exit.finally(() => {
      const i = c.idle.indexOf(idle);
      if (i >= 0) {
        c.idle.splice(i, 1);
        clearTimeout(idle.timer);
      }
    });
    c.idle.push(idle);
  }
}

/**
 * Whether `backend` gives its sandboxes a mount table of their own (bubblewrap): then the warm folder is bound at
 * {@link WARM_FOLDER_TARGET}. Landlock has none (a bind is visible at its own path only, and the sandbox sees the host's
 * mount table anyway).
 */
function ownMountTable(backend: SandboxBackend<Duplex>): boolean {
  return backend.name !== 'linux-landlock';
}

/**
 * The spawn of a warm sandbox: the cold start's, with the warm folder `dir` bound read-only at `target` instead of the
 * plugin copy.
 */
function warmSpec(shape: Shape, dir: string, target: string, label: string): SandboxSpawnSpec {
  const { config } = shape;
  return {
    command: shape.command,
    args: [shape.runtime, WARM_ARG, target, ...(shape.trace ? [STARTUP_TRACE_ARG] : [])],
    config: {
      ...config,
      filesystem: {
        ...config.filesystem,
        binds: [...config.filesystem.binds, { source: dir, target, mode: 'ro' }],
      },
    },
    readOnlyPaths: shape.readOnlyPaths,
    limits: shape.limits,
    label,
  };
}

function warmSandbox(idle: Idle): WarmSandbox {
  let used = false;
  return {
    proc: idle.proc,
    async handOff(copy) {
      if (used) throw new PluginError('InvalidArgument', 'a warm sandbox serves one plugin once');
      used = true;
      const uid = idle.proc.uid;
      const own = process.getuid?.();
      // On a root host the sandbox runs as a leased uid (= gid): only that group may read the copy.
      const gid = isRoot() && uid !== undefined && uid > 0 && uid !== own ? uid : undefined;
      const placed = await copy(idle.dir, gid);
      const dir = path.relative(idle.dir, placed.dir);
      idle.proc.ipc.write(encodeHandoff({ dir, file: placed.file }));
      return placed;
    },
  };
}
