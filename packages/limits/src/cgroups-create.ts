import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type HostOwner, hostGone, hostTag, parseHostTag } from '@plugward/host-state';
import { type CgroupConfig, MIN_THREADS_FOR_NODE, PluginError } from '@plugward/types';
import { warmCgroupAttach } from './cgroup-attach-warmup.js';
import { type CgroupLayout, type CgroupVersion, detectCgroupLayout } from './cgroups-detect.js';
import { type CgroupMetrics, collectCgroupV1Metrics } from './cgroups-v1.js';
import { collectCgroupV2Metrics } from './cgroups-v2.js';

/** Limits resolved to numbers (absent fields are not limited). */
export type CgroupLimits = Omit<CgroupConfig, 'parent'>;

/**
 * A cgroup (one directory per controller on v1, one on v2) made for one process: the sandbox backends create one
 * per plugin process, its launcher joins it before the plugin's first instruction, and it is removed after exit.
 */
export interface CgroupHandle {
  readonly version: CgroupVersion;
  /** Controller → directory (v2: every controller points at the same directory). */
  readonly paths: Readonly<Record<string, string>>;
  /** The `cgroup.procs` files a process writes its pid into to join. */
  readonly procsFiles: readonly string[];
  /** OOM kills the kernel recorded in this cgroup (0 when unreadable). */
  oomKills(): Promise<number>;
  /** One reading ({@link collectCgroupV1Metrics} / {@link collectCgroupV2Metrics} of its directories). */
  metrics(): Promise<CgroupMetrics>;
  /** Kills what is left inside and removes the directories. */
  remove(): Promise<void>;
  /**
   * Kills every process in the group now and blocks (at most `waitMs`, default 200) until none is left; true once the
   * group is empty. For a host's exit handler, where nothing asynchronous runs any more: what the group held must be
   * gone before what it held (a uid lease) is given back. The directories stay (removed by {@link remove}, or by
   * {@link cleanupStaleCgroups} of a later host).
   */
  killSync(waitMs?: number): boolean;
}

/** Checks the limits; Node can't start below {@link MIN_THREADS_FOR_NODE} pids. */
export function validateCgroupLimits(limits: CgroupLimits): void {
  const positive = (name: keyof CgroupLimits, min: number, max = Number.MAX_SAFE_INTEGER): void => {
    const v = limits[name];
    if (v === undefined) return;
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new PluginError(
        'InvalidResourceLimits',
        `cgroup ${name} must be an integer in [${min}, ${max}], got ${v}`,
        {
          details: { field: name, value: v },
        },
      );
    }
  };
  positive('memoryBytes', 4 * 1024 * 1024);
  positive('swapBytes', 0);
  positive('cpuPeriodUs', 1000, 1_000_000);
  positive('cpuQuotaUs', 1000);
  positive('pidsMax', MIN_THREADS_FOR_NODE);
  positive('ioWeight', 1, 10_000);
}

/**
 * A cgroup directory name: the sanitised label, the host tag (`<pid>-<start time>-p<pid namespace>`, see `hostTag`
 * of @plugward/host-state) and a random suffix, `<label>-<pid>-<start time>-p<ns>.<8 hex>`, so parallel plugins never
 * collide, a sweep can tell a dead host's groups even after its pid was reused, and a host never sweeps the groups of
 * a host in another pid namespace (a container sharing the cgroup tree), whose pids it can't judge. (The `.` before the suffix keeps the name
 * out of what hosts before the host tag sweep, `-<pid>-<8 hex>`: they would read the start time as a pid.)
 */
export function cgroupName(label: string): string {
  const safe =
    label
      .toLowerCase()
      .replace(/[^a-z0-9._-]+/g, '_')
      .replace(/^[._]+/, '')
      .slice(0, 48) || 'plugin';
  return `${safe}-${hostTag()}.${randomBytes(4).toString('hex')}`;
}

/**
 * The host that named a cgroup with {@link cgroupName}: `…-<pid>-<start time>-p<pid namespace>.<8 hex>`,
 * `…-<pid>-<start time>.<8 hex>` of hosts before the namespace was in the tag, or `…-<pid>-<8 hex>` of hosts before the
 * host tag (no start time: gone only once the pid is free). Undefined for other names.
 */
export function cgroupOwner(name: string): HostOwner | undefined {
  const namespaced = /-(\d+)-(\d+)-p(\d+)\.[0-9a-f]{8}$/.exec(name);
  if (namespaced !== null) return parseHostTag(`${namespaced[1]}-${namespaced[2]}-p${namespaced[3]}-`);
  const tagged = /-(\d+)-(\d+)\.[0-9a-f]{8}$/.exec(name);
  if (tagged !== null) return parseHostTag(`${tagged[1]}-${tagged[2]}-`);
  const old = /-(\d+)-[0-9a-f]{8}$/.exec(name);
  return old === null ? undefined : parseHostTag(`${old[1]}-`);
}

function write(file: string, value: string): void {
  try {
    fs.writeFileSync(file, value);
  } catch (cause) {
    throw new PluginError('SandboxError', `cannot write ${value.trim()} to ${file}`, { cause });
  }
}

/** The OOM-kill count of a reading; 0 when the group is gone or the counter unreadable. */
async function oomKills(metrics: () => Promise<CgroupMetrics>): Promise<number> {
  try {
    return (await metrics()).oomKills ?? 0;
  } catch {
    return 0;
  }
}

function readProcs(dir: string): string[] {
  return fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
}

function killPids(pids: readonly string[]): void {
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Kills every process in the cgroup directories `dirs` (v2: `cgroup.kill` where the kernel has it, 5.14+; otherwise,
 * and on v1, each pid listed, again each round: a process may fork between the read and the kill) and blocks, at most
 * `waitMs`, until every `cgroup.procs` is empty (a killed process leaves its group when it exits, not when it is
 * reaped). True once all are empty or gone. Synchronous on purpose: for exit handlers and start-up sweeps.
 */
export function killCgroupMembersSync(dirs: readonly string[], waitMs = 200): boolean {
  const deadline = Date.now() + waitMs;
  for (const dir of dirs) {
    const kill = path.join(dir, 'cgroup.kill');
    try {
      fs.writeFileSync(kill, '1');
    } catch {
      // v1, or a kernel before 5.14: by pid below.
    }
  }
  for (;;) {
    let left = 0;
    for (const dir of dirs) {
      let pids: string[];
      try {
        pids = readProcs(dir);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw e;
      }
      left += pids.length;
      killPids(pids);
    }
    if (left === 0) return true;
    if (Date.now() >= deadline) return false;
    Atomics.wait(sleeper, 0, 0, 2);
  }
}

async function removeDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      killPids(
        (await fs.promises.readFile(path.join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean),
      );
      // Off the event loop: removing a memory cgroup that held a process takes the kernel milliseconds (its charges
      // move to the parent); closing a registry of many sandboxed plugins removes hundreds.
      await fs.promises.rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY')
        throw new PluginError('SandboxError', `cannot remove cgroup ${dir}`, { cause: e });
    }
    await sleep(20);
  }
  throw new PluginError('SandboxError', `cgroup ${dir} still busy after 2 s`);
}

function mkdirIn(base: string, parent: string, name: string): string {
  const dir = path.join(base, parent, name);
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (cause) {
    throw new PluginError(
      'SandboxUnavailable',
      `cannot create cgroup ${dir} (root or a delegated cgroup needed)`,
      {
        cause,
      },
    );
  }
  return dir;
}

function missing(what: string, hint: string): PluginError {
  return new PluginError('SandboxUnavailable', `${what} is not available on this machine; ${hint}`);
}

/** Creates and configures a cgroup v1 group under every controller the limits need. */
export function createCgroupV1(
  layout: CgroupLayout,
  parent: string,
  name: string,
  limits: CgroupLimits,
): CgroupHandle {
  const need = ['memory', 'cpu', 'pids'];
  if (layout.mounts.cpuacct !== undefined) need.push('cpuacct');
  if (limits.ioWeight !== undefined) need.push('blkio');
  for (const c of need) {
    if (layout.mounts[c] === undefined)
      throw missing(`the cgroup v1 '${c}' controller`, 'mount it under /sys/fs/cgroup');
  }
  const paths: Record<string, string> = {};
  const created: string[] = [];
  // One directory per controller hierarchy, none inside another: removed side by side.
  const handleRemove = async (): Promise<void> => {
    await Promise.all(created.map(removeDir));
  };
  try {
    for (const c of need) {
      const mount = layout.mounts[c] ?? '';
      const existing = Object.entries(paths).find(([k]) => layout.mounts[k] === mount);
      // Co-mounted controllers (cpu,cpuacct) share one directory.
      paths[c] = existing?.[1] ?? mkdirIn(mount, parent, name);
      if (existing === undefined) created.push(paths[c] ?? '');
    }
    const mem = paths.memory ?? '';
    if (limits.memoryBytes !== undefined) {
      write(path.join(mem, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      const memsw = path.join(mem, 'memory.memsw.limit_in_bytes');
      if (fs.existsSync(memsw)) {
        write(memsw, String(limits.memoryBytes + (limits.swapBytes ?? 0)));
      } else if (limits.swapBytes !== undefined && limits.swapBytes > 0) {
        throw missing('memory+swap accounting (memory.memsw)', 'boot with swapaccount=1');
      }
    }
    if (limits.swapBytes === 0) write(path.join(mem, 'memory.swappiness'), '0');
    const cpu = paths.cpu ?? '';
    if (limits.cpuPeriodUs !== undefined || limits.cpuQuotaUs !== undefined) {
      write(path.join(cpu, 'cpu.cfs_period_us'), String(limits.cpuPeriodUs ?? 100_000));
      if (limits.cpuQuotaUs !== undefined)
        write(path.join(cpu, 'cpu.cfs_quota_us'), String(limits.cpuQuotaUs));
    }
    if (limits.pidsMax !== undefined) write(path.join(paths.pids ?? '', 'pids.max'), String(limits.pidsMax));
    if (limits.ioWeight !== undefined) {
      const blkio = paths.blkio ?? '';
      const file = ['blkio.weight', 'blkio.bfq.weight']
        .map((f) => path.join(blkio, f))
        .find((f) => fs.existsSync(f));
      if (file === undefined)
        throw missing('blkio weight (CFQ/BFQ I/O scheduler)', 'use a BFQ scheduler or omit ioWeight');
      // v1 weights are 10–1000 (v2: 1–10000); scale so the same config means the same share.
      write(file, String(Math.max(10, Math.min(1000, Math.round(limits.ioWeight / 10)))));
    }
  } catch (e) {
    void handleRemove().catch(() => undefined);
    throw e;
  }
  const metrics = (): Promise<CgroupMetrics> =>
    collectCgroupV1Metrics({
      memory: paths.memory,
      cpu: paths.cpu,
      cpuacct: paths.cpuacct,
      pids: paths.pids,
    });
  return {
    version: 1,
    paths,
    procsFiles: created.map((d) => path.join(d, 'cgroup.procs')),
    oomKills: () => oomKills(metrics),
    metrics,
    remove: handleRemove,
    killSync: (waitMs) => killCgroupMembersSync(created, waitMs),
  };
}

/** Creates and configures a cgroup v2 group (controllers enabled in the parents' `subtree_control`). */
export function createCgroupV2(
  layout: CgroupLayout,
  parent: string,
  name: string,
  limits: CgroupLimits,
): CgroupHandle {
  const root = layout.mounts.memory ?? layout.mounts.pids ?? layout.mounts.cpu;
  const need = ['memory', 'cpu', 'pids', ...(limits.ioWeight !== undefined ? ['io'] : [])];
  for (const c of need) {
    if (layout.mounts[c] === undefined || root === undefined) {
      throw missing(`the cgroup v2 '${c}' controller`, 'enable it in the root cgroup.subtree_control');
    }
  }
  const base = root ?? '';
  const enable = need.map((c) => `+${c}`).join(' ');
  const parentDir = mkdirIn(base, parent, '');
  write(path.join(base, 'cgroup.subtree_control'), enable);
  write(path.join(parentDir, 'cgroup.subtree_control'), enable);
  const dir = mkdirIn(base, parent, name);
  const remove = (): Promise<void> => {
    // cgroup.kill (5.14+) kills every process at once; removeDir kills stragglers by pid otherwise.
    const kill = path.join(dir, 'cgroup.kill');
    if (fs.existsSync(kill)) {
      try {
        fs.writeFileSync(kill, '1');
      } catch {
        // Removal below reports a real failure.
      }
    }
    return removeDir(dir);
  };
  try {
    if (limits.memoryBytes !== undefined) write(path.join(dir, 'memory.max'), String(limits.memoryBytes));
    if (limits.swapBytes !== undefined) write(path.join(dir, 'memory.swap.max'), String(limits.swapBytes));
    if (limits.cpuQuotaUs !== undefined || limits.cpuPeriodUs !== undefined) {
      write(path.join(dir, 'cpu.max'), `${limits.cpuQuotaUs ?? 'max'} ${limits.cpuPeriodUs ?? 100_000}`);
    }
    if (limits.pidsMax !== undefined) write(path.join(dir, 'pids.max'), String(limits.pidsMax));
    if (limits.ioWeight !== undefined) write(path.join(dir, 'io.weight'), `default ${limits.ioWeight}`);
  } catch (e) {
    void remove().catch(() => undefined);
    throw e;
  }
  const paths = Object.fromEntries(need.map((c) => [c, dir]));
  const metrics = (): Promise<CgroupMetrics> => collectCgroupV2Metrics(dir);
  return {
    version: 2,
    paths,
    procsFiles: [path.join(dir, 'cgroup.procs')],
    oomKills: () => oomKills(metrics),
    metrics,
    remove,
    killSync: (waitMs) => killCgroupMembersSync([dir], waitMs),
  };
}

const swept = new Set<string>();

/**
 * Creates a cgroup for one process on whichever hierarchy `layout` is. The first call per `parent` in a process
 * first sweeps the groups of hosts that were killed before they could remove theirs ({@link cleanupStaleCgroups}).
 * On v1 it also readies the kernel for the join that follows ({@link warmCgroupAttach}, off the event loop).
 * @throws PluginError `InvalidResourceLimits` for out-of-range limits, `InvalidArgument` for a bad parent name,
 *   `SandboxUnavailable` for a missing controller or a hierarchy this process may not write, `SandboxError` for a
 *   limit the kernel refused.
 */
export function createCgroup(
  layout: CgroupLayout,
  parent: string,
  name: string,
  limits: CgroupLimits,
): CgroupHandle {
  validateCgroupLimits(limits);
  if (!/^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/.test(parent) || parent.split('/').includes('..')) {
    throw new PluginError('InvalidArgument', `invalid cgroup parent name ${JSON.stringify(parent)}`);
  }
  const sweepKey = `${layout.version}:${parent}`;
  if (!swept.has(sweepKey)) {
    swept.add(sweepKey);
    try {
      cleanupStaleCgroups(parent, layout);
    } catch {
      // Best effort: a sweep that fails leaves only empty directories behind.
    }
  }
  if (layout.version !== 1) return createCgroupV2(layout, parent, name, limits);
  // A process joins the group next: its first write may wait for an RCU grace period, which can pass meanwhile.
  warmCgroupAttach();
  return createCgroupV1(layout, parent, name, limits);
}

/**
 * Clears the cgroups a host left behind when it was killed before it could clean up (its own exit handler removes them
 * otherwise). Only directories named by this package ({@link cgroupOwner}) whose host is gone — its pid free, or taken
 * by a process started at another time (pid reused) — are touched (never this process's own): whatever such a group
 * still holds is killed first (a plugin process that outlived its host — nothing of a dead host may keep running on
 * its behalf, or keep the uid it ran as), then the directory is removed. {@link createCgroup} runs it once per parent
 * and process, before the first group. Returns the directories removed; `killed` (when given) receives the
 * directories whose processes had to be killed.
 */
export function cleanupStaleCgroups(
  parent = 'plugward',
  layout = detectCgroupLayout(),
  killed?: string[],
): string[] {
  if (layout === undefined) return [];
  const removed: string[] = [];
  for (const mount of new Set(Object.values(layout.mounts))) {
    const base = path.join(mount, parent);
    let names: string[];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    for (const name of names) {
      const owner = cgroupOwner(name);
      // Our own cgroups are removed by their process's exit; one just created may be empty only because its process
      // has not joined yet, so never sweep them here (hostGone is false for this host's own tag and pid).
      if (owner === undefined || !hostGone(owner)) continue;
      const dir = path.join(base, name);
      try {
        if (readProcs(dir).length > 0) {
          killed?.push(dir);
          if (!killCgroupMembersSync([dir], 500)) continue;
        }
        fs.rmdirSync(dir);
        removed.push(dir);
      } catch {
        // Not a cgroup directory, busy, or already gone: leave it (a later host's sweep tries again).
      }
    }
  }
  return removed;
}
