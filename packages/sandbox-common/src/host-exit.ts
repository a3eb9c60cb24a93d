import fs from 'node:fs';
import { parseProcStat } from '@plugward/types';

/** True while a process with this pid exists (`EPERM`: it exists, it just isn't ours to signal). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const pending = new Set<() => void>();
let installed = false;

/**
 * Runs `cleanup` when this host process exits normally (a host that never awaited its sandboxes still removes their
 * directories and leases), unless the returned function is called first — once the cleanup ran on its own. A host
 * killed with SIGKILL runs nothing: the next host's sweeps remove what it left.
 */
export function onHostExit(cleanup: () => void): () => void {
  pending.add(cleanup);
  if (!installed) {
    installed = true;
    process.once('exit', () => {
      for (const c of [...pending]) {
        try {
          c();
        } catch {
          // Swept by the next host.
        }
      }
    });
  }
  return () => {
    pending.delete(cleanup);
  };
}

/** Start time of `pid` (clock ticks after boot), `undefined` when it is gone or unreadable. */
function startTimeOf(pid: number): number | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).startTime;
  } catch {
    return undefined;
  }
}

let ownTag: string | undefined;

/**
 * This host's mark in the names of what it leaves on the machine (private copies, per-sandbox and warm folders):
 * `<pid>-<start time>`. The start time tells a dead host's leftovers from those of a later process that got its pid.
 */
export function hostTag(): string {
  ownTag ??= `${process.pid}-${startTimeOf(process.pid) ?? 0}`;
  return ownTag;
}

/** The host named at the start of `rest`: `<pid>-<start time>-…` ({@link hostTag}), or `<pid>-…` of older hosts. */
export function parseHostTag(rest: string): { pid: number; startTime?: number } | undefined {
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
export function hostGone(owner: { pid: number; startTime?: number }): boolean {
  if (owner.startTime === undefined) return owner.pid !== process.pid && !pidAlive(owner.pid);
  if (owner.pid === process.pid) return `${owner.pid}-${owner.startTime}` !== hostTag();
  if (!pidAlive(owner.pid)) return true;
  const now = startTimeOf(owner.pid);
  return now !== undefined && now !== owner.startTime;
}
