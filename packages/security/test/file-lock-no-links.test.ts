// `withFileLock` on a filesystem without hard links (FAT, some network filesystems: `link` fails with EPERM): the lock
// is created in place with O_EXCL and a dead holder's lock is still broken; waiters are still served one at a time.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { deadHolderLock, lockWaiters, tempDir } from './helpers.js';

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
  deadHolderLock(lock);
  const { most } = await lockWaiters(lock, 8);
  expect({ most, left: existsSync(lock), files: readdirSync(dir) }).toEqual({
    most: 1,
    left: false,
    files: [],
  });
});
