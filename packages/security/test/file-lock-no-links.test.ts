// `withFileLock` on a filesystem without hard links (FAT, some network filesystems: `link` fails with EPERM): the lock
// is created in place with O_EXCL and a dead holder's lock is still broken; waiters are still served one at a time.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownPidNamespace } from '@plugward/host-state';
import { expect, it, vi } from 'vitest';
import { withFileLock } from '../src/file-lock.js';
import { tempDir } from './helpers.js';

const links = vi.hoisted(() => ({ tried: 0 }));
vi.mock('node:fs/promises', async (original) => ({
  ...(await original<typeof import('node:fs/promises')>()),
  link: async () => {
    links.tried++;
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  },
}));

const dir = tempDir('file-lock-no-links');

it('without hard links: locks in place, breaks a dead holder, serves waiters one at a time, leaves nothing', async () => {
  const lock = join(dir, 'list.enc.lock');
  const gone = Number(
    spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
      .stdout,
  );
  writeFileSync(lock, `${gone}-12345-p${ownPidNamespace()}-00ff00ff00ff00ff`);
  let inside = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 8 }, () =>
      withFileLock(
        lock,
        async () => {
          inside++;
          most = Math.max(most, inside);
          await sleep(2);
          inside--;
        },
        { timeoutMs: 60_000 },
      ),
    ),
  );
  expect({ most, left: existsSync(lock), files: readdirSync(dir) }).toEqual({
    most: 1,
    left: false,
    files: [],
  });
});
