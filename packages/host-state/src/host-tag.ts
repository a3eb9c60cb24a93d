import fs from 'node:fs';

/** True while a process with this pid exists (`EPERM`: it exists, it just isn't ours to signal). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Start time of `pid` (clock ticks after boot: field 22 of `/proc/<pid>/stat`), `undefined` when it is gone or
 * unreadable. The command name (field 2) may hold spaces and parentheses, so fields are counted after the last `)`.
 */
export function processStartTime(pid: number): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = text.lastIndexOf(')');
  const n = close < 0 ? Number.NaN : Number(text.slice(close + 2).split(' ')[22 - 3]);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

let ownTag: string | undefined;
let ownPidNs: number | null | undefined;

/**
 * The inode of this process's pid namespace (`/proc/self/ns/pid`), or `null` where it can't be read. Hosts in different
 * pid namespaces (containers sharing a cgroup tree or a lock directory) number their processes differently: a tag is
 * only judged by a host of its own namespace.
 */
export function ownPidNamespace(): number | null {
  if (ownPidNs === undefined) {
    try {
      ownPidNs = fs.statSync('/proc/self/ns/pid').ino;
    } catch {
      ownPidNs = null;
    }
  }
  return ownPidNs;
}

/**
 * This host's mark in the names of what it leaves on the machine (uid leases, cgroups, private copies, per-sandbox
 * and warm folders): `<pid>-<start time>-p<pid namespace inode>` (`<pid>-<start time>` where the namespace can't be
 * read). The start time tells a dead host's leftovers from those of a later process that got its pid; the namespace
 * keeps a host from judging a host of another pid namespace, whose pids it can't see.
 */
export function hostTag(): string {
  if (ownTag === undefined) {
    const ns = ownPidNamespace();
    ownTag = `${process.pid}-${processStartTime(process.pid) ?? 0}${ns === null ? '' : `-p${ns}`}`;
  }
  return ownTag;
}

/** The host a tag names: its pid and, for tags of {@link hostTag}, its start time and pid namespace. */
export interface HostOwner {
  pid: number;
  /** Absent in names written before host tags carried it (`<pid>-…`). */
  startTime?: number;
  /** The inode of its pid namespace; absent in names written before tags carried it. */
  pidNamespace?: number;
}

/**
 * The host named at the start of `rest`: `<pid>-<start time>-p<namespace>-…` ({@link hostTag}), `<pid>-<start time>-…`
 * or `<pid>-…` of older hosts.
 */
export function parseHostTag(rest: string): HostOwner | undefined {
  const m = /^(\d+)-(?:(\d+)-(?:p(\d+)-)?)?/.exec(rest);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const startTime = m[2] === undefined ? undefined : Number(m[2]);
  if (startTime === undefined || !Number.isSafeInteger(startTime)) return { pid };
  const ns = m[3] === undefined ? undefined : Number(m[3]);
  return ns === undefined || !Number.isSafeInteger(ns)
    ? { pid, startTime }
    : { pid, startTime, pidNamespace: ns };
}

/**
 * True when the host that left something named by {@link hostTag} is gone: no process has its pid, or the one that
 * has it started at another time (pid reused — this host's own pid included). A name without a start time counts as
 * gone only when its pid is free and not this host's. A host of another pid namespace is never judged gone (its pids
 * mean nothing here; a host of its own namespace sweeps what it left).
 */
export function hostGone(owner: HostOwner): boolean {
  if (owner.pidNamespace !== undefined && owner.pidNamespace !== ownPidNamespace()) return false;
  if (owner.startTime === undefined) return owner.pid !== process.pid && !pidAlive(owner.pid);
  if (owner.pid === process.pid) {
    const own = parseHostTag(`${hostTag()}-`);
    return owner.startTime !== own?.startTime;
  }
  if (!pidAlive(owner.pid)) return true;
  const now = processStartTime(owner.pid);
  return now !== undefined && now !== owner.startTime;
}
