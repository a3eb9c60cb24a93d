import { createHash, randomBytes } from 'node:crypto';
import { constants, readFileSync } from 'node:fs';
import { type FileHandle, link, open, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostGone, hostTag, parseHostTag } from '@plugward/host-state';
import { PluginError } from '@plugward/types';

/** A lock file is a host tag and a nonce; anything longer is not ours to judge by content (age only). */
const MAX_LOCK_TEXT = 256;

/** `link` fails so where the filesystem has no hard links (FAT, some network filesystems). */
const NO_HARD_LINKS = new Set<unknown>(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

function errorCode(e: unknown): unknown {
  return (e as { code?: unknown }).code;
}

/** A lock file as read through one descriptor: its content and times belong to the same file. */
interface LockState {
  text: string;
  mtimeMs: number;
  ctimeMs: number;
  /** The file's identity, mtime and content: a holder that touches its lock changes it. */
  seen: string;
}

async function readLock(path: string): Promise<LockState | undefined> {
  let fh: FileHandle;
  try {
    // Never through a symlink, never blocking: a FIFO planted at the lock's name would hold the open (and a thread of
    // the pool) for ever. Only a regular file is a lock to judge; anything else waits out the timeout.
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(MAX_LOCK_TEXT + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('utf8');
    // Not the ctime: a break claim (a hard link to the lock) changes it without the holder doing anything.
    const seen = `${st.dev}:${st.ino}:${st.mtimeMs}:${text}`;
    return { text, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, seen };
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * Whether a lock may be broken: untouched for `staleMs` (a live holder touches it while it works) — by its mtime, or
 * as this process watched it (a far-future mtime never ages by the clock) — or its holder is
 * gone by `hostGone` — which never judges a host of another pid namespace (only age breaks its lock). A lock holding a
 * bare pid was written by an earlier version and is judged as it was then; an empty or unreadable one by age alone.
 */
function breakable(lockPath: string, lock: LockState, staleMs: number): boolean {
  if (Date.now() - lock.mtimeMs > staleMs) return true;
  if (unchangedFor(lockPath, lock) > staleMs) return true;
  // A holder on another machine (a list on a network filesystem) is never judged by its pid: the initial pid
  // namespace has the same number on every Linux machine, so its tag alone can't tell. Only age breaks its lock.
  const boot = /-b([0-9a-f]{32}|unknown)-[0-9a-f]{16}$/.exec(lock.text)?.[1];
  if (boot !== undefined && (boot === 'unknown' || boot !== bootId())) return false;
  const owner = /^\d+(?:-|$)/.test(lock.text) ? parseHostTag(`${lock.text}-`) : undefined;
  return owner !== undefined && hostGone(owner);
}

/** Per lock path: the lock as this process first saw it unchanged, and when (monotonic clock). */
const watched = new Map<string, { seen: string; since: number }>();

/**
 * How long (ms, this process's monotonic clock) the lock at `lockPath` has been seen exactly as `lock` — same file,
 * mtime and content. A live holder touches its lock every `staleMs / 3`, so a lock unchanged for `staleMs` is stale
 * whatever its mtime says: a far-future mtime (a clock set ahead, or a planted file) would never age by the wall clock.
 */
function unchangedFor(lockPath: string, lock: LockState): number {
  const now = performance.now();
  const was = watched.get(lockPath);
  if (was === undefined || was.seen !== lock.seen) {
    watched.delete(lockPath);
    if (watched.size >= 64) watched.delete(watched.keys().next().value as string);
    watched.set(lockPath, { seen: lock.seen, since: now });
    return 0;
  }
  return now - was.since;
}

let ownBootId: string | undefined;

/** This boot of this machine's kernel (`/proc/sys/kernel/random/boot_id`, 32 hex), or `unknown`. */
function bootId(): string {
  if (ownBootId === undefined) {
    try {
      const id = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8')
        .trim()
        .replace(/-/g, '')
        .toLowerCase();
      ownBootId = /^[0-9a-f]{32}$/.test(id) ? id : 'unknown';
    } catch {
      ownBootId = 'unknown';
    }
  }
  return ownBootId;
}

/**
 * Breaks the lock read as `judged`. A breaker first claims the break: a hard link `<lock>.break-<digest of judged>`
 * to whatever is the lock right now (`link` fails if another breaker holds that claim), then checks through the claim
 * that the file it linked is still the judged lock and still breakable, and only then unlinks the lock. So two
 * waiters that judged the same lock dead never both break — the second one can't unlink the first one's fresh lock —
 * and a breaker that linked a newer lock sees so and leaves it alone. A claim left by a breaker that died mid-break is
 * dropped once it is `staleMs` old (a link's age is its ctime).
 */
async function breakLock(lockPath: string, judged: LockState, staleMs: number): Promise<void> {
  const digest = createHash('sha256').update(judged.text).digest('hex').slice(0, 32);
  const claim = `${lockPath}.break-${digest}`;
  try {
    await link(lockPath, claim);
  } catch (e) {
    if (errorCode(e) === 'EEXIST') {
      const other = await readLock(claim);
      if (other !== undefined && Date.now() - other.ctimeMs > staleMs)
        await unlink(claim).catch(() => undefined);
    } else if (NO_HARD_LINKS.has(errorCode(e))) {
      // No claim possible here: judged again right before the unlink (a small window remains where two waiters break).
      const now = await readLock(lockPath);
      if (now !== undefined && now.text === judged.text && breakable(lockPath, now, staleMs)) {
        await unlink(lockPath).catch(() => undefined);
      }
    }
    return;
  }
  try {
    const now = await readLock(claim);
    // The claim is a link to the lock's inode: the same times and content as the lock itself.
    if (now !== undefined && now.text === judged.text && breakable(lockPath, now, staleMs)) {
      await unlink(lockPath).catch(() => undefined);
    }
  } finally {
    await unlink(claim).catch(() => undefined);
  }
}

/**
 * Creates the lock with `token` inside, whole or not at all: written to a fresh file first, then hard-linked to the
 * lock's name (`link` fails with `EEXIST` when a lock is there). @returns the open lock file (to keep it fresh), or
 * undefined when another process holds the lock.
 */
async function tryCreate(lockPath: string, token: string): Promise<FileHandle | undefined> {
  const tmp = `${lockPath}.${randomBytes(6).toString('hex')}.new`;
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'wx', 0o600);
  } catch (e) {
    throw new PluginError('IoError', `cannot create lock ${lockPath}: ${(e as Error).message}`, { cause: e });
  }
  try {
    await fh.writeFile(token);
    await link(tmp, lockPath);
    return fh;
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (errorCode(e) === 'EEXIST') return undefined;
    if (NO_HARD_LINKS.has(errorCode(e))) return createInPlace(lockPath, token);
    throw new PluginError('IoError', `cannot create lock ${lockPath}: ${(e as Error).message}`, { cause: e });
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** {@link tryCreate} where there are no hard links: `O_EXCL` on the lock's name, then the token (empty meanwhile). */
async function createInPlace(lockPath: string, token: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(lockPath, 'wx', 0o600);
  } catch (e) {
    if (errorCode(e) === 'EEXIST') return undefined;
    throw new PluginError('IoError', `cannot create lock ${lockPath}: ${(e as Error).message}`, { cause: e });
  }
  try {
    await fh.writeFile(token);
    return fh;
  } catch (e) {
    await fh.close().catch(() => undefined);
    await unlink(lockPath).catch(() => undefined);
    throw new PluginError('IoError', `cannot write lock ${lockPath}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Runs `fn` holding an exclusive lock file. The lock holds this host's tag (`hostTag()` of @plugward/host-state: pid,
 * start time, pid namespace), this machine's boot id and a nonce for this one acquisition, and is touched every
 * `staleMs / 3` while `fn` runs. A lock is broken when its holder is gone (`hostGone`: same machine and boot, same pid
 * namespace only — a holder in another pid namespace or on another machine sharing the directory is never judged by
 * its pid) or when it was not touched for `staleMs` (a holder that died elsewhere, or one stopped that long): by its
 * mtime, or — whatever its mtime says (a clock ahead, a planted file) — seen unchanged that long by this process. A lock
 * path that is not a regular file (a FIFO, a symlink) is never opened through: the waiter times out. The break is claimed first, so two
 * waiters never both break it, and on the way out only a lock still holding this acquisition's nonce is removed.
 * Serialises read-modify-write of the trust list across processes.
 * @throws PluginError `Timeout` when the lock is not acquired within `timeoutMs`.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: { timeoutMs?: number; staleMs?: number } = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const staleMs = options.staleMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const token = `${hostTag()}-b${bootId()}-${randomBytes(8).toString('hex')}`;
  let held: FileHandle | undefined;
  for (;;) {
    held = await tryCreate(lockPath, token);
    if (held !== undefined) break;
    const lock = await readLock(lockPath);
    // Gone between the two: retry at once.
    if (lock !== undefined && breakable(lockPath, lock, staleMs)) await breakLock(lockPath, lock, staleMs);
    if (Date.now() > deadline) {
      throw new PluginError(
        'Timeout',
        `could not lock ${lockPath} within ${timeoutMs} ms (another process holds it)`,
      );
    }
    await sleep(5 + Math.floor(Math.random() * 20));
  }
  watched.delete(lockPath);
  const lockFile = held;
  const beat = setInterval(
    () => {
      const now = new Date();
      lockFile.utimes(now, now).catch(() => undefined);
    },
    Math.max(1, Math.floor(staleMs / 3)),
  );
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    if ((await readLock(lockPath))?.text === token) await unlink(lockPath).catch(() => undefined);
    await lockFile.close().catch(() => undefined);
  }
}
