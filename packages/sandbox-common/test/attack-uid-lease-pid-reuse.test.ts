// A stale state after a crash, attacked by pid reuse: a host killed with SIGKILL leaves its uid leases behind, and its
// pid may belong to another process by the time the next host looks. A lease naming the pid alone then looks held
// forever — every crash of a busy host shrinks the uid range until allocation fails. Leases name the host tag (pid +
// start time): a lease whose pid was reused is taken over; a live host's lease, and a lease of an earlier version
// naming a live pid, are not.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { processStartTime } from '@plugward/host-state';
import { afterAll, describe, expect, it } from 'vitest';
import { allocateUid, hostTag } from '../src/index.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-lease-reuse-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
let n = 0;
function lockDir(): string {
  const d = path.join(base, `uids-${n++}`);
  fs.mkdirSync(d, { mode: 0o700 });
  return d;
}

const live = process.ppid;
const liveStart = processStartTime(live) as number;

describe('attack: uid leases of a dead host whose pid was reused', () => {
  it('a lease names this host by its tag (pid and start time)', () => {
    const dir = lockDir();
    const lease = allocateUid({ first: 3_600_000, count: 1 }, dir);
    expect(fs.readFileSync(path.join(dir, '3600000'), 'utf8')).toBe(`${hostTag()}\n`);
    lease.release();
    expect(fs.existsSync(path.join(dir, '3600000'))).toBe(false);
  });

  it('the only uid of the range, held by a dead host whose pid a live process now has: taken over', () => {
    const dir = lockDir();
    fs.writeFileSync(path.join(dir, '3600100'), `${live}-${liveStart + 1}\n`);
    const lease = allocateUid({ first: 3_600_100, count: 1 }, dir);
    expect(lease.uid).toBe(3_600_100);
    lease.release();
  });

  it('the first use of a lock directory sweeps such leases; live hosts keep theirs, in either format', () => {
    const dir = lockDir();
    const leases = {
      reused: `${live}-${liveStart + 1}`,
      alive: `${live}-${liveStart}`,
      oldAlive: `${live}`,
    };
    const files = { reused: '3600200', alive: '3600201', oldAlive: '3600202' };
    for (const [k, content] of Object.entries(leases)) {
      fs.writeFileSync(path.join(dir, files[k as keyof typeof files]), `${content}\n`);
    }
    allocateUid({ first: 3_600_210, count: 5 }, dir).release();
    expect(fs.existsSync(path.join(dir, files.reused))).toBe(false);
    expect(fs.existsSync(path.join(dir, files.alive))).toBe(true);
    expect(fs.existsSync(path.join(dir, files.oldAlive))).toBe(true);
    // Held by live hosts: never handed out.
    expect(() => allocateUid({ first: 3_600_201, count: 2 }, dir)).toThrow(/no free uid/);
  });
});
