import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { PluginError, type PluginMetrics, type ProcStat, parseProcStat } from '@plugward/types';
import { clockTicksPerSecond } from './clock-tick.js';
import { countConnections, type SocketTable, socketTableFor } from './proc-net.js';
import { isErrno, readCapped, readCappedSync } from './read-file.js';

/** Options of {@link collectProcessMetrics}. */
export interface ProcessMetricsOptions {
  /** Sum over the process and all its descendants. Default false. */
  tree?: boolean;
  /** Count TCP/UDP connections (one readlink per fd). Default true. */
  connections?: boolean;
  /**
   * The process start time (`/proc/<pid>/stat` field 22, in clock ticks) seen when watching began; a different value
   * means the pid was reused by another process, which is reported as `exited`.
   */
  startTime?: number;
  /** Socket tables shared across the processes of one monitor tick (keyed by network namespace). */
  netCache?: Map<string, SocketTable>;
  /**
   * Read `/proc/<pid>/status` for resident memory, its peak (VmHWM) and threads. Default true. `false` takes resident
   * memory and threads from `/proc/<pid>/stat` instead (one file read per process instead of two; no peak): what a
   * monitor sweep needs.
   */
  status?: boolean;
}

/** The fields of `/proc/<pid>/status` this package uses. */
export interface ProcStatus {
  /** Resident set size, bytes (absent for kernel threads). */
  rssBytes?: number;
  /** Peak resident set size (VmHWM), bytes. */
  peakRssBytes?: number;
  threads?: number;
}

/** Parses `/proc/<pid>/status` (`Key:\tvalue kB` lines); looks the three keys up instead of splitting every line. */
export function parseProcStatus(text: string): ProcStatus {
  const out: ProcStatus = {};
  const rss = statusValue(text, 'VmRSS:');
  if (rss !== undefined) out.rssBytes = rss * 1024;
  const hwm = statusValue(text, 'VmHWM:');
  if (hwm !== undefined) out.peakRssBytes = hwm * 1024;
  const threads = statusValue(text, 'Threads:');
  if (threads !== undefined) out.threads = threads;
  return out;
}

function statusValue(text: string, key: string): number | undefined {
  const at = text.startsWith(key) ? 0 : text.indexOf(`\n${key}`) + 1;
  if (at === 0 && !text.startsWith(key)) return undefined;
  const end = text.indexOf('\n', at);
  const n = Number(
    text
      .slice(at + key.length, end < 0 ? undefined : end)
      .trim()
      .split(/\s+/)[0],
  );
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** Throws `InvalidArgument` unless `pid` is a plausible pid. */
export function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid < 1 || pid > 4_194_304) {
    throw new PluginError('InvalidArgument', `not a pid: ${String(pid)}`, { details: { pid } });
  }
}

/** The process (or its pid) is gone: ENOENT/ESRCH while reading /proc. */
export function gone(e: unknown): boolean {
  return isErrno(e, 'ENOENT', 'ESRCH');
}

/** Reads the fd count of a process and, when `table` has any connection, the socket inodes among its fds. */
function readFds(pid: number, table: SocketTable | undefined): { count: number; connections?: number } {
  if (!table) {
    // Linux ≥ 6.2 reports the number of open fds as the size of /proc/<pid>/fd: no directory walk.
    const size = statSync(`/proc/${pid}/fd`).size;
    if (size > 0) return { count: size };
  }
  const names = readdirSync(`/proc/${pid}/fd`);
  if (!table) return { count: names.length };
  // No connection in the namespace: no fd can be one, so skip the readlink per fd (the costly part).
  if (table.size === 0) return { count: names.length, connections: 0 };
  const sockets: number[] = [];
  for (const n of names) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${n}`);
    } catch (e) {
      if (gone(e)) continue; // closed between readdir and readlink
      throw e;
    }
    if (link.startsWith('socket:[')) sockets.push(Number(link.slice(8, -1)));
  }
  return { count: names.length, connections: countConnections(sockets, table) };
}

/**
 * The socket inodes among `pid`'s open fds (one readlink per fd): an upper bound of its connections that needs no
 * socket table. Empty when the process is gone.
 */
export function socketInodes(pid: number): number[] {
  checkPid(pid);
  const out: number[] = [];
  for (const n of fdNames(pid)) {
    const inode = socketInodeOf(pid, n);
    if (inode !== undefined) out.push(inode);
  }
  return out;
}

/**
 * {@link socketInodes} in turns of at most `sliceMs` of work, yielding to the event loop between them: a process with
 * thousands of fds is a readlink each, which must not hold the loop in one piece.
 */
export async function socketInodesSliced(pid: number, sliceMs: number): Promise<number[]> {
  checkPid(pid);
  const out: number[] = [];
  let since = performance.now();
  for (const n of fdNames(pid)) {
    if (performance.now() - since >= sliceMs) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      since = performance.now();
    }
    const inode = socketInodeOf(pid, n);
    if (inode !== undefined) out.push(inode);
  }
  return out;
}

/** The names in `/proc/<pid>/fd`; none when the process is gone. */
function fdNames(pid: number): string[] {
  try {
    return readdirSync(`/proc/${pid}/fd`);
  } catch (e) {
    if (gone(e)) return [];
    throw e;
  }
}

/** The socket inode fd `name` of `pid` refers to; `undefined` for anything else or an fd closed meanwhile. */
function socketInodeOf(pid: number, name: string): number | undefined {
  try {
    const link = readlinkSync(`/proc/${pid}/fd/${name}`);
    return link.startsWith('socket:[') ? Number(link.slice(8, -1)) : undefined;
  } catch (e) {
    if (!gone(e)) throw e;
    return undefined;
  }
}

interface OneProcess {
  stat: ProcStat;
  status: ProcStatus;
  fds: number;
  connections?: number;
}

/** One process, read synchronously (see `readCappedSync` for why); `undefined` when it is gone. */
function readOne(pid: number, opts: ProcessMetricsOptions): OneProcess | undefined {
  try {
    const stat = parseProcStat(readCappedSync(`/proc/${pid}/stat`, undefined, true));
    if (stat.state === 'Z' || stat.state === 'X') return undefined; // exited, not yet reaped
    if (opts.startTime !== undefined && stat.startTime !== opts.startTime) return undefined; // pid reused
    const status =
      (opts.status ?? true)
        ? parseProcStatus(readCappedSync(`/proc/${pid}/status`, undefined, true))
        : { rssBytes: stat.rssPages * pageSize(), threads: stat.threads };
    const table = (opts.connections ?? true) ? socketTableFor(pid, opts.netCache) : undefined;
    const fds = readFds(pid, table);
    const one: OneProcess = { stat, status, fds: fds.count };
    if (fds.connections !== undefined) one.connections = fds.connections;
    return one;
  } catch (e) {
    if (gone(e)) return undefined;
    if (isErrno(e, 'EACCES', 'EPERM')) {
      throw new PluginError('PermissionDenied', `cannot read /proc/${pid}: ${(e as Error).message}`, {
        cause: e,
        details: { pid },
      });
    }
    throw e;
  }
}

let cachedPageSize: number | undefined;
/**
 * The kernel page size, bytes (`/proc/<pid>/stat` counts resident memory in pages). Node doesn't expose it: derived
 * once from this process' own resident size as both files report it, rounded to a power of two (4 KiB on x86-64,
 * 4/16/64 KiB on arm64).
 */
export function pageSize(): number {
  if (cachedPageSize !== undefined) return cachedPageSize;
  const pages = parseProcStat(readCappedSync('/proc/self/stat', undefined, true)).rssPages;
  const kb = parseProcStatus(readCappedSync('/proc/self/status', undefined, true)).rssBytes;
  const guess = kb === undefined || pages === 0 ? 4096 : kb / pages;
  cachedPageSize = 2 ** Math.round(Math.log2(Math.max(4096, guess)));
  return cachedPageSize;
}

/** Direct children of `pid`, from `/proc/<pid>/task/<tid>/children` (every thread may have forked). */
export async function childPids(pid: number): Promise<number[]> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch (e) {
    if (gone(e)) return [];
    throw e;
  }
  const lists = await Promise.all(
    tids.map((t) =>
      readCapped(`/proc/${pid}/task/${t}/children`).catch((e: unknown) => {
        if (gone(e)) return '';
        throw e;
      }),
    ),
  );
  const out: number[] = [];
  for (const l of lists) {
    for (const p of l.trim().split(/\s+/)) {
      const n = Number(p);
      if (p !== '' && Number.isSafeInteger(n) && n > 0) out.push(n);
    }
  }
  return out;
}

/** Every descendant of `pid` (not `pid` itself), breadth first, bounded so a fork bomb can't stall the monitor. */
export async function descendantPids(pid: number, max = 4096): Promise<number[]> {
  const seen = new Set<number>([pid]);
  const out: number[] = [];
  let frontier = [pid];
  while (frontier.length > 0 && out.length < max) {
    const next = (await Promise.all(frontier.map(childPids))).flat();
    frontier = [];
    for (const c of next) {
      if (seen.has(c) || out.length >= max) continue;
      seen.add(c);
      out.push(c);
      frontier.push(c);
    }
  }
  return out;
}

/**
 * Reads a process' resource use from `/proc/<pid>`: resident memory (VmRSS) and its peak (VmHWM), CPU time
 * (utime + stime, converted with the real clock tick), threads, open fds and TCP/UDP connections (socket inodes of its
 * fds matched against the tables of its network namespace); optionally summed over its process tree (peak memory is
 * then the root's only). A process that is gone, a zombie, or whose pid was reused yields `{ exited: true }` — never
 * an exception.
 */
export async function collectProcessMetrics(
  pid: number,
  opts: ProcessMetricsOptions = {},
): Promise<PluginMetrics> {
  checkPid(pid);
  const timestamp = Date.now();
  const hz = await clockTicksPerSecond();
  const root = readOne(pid, opts);
  if (!root) return { timestamp, source: 'procfs', pid, exited: true };
  const all = [root];
  if (opts.tree) {
    const kids = await descendantPids(pid);
    const { startTime: _ignored, ...childOpts } = opts;
    for (const k of kids) {
      const r = readOne(k, childOpts);
      if (r) all.push(r);
    }
  }
  let memoryBytes: number | undefined;
  let threads: number | undefined;
  let connections: number | undefined;
  let ticks = 0;
  let fileDescriptors = 0;
  for (const p of all) {
    if (p.status.rssBytes !== undefined) memoryBytes = (memoryBytes ?? 0) + p.status.rssBytes;
    if (p.status.threads !== undefined) threads = (threads ?? 0) + p.status.threads;
    if (p.connections !== undefined) connections = (connections ?? 0) + p.connections;
    ticks += p.stat.utime + p.stat.stime;
    fileDescriptors += p.fds;
  }
  const out: PluginMetrics = {
    timestamp,
    source: 'procfs',
    pid,
    cpuTimeMs: (ticks * 1000) / hz,
    fileDescriptors,
  };
  if (memoryBytes !== undefined) out.memoryBytes = memoryBytes;
  if (root.status.peakRssBytes !== undefined) out.peakMemoryBytes = root.status.peakRssBytes;
  if (threads !== undefined) out.threads = threads;
  if (connections !== undefined) out.connections = connections;
  return out;
}

/** The start time (clock ticks after boot) of `pid`, to detect pid reuse later; `undefined` if it is gone. */
export async function processStartTime(pid: number): Promise<number | undefined> {
  checkPid(pid);
  try {
    return parseProcStat(await readCapped(`/proc/${pid}/stat`)).startTime;
  } catch (e) {
    if (gone(e)) return undefined;
    throw e;
  }
}
