// The trust list's lock file (`withFileLock`): judged by host tag, never by a bare pid in the reader's pid namespace;
// broken by one waiter at a time; kept fresh by a live holder; removed on the way out only when it is still ours.
import { existsSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { withFileLock } from '../src/file-lock.js';
import { deadHolderLock, freePid, lockWaiters, tempDir } from './helpers.js';

const dir = tempDir('file-lock');

describe('withFileLock', () => {
  it('breaks at once the lock of a holder of this pid namespace that is gone', async () => {
    const lock = join(dir, 'dead.lock');
    deadHolderLock(lock);
    expect(await withFileLock(lock, async () => 'in', { timeoutMs: 30_000, staleMs: 600_000 })).toBe('in');
    expect(existsSync(lock)).toBe(false);
  });

  it('never judges a holder of another pid namespace by its pid: only age breaks its lock', async () => {
    const lock = join(dir, 'foreign.lock');
    // A pid that is free here says nothing about a host in another pid namespace (a container on the same volume).
    writeFileSync(lock, `${freePid()}-12345-p4026531999-00ff00ff00ff00ff`);
    await expect(
      withFileLock(lock, async () => 'in', { timeoutMs: 300, staleMs: 600_000 }),
    ).rejects.toMatchObject({
      code: 'Timeout',
    });
    expect(existsSync(lock)).toBe(true);
    const old = new Date(Date.now() - 700_000);
    utimesSync(lock, old, old);
    expect(await withFileLock(lock, async () => 'in', { timeoutMs: 30_000, staleMs: 600_000 })).toBe('in');
  });

  it('a dead holder broken by many waiters at once: one of them at a time holds the lock', async () => {
    for (let round = 0; round < 3; round++) {
      const lock = join(dir, `race-${round}.lock`);
      deadHolderLock(lock);
      const { most, entered } = await lockWaiters(lock, 16);
      expect({ most, entered, left: existsSync(lock) }).toEqual({ most: 1, entered: 16, left: false });
    }
  });

  it('a live holder keeps its lock fresh while it works, so age never breaks it', async () => {
    const lock = join(dir, 'fresh.lock');
    const touched = await withFileLock(
      lock,
      async () => {
        const first = statSync(lock).mtimeMs;
        for (let i = 0; i < 400; i++) {
          await sleep(50);
          if (statSync(lock).mtimeMs > first) return true;
        }
        return false;
      },
      { staleMs: 300 },
    );
    expect(touched).toBe(true);
  });

  it('on the way out removes the lock only while it is still its own', async () => {
    const lock = join(dir, 'taken.lock');
    const other = `1-1-p1-aaaaaaaaaaaaaaaa`;
    await withFileLock(lock, async () => {
      writeFileSync(`${lock}.x`, other);
      // As a breaker that judged this lock stale and took it would have left it.
      renameSync(`${lock}.x`, lock);
    });
    expect(readFileSync(lock, 'utf8')).toBe(other);
  });
});
