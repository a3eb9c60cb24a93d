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

/**
 * This host's mark in the names of what it leaves on the machine (uid leases, cgroups, private copies, per-sandbox
 * and warm folders): `<pid>-<start time>`. The start time tells a dead host's leftovers from those of a later process
 * that got its pid.
 */
export function hostTag(): string {
  ownTag ??= `${process.pid}-${processStartTime(process.pid) ?? 0}`;
  return ownTag;
}

/** The host a tag names: its pid and, for tags of {@link hostTag}, its start time. */
export interface HostOwner {
  pid: number;
  /** Absent in names written before host tags carried it (`<pid>-…`). */
  startTime?: number;
}

/** The host named at the start of `rest`: `<pid>-<start time>-…` ({@link hostTag}), or `<pid>-…` of older hosts. */
export function parseHostTag(rest: string): HostOwner | undefined {
  const m = /^(\d+)-(?:(\d+)-)?/.exec(rest);
  if (m === null) return undefined;
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  const startTime = m[2] === undefined ? undefined : Number(m[2]);
  return startTime === undefined || !Number.isSafeInteger(startTime) ? { pid } : { pid, startTime };
}

/**
 * True when the host that left something named by {@link hostTag} is gone: no process has its pid, or the one that
 * has it started at another time (pid reused — this host's own pid included). A name without a start time counts as
 * gone only when its pid is free and not this host's.
 */
export function hostGone(owner: HostOwner): boolean {
  if (owner.startTime === undefined) return owner.pid !== process.pid && !pidAlive(owner.pid);
  if (owner.pid === process.pid) return `${owner.pid}-${owner.startTime}` !== hostTag();
  if (!pidAlive(owner.pid)) return true;
  const now = processStartTime(owner.pid);
  return now !== undefined && now !== owner.startTime;
}
