import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { warmCgroupAttach } from './cgroup-attach-warmup.js';

/** Every thread of this process with the cgroups it is in. */
function threadsCgroups(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      out[tid] = fs.readFileSync(`/proc/self/task/${tid}/cgroup`, 'utf8');
    } catch {
      // A thread that ended meanwhile.
    }
  }
  return out;
}

describe('warmCgroupAttach', () => {
  it('moves no thread of the host anywhere (it writes the main thread into the group it is in)', async () => {
    const before = threadsCgroups();
    for (let i = 0; i < 3; i++) warmCgroupAttach();
    // The writes run on the thread pool: give them time to land.
    await sleep(200);
    const after = threadsCgroups();
    for (const [tid, groups] of Object.entries(after))
      if (before[tid] !== undefined) expect(groups).toBe(before[tid]);
    expect(after[String(process.pid)]).toBe(before[String(process.pid)]);
  });
});
