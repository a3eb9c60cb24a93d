// The trust list's lock: a lock whose mtime lies far in the future (a machine whose clock was ahead when it died, or a
// file planted by anyone who can write the list's folder) never aged by the wall clock — every update of the list
// timed out for ever (a revocation could not be saved). A live holder touches its lock every staleMs / 3: a lock seen
// unchanged for staleMs is stale whatever its mtime says. A live holder is still never broken.
import { mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileLock } from '../src/file-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'plugward-lock-future-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A holder on another machine (another boot id): never judged by its pid, only by age. */
const foreignHolder = `4242-12345-p4026531836-b${'ab'.repeat(16)}-00ff00ff00ff00ff`;

describe('audit: a trust-list lock with a far-future mtime', () => {
  it('is broken once it stayed unchanged for staleMs (it never ages by the clock)', async () => {
    const lock = join(dir, 'future.lock');
    writeFileSync(lock, foreignHolder);
    const future = new Date(Date.now() + 10 * 365 * 24 * 3600 * 1000);
    utimesSync(lock, future, future);
    expect(await withFileLock(lock, async () => 'in', { timeoutMs: 8000, staleMs: 400 })).toBe('in');
  });

  it('a live holder whose lock has a future mtime (clock ahead) keeps it: its heartbeat changes it', async () => {
    const lock = join(dir, 'live.lock');
    let waiterIn = false;
    const holder = withFileLock(
      lock,
      async () => {
        // Its clock runs a year ahead: every beat moves the mtime, always in the waiter's future.
        const ahead = setInterval(() => {
          const t = new Date(Date.now() + 365 * 24 * 3600 * 1000 + Math.random() * 1000);
          try {
            utimesSync(lock, t, t);
          } catch {}
        }, 100);
        await new Promise((r) => setTimeout(r, 5000));
        clearInterval(ahead);
        return waiterIn;
      },
      { staleMs: 60_000 },
    );
    await new Promise((r) => setTimeout(r, 100));
    expect(statSync(lock).isFile()).toBe(true);
    const waiter = withFileLock(
      lock,
      async () => {
        waiterIn = true;
      },
      { timeoutMs: 4000, staleMs: 2000 },
    );
    await expect(waiter).rejects.toMatchObject({ code: 'Timeout' });
    expect(await holder).toBe(false);
  });
});
