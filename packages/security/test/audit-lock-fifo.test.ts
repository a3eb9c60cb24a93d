// audit s9b #4 (→ packages/security/test/): withFileLock promises `Timeout` within `timeoutMs` — but a lock path that
// is a FIFO (or a symlink to one) makes `readLock`'s `open(path, 'r')` block for ever: the trust-list update never
// returns and one libuv pool thread is stuck per attempt (four attempts stall every fs call of the host). The trust
// list's directory is not checked to be private (only the floor's is), so whoever may write it can do this.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { withFileLock } from '../src/file-lock.js';
import { tempDir } from './helpers.js';

it('a lock that is a FIFO: Timeout within timeoutMs, never a hang', { timeout: 60_000 }, async () => {
  const lock = join(tempDir('lock-fifo'), 'trust.lock');
  execFileSync('mkfifo', [lock]);
  const got = await Promise.race([
    withFileLock(lock, async () => 'entered', { timeoutMs: 1000 }).catch((e: { code?: string }) => e.code),
    new Promise((r) => setTimeout(() => r('still waiting after 20 s'), 20_000).unref()),
  ]);
  // Unblock a stuck open (if any) so the worker can end: a writer end opened and closed.
  try {
    execFileSync('sh', ['-c', `exec 3>'${lock}'`], { timeout: 2000 });
  } catch {
    // nobody was reading
  }
  expect(got).toBe('Timeout');
});
