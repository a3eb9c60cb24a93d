import { open, readFile, stat, unlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PluginError } from '@plugward/types';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: unknown }).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding an exclusive lock file (`O_CREAT|O_EXCL`, our pid inside). A lock whose process is gone, or that
 * is older than `staleMs`, is broken. Serialises read-modify-write of the trust list across processes.
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
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      try {
        await fh.writeFile(String(process.pid));
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'EEXIST') {
        throw new PluginError('IoError', `cannot create lock ${lockPath}: ${(e as Error).message}`, {
          cause: e,
        });
      }
    }
    try {
      const [text, st] = await Promise.all([readFile(lockPath, 'utf8'), stat(lockPath)]);
      const pid = Number.parseInt(text, 10);
      // An empty file is a lock being written right now; only age makes it stale.
      const dead = Number.isInteger(pid) && pid > 0 && !alive(pid);
      if (dead || Date.now() - st.mtimeMs > staleMs) await unlink(lockPath).catch(() => undefined);
    } catch {
      // Lock vanished between open and read: retry at once.
    }
    if (Date.now() > deadline) {
      throw new PluginError(
        'Timeout',
        `could not lock ${lockPath} within ${timeoutMs} ms (another process holds it)`,
      );
    }
    await sleep(5 + Math.floor(Math.random() * 20));
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => undefined);
  }
}
