import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PluginError } from '@plugward/types';
import { hostGone, hostTag, parseHostTag } from './host-exit.js';
import { assertPrivateHostState } from './private-state.js';

/** A range of host uids (and the gids of the same numbers) the sandbox may run plugin code as. */
export interface UidRange {
  /** First uid of the range (≥ 65536: never a system or login uid). */
  first: number;
  /** How many uids, ≥ 1. */
  count: number;
}

/**
 * The default range: 1 000 000 uids from 1 900 000 000, above the ranges distributions and container tools hand out
 * (`/etc/subuid` starts at 100 000; systemd's container range ends at 1 879 048 191) and below 2³¹.
 */
export const DEFAULT_UID_RANGE: Readonly<UidRange> = Object.freeze({
  first: 1_900_000_000,
  count: 1_000_000,
});

/**
 * Where leases are kept: one file per uid in use, naming the host that holds it by its host tag (`<pid>-<start time>`;
 * `<pid>` in leases of earlier versions). Root-owned, 0700.
 */
export const DEFAULT_UID_LOCK_DIR = '/run/plugward/uids';

/** A uid held for one sandbox until {@link UidLease.release}. */
export interface UidLease {
  readonly uid: number;
  /** Gives the uid back (idempotent). Call only once nothing runs as the uid any more. */
  release(): void;
}

/** Checks a range: whole numbers, above the login/system uids, below 2³¹ − 1, not containing the host's own uid. */
export function validateUidRange(range: UidRange): void {
  const { first, count } = range;
  if (
    !Number.isSafeInteger(first) ||
    !Number.isSafeInteger(count) ||
    first < 65_536 ||
    count < 1 ||
    first + count - 1 > 0x7ffffffe
  ) {
    throw new PluginError(
      'InvalidArgument',
      `uid range must be integers with first ≥ 65536, count ≥ 1 and first + count ≤ 2^31 - 1, got ${first} + ${count}`,
    );
  }
  const own = process.getuid?.();
  if (own !== undefined && own >= first && own < first + count) {
    throw new PluginError(
      'InvalidArgument',
      `uid range ${first} + ${count} contains the host's own uid ${own}`,
    );
  }
}

let passwdUids: Set<number> | undefined;

/** uids and gids named in /etc/passwd and /etc/group (read once): never handed out even if inside the range. */
function namedIds(): Set<number> {
  if (passwdUids !== undefined) return passwdUids;
  const ids = new Set<number>();
  for (const file of ['/etc/passwd', '/etc/group']) {
    try {
      for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
        const id = Number(line.split(':')[2]);
        if (Number.isSafeInteger(id)) ids.add(id);
      }
    } catch {
      // No such file: nothing named.
    }
  }
  passwdUids = ids;
  return ids;
}

/**
 * The uids and gids some process on this machine runs as (any of its real, effective, saved and filesystem ids), from
 * `/proc/<pid>/status`; zombies (which run nothing, and wait only for a parent — in a container, an init — to reap
 * them) don't count, unless threads of theirs still run (a process whose main thread exited alone shows a zombie
 * leader): then each live thread counts with its own ids. A scan of every process (≈ 40 µs each): for the rare paths
 * that must know, not per call.
 */
export function idsInUse(): Set<number> {
  const ids = new Set<number>();
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return ids;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let status: string;
    try {
      status = fs.readFileSync(`/proc/${name}/status`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    if (!isZombie(status)) {
      addIds(status, ids);
      continue;
    }
    // A zombie leader may head threads that still run (its main thread exited alone): those count, each with the ids
    // it runs as.
    if (/\nThreads:\s*1\n/.test(status)) continue;
    let tasks: string[];
    try {
      tasks = fs.readdirSync(`/proc/${name}/task`);
    } catch {
      continue;
    }
    for (const task of tasks) {
      try {
        const t = fs.readFileSync(`/proc/${name}/task/${task}/status`, 'latin1');
        if (!isZombie(t)) addIds(t, ids);
      } catch {
        // gone meanwhile
      }
    }
  }
  return ids;
}

function isZombie(status: string): boolean {
  const at = status.indexOf('\nState:');
  return at >= 0 && /^\s*[ZX]/.test(status.slice(at + 7, at + 10));
}

function addIds(status: string, ids: Set<number>): void {
  for (const field of ['\nUid:', '\nGid:']) {
    const at = status.indexOf(field);
    if (at < 0) continue;
    const end = status.indexOf('\n', at + 1);
    for (const id of status.slice(at + field.length, end < 0 ? undefined : end).split(/\s+/)) {
      if (id !== '') ids.add(Number(id));
    }
  }
}

/** True when some process runs as `uid` (or its gid of the same number): see {@link idsInUse}. */
export function uidInUse(uid: number): boolean {
  return idsInUse().has(uid);
}

/**
 * Leases this process holds, by lease file: on a normal exit those whose uid nothing runs as any more are released
 * even if their sandboxes were never awaited; the others stay for a later host (see {@link sweepDeadLeases}).
 */
const held = new Map<string, { uid: number; release: () => void }>();
let exitHook = false;
const swept = new Set<string>();

/**
 * True when the host named in a lease file is gone: its pid free, or held by a process started at another time (pid
 * reused: a dead host must not look alive, or its uids are never handed out again). A lease of an earlier version
 * names the pid alone and counts as gone only once that pid is free. This host's own leases are never gone.
 */
function leaseHolderGone(file: string): boolean {
  const owner = parseHostTag(`${readOrEmpty(file).trim()}-`);
  return owner !== undefined && hostGone(owner);
}

/**
 * Once per lock directory: remove leases whose host is gone (hosts killed with SIGKILL) and whose uid nothing runs as
 * any more. A dead host's lease whose uid is still in use (a sandbox that outlived its host) stays: two sandboxes
 * sharing a uid is what leases exist to prevent.
 */
function sweepDeadLeases(dir: string): void {
  if (swept.has(dir)) return;
  swept.add(dir);
  try {
    let running: Set<number> | undefined;
    for (const name of fs.readdirSync(dir)) {
      if (!/^\d+$/.test(name)) continue;
      const file = path.join(dir, name);
      if (!leaseHolderGone(file)) continue;
      running ??= idsInUse();
      if (!running.has(Number(name))) fs.rmSync(file, { force: true });
    }
  } catch {
    // Best effort: a dead lease is also taken over when its uid comes up.
  }
}

// Whoever can swap the lock directory (it, or a directory above it) can drop leases, and two hosts then run
// sandboxes as one uid. Checked before it is created (the directories it would be created in) and after.
function prepareLockDir(dir: string): void {
  assertPrivateHostState(dir, 'directory', 'uid lock directory');
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  assertPrivateHostState(dir, 'directory', 'uid lock directory');
}

/**
 * Leases a uid from `range`, unique among every host using the same `lockDir` on this machine: a random uid is taken
 * by creating `<lockDir>/<uid>` exclusively (content: this host's tag, `<pid>-<start time>`). A lease whose host is
 * gone (a host killed with SIGKILL; its pid free or reused) is taken over once no process runs as its uid any more
 * ({@link uidInUse}); uids in /etc/passwd or /etc/group are skipped. Throws `SandboxUnavailable` when no free uid is
 * found after 256 tries.
 */
export function allocateUid(range: UidRange = DEFAULT_UID_RANGE, lockDir = DEFAULT_UID_LOCK_DIR): UidLease {
  validateUidRange(range);
  prepareLockDir(lockDir);
  sweepDeadLeases(lockDir);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      if (held.size === 0) return;
      const running = idsInUse();
      for (const { uid, release } of [...held.values()]) if (!running.has(uid)) release();
    });
  }
  const named = namedIds();
  for (let attempt = 0; attempt < 256; attempt++) {
    const uid = range.first + (range.count === 1 ? 0 : randomInt(0, range.count));
    if (named.has(uid)) continue;
    const file = path.join(lockDir, String(uid));
    try {
      fs.writeFileSync(file, `${hostTag()}\n`, { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new PluginError('SandboxUnavailable', `cannot create uid lease ${file}`, { cause: e });
      }
      // Held: take it over only when its host is gone and nothing runs as the uid any more (its sandboxes died with
      // it, or were killed by a later host's cgroup sweep).
      if (leaseHolderGone(file) && !uidInUse(uid)) {
        try {
          fs.unlinkSync(file);
        } catch {
          // Another host took it over first; try another uid.
        }
      }
      continue;
    }
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      held.delete(file);
      if (readOrEmpty(file).trim() === hostTag()) fs.rmSync(file, { force: true });
    };
    held.set(file, { uid, release });
    return { uid, release };
  }
  throw new PluginError(
    'SandboxUnavailable',
    `no free uid in ${range.first} + ${range.count} after 256 tries (leases in ${lockDir})`,
  );
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
