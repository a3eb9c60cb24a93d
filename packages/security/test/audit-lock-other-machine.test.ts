// audit s9b #1 (→ packages/security/test/): the trust list's lock judges a holder by pid when its tag names this
// host's pid namespace — but the initial pid namespace has the same inode on every Linux machine (PROC_PID_INIT_INO,
// 4026531836). Two machines sharing the trust list's directory (NFS, a cluster volume: the README names network
// filesystems) both write `p4026531836`; each judges the other's live lock by a pid that means nothing here, finds it
// "gone" and breaks it at once: both run their read-modify-write, one update (a `trust rm`: a revocation) is lost.
// The lock below is exactly what this version of withFileLock writes on another machine (its own pid, start time and
// the same namespace inode; any machine identity in it — boot id, machine id, host name — replaced by another
// machine's), kept fresh as a live holder keeps it. A waiter here must not break it (Timeout), only age may.
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withFileLock } from '../src/file-lock.js';
import { freePid, tempDir } from './helpers.js';

const dir = tempDir('lock-other-machine');

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** This machine's lock text as another machine would write it: another pid, another boot/machine id and name. */
function otherMachines(text: string): string {
  let out = text.replace(/^\d+/, String(freePid()));
  const other = 'f00dfeed-0000-4000-8000-0123456789ab';
  for (const own of [readOr('/proc/sys/kernel/random/boot_id'), readOr('/etc/machine-id'), hostname()]) {
    if (own !== undefined && own.length > 0) {
      out = out.split(own).join(own.includes('-') ? other : other.replace(/-/g, ''));
      out = out.split(own.replace(/-/g, '')).join(other.replace(/-/g, ''));
    }
  }
  return out;
}

describe('audit s9b: the trust list lock of a live host on another machine', () => {
  it('is never broken by its pid (only by age)', async () => {
    const lock = join(dir, 'trust.lock');
    // What this version writes into the lock (read while held).
    const own = await withFileLock(lock, async () => readFileSync(lock, 'utf8'));
    const foreign = otherMachines(own);
    expect(foreign).not.toBe(own);
    writeFileSync(lock, foreign);
    // The other machine's holder keeps it fresh.
    const beat = setInterval(() => {
      const now = new Date();
      try {
        utimesSync(lock, now, now);
      } catch {
        // broken: the assertion below says so
      }
    }, 100);
    try {
      const got = await withFileLock(lock, async () => 'entered a live lock', {
        timeoutMs: 1500,
        staleMs: 600_000,
      }).catch((e: { code?: string }) => e.code);
      expect({ got, lockStillTheirs: readOr(lock) === foreign }).toEqual({
        got: 'Timeout',
        lockStillTheirs: true,
      });
    } finally {
      clearInterval(beat);
    }
  });
});
