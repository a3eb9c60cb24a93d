import { closeSync, constants, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import { PluginError, type PluginMetrics, parseProcStat } from '@plugward/types';
import { clockTicksPerSecond, knownClockTicksPerSecond } from './clock-tick.js';
import {
  cachedSocketTable,
  countConnections,
  loadSocketTable,
  type SocketTable,
  socketTableFor,
} from './proc-net.js';
import { checkPid, gone, pageSize, socketInodesSliced } from './procfs.js';
import { isErrno } from './read-file.js';

/** Options of {@link ProcessReader.read}. */
export interface ProcessReadOptions {
  /** Count TCP/UDP connections. Default true. */
  connections?: boolean;
  /**
   * The process's connection limit: while it holds no more fds (then: sockets) than this, the reading leaves
   * `connections` out instead of reading the namespace's socket table (it can't be a violation). Unset: always count.
   */
  connectionLimit?: number;
  /** Socket tables shared across the readings of one sweep, by network namespace. */
  netCache?: Map<string, SocketTable>;
}

/** One `/proc/<pid>/stat` is well under 1 KiB; a longer one is refused as malformed. */
const STAT_MAX = 4096;
const statBuf = Buffer.allocUnsafe(STAT_MAX);
/** Longest run of readlinks when listing a process's socket fds (the monitor's slice). */
const LIST_SLICE_MS = 0.25;

/**
 * Reads one process's resource use again and again through files it keeps open: `/proc/<pid>/stat` (CPU time,
 * resident memory, threads; one `pread` into a shared buffer instead of open + read + close) and the `/proc/<pid>/fd`
 * directory (its size is the number of open fds on Linux ≥ 6.2: one `fstat`). A reading costs about half of a read
 * by path, and no promise unless connections must be counted.
 *
 * The open files pin the process, not its pid: once it has exited, they answer ESRCH/ENOENT even when another process
 * took the pid, so a reading then says `exited` — never another process's numbers. Construct the reader while the
 * process is known to be alive (e.g. a child not yet reaped), and `close()` it when done (an exited process's
 * files hold no memory of it, but they are fds of the host). Connections need paths (`fd/*` readlinks, the socket
 * table); a reading that used them checks through the pinned files afterwards that the process was still the one.
 */
export class ProcessReader {
  readonly pid: number;
  #stat: number | undefined;
  #fdDir: number | undefined;

  /** Opens `/proc/<pid>/stat` and `/proc/<pid>/fd`. A process already gone makes a reader that reads `exited`. */
  constructor(pid: number) {
    checkPid(pid);
    this.pid = pid;
    clockTicksPerSecond().catch(() => undefined); // known by the first reading, mostly
    try {
      this.#stat = openSync(`/proc/${pid}/stat`, constants.O_RDONLY);
      this.#fdDir = openSync(`/proc/${pid}/fd`, constants.O_RDONLY | constants.O_DIRECTORY);
    } catch (e) {
      this.close();
      if (!gone(e)) throw denied(pid, e);
    }
  }

  /** True once closed (by {@link close}, or because the process was found gone). */
  get closed(): boolean {
    return this.#stat === undefined;
  }

  /**
   * One reading: `cpuTimeMs`, `memoryBytes` (resident), `threads`, `fileDescriptors`, and `connections` when asked
   * (and, under a `connectionLimit`, only when the process holds more sockets than that). `{ exited: true }` once the
   * process is gone or a zombie; the reader then closes its files. Synchronous unless the clock tick is not known yet
   * or connections must be counted (no `connectionLimit`, or more fds than it): its socket fds are then listed in
   * slices that yield to the event loop, and the namespace's socket table is loaded off the loop into `netCache`.
   */
  read(options: ProcessReadOptions = {}): PluginMetrics | Promise<PluginMetrics> {
    const hz = knownClockTicksPerSecond();
    if (hz === undefined) return clockTicksPerSecond().then(() => this.read(options));
    const timestamp = Date.now();
    const exited = (): PluginMetrics => {
      this.close();
      return { timestamp, source: 'procfs', pid: this.pid, exited: true };
    };
    const stat = this.#readStat();
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return exited();
    const fds = this.#fdCount();
    if (fds === undefined) return exited();
    const out: PluginMetrics = {
      timestamp,
      source: 'procfs',
      pid: this.pid,
      cpuTimeMs: ((stat.utime + stat.stime) * 1000) / hz,
      fileDescriptors: fds,
      memoryBytes: stat.rssPages * pageSize(),
      threads: stat.threads,
    };
    const limit = options.connectionLimit;
    // Every connection is a socket and every socket an fd: at most `limit` fds can't hold more connections.
    if (!(options.connections ?? true) || (limit !== undefined && fds <= limit)) return out;
    return this.#withConnections(out, limit, options.netCache ?? new Map<string, SocketTable>(), exited);
  }

  /**
   * The connections of a process that may hold more than its limit: its socket fds listed in slices (a readlink each;
   * a process with many fds must not hold the event loop in one piece), then counted in its namespace's socket
   * table (from the sweep's cache, or loaded off the loop). These are reads by path: a process gone meanwhile
   * (ENOENT/ESRCH) is `exited`, and a reading that got through checks afterwards, through the pinned files, that the
   * paths were still its.
   */
  async #withConnections(
    out: PluginMetrics,
    limit: number | undefined,
    cache: Map<string, SocketTable>,
    exited: () => PluginMetrics,
  ): Promise<PluginMetrics> {
    try {
      const inodes = await socketInodesSliced(this.pid, LIST_SLICE_MS);
      if (this.closed) return exited();
      if (limit === undefined || inodes.length > limit) {
        let table = cachedSocketTable(this.pid, cache);
        if (table === undefined) {
          await loadSocketTable(this.pid, cache).catch(() => undefined); // read synchronously below: the real error
          if (this.closed) return exited();
          table = socketTableFor(this.pid, cache);
        }
        out.connections = countConnections(inodes, table);
      }
    } catch (e) {
      if (gone(e)) return exited();
      throw e;
    }
    return this.#stillOurs() ? out : exited();
  }

  /** Closes the kept files; later readings say `exited`. Idempotent. */
  close(): void {
    for (const fd of [this.#stat, this.#fdDir]) {
      if (fd !== undefined) closeSync(fd);
    }
    this.#stat = undefined;
    this.#fdDir = undefined;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #readStat(): ReturnType<typeof parseProcStat> | undefined {
    if (this.#stat === undefined) return undefined;
    let n: number;
    try {
      n = readSync(this.#stat, statBuf, 0, STAT_MAX, 0);
    } catch (e) {
      if (gone(e)) return undefined;
      throw denied(this.pid, e);
    }
    if (n === STAT_MAX)
      throw new PluginError('IoError', `/proc/${this.pid}/stat is longer than ${STAT_MAX} bytes`);
    return parseProcStat(statBuf.toString('latin1', 0, n));
  }

  /** The number of open fds, through the kept directory (its size; a walk by path on kernels before 6.2). */
  #fdCount(): number | undefined {
    if (this.#fdDir === undefined) return undefined;
    let size: number;
    try {
      size = fstatSync(this.#fdDir).size;
    } catch (e) {
      if (gone(e)) return undefined;
      throw denied(this.pid, e);
    }
    if (size > 0) return size;
    let count: number;
    try {
      count = readdirSync(`/proc/${this.pid}/fd`).length;
    } catch (e) {
      if (gone(e)) return undefined;
      throw denied(this.pid, e);
    }
    return this.#stillOurs() ? count : undefined;
  }

  /** After a read by path: the pinned process is still alive, so the path was still its. */
  #stillOurs(): boolean {
    const stat = this.#readStat();
    return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
  }
}

function denied(pid: number, e: unknown): unknown {
  if (!isErrno(e, 'EACCES', 'EPERM')) return e;
  return new PluginError('PermissionDenied', `cannot read /proc/${pid}: ${(e as Error).message}`, {
    cause: e,
    details: { pid },
  });
}
