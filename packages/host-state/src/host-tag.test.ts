import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { hostGone, hostTag, ownPidNamespace, parseHostTag, processStartTime } from './host-tag.js';

/** The pid of a process that has exited (and been reaped): nothing has it for the moment. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('host tag', () => {
  it('names this host by pid, start time and pid namespace, and reads them back (and older tags)', () => {
    const tag = hostTag();
    expect(tag).toMatch(new RegExp(`^${process.pid}-\\d+-p\\d+$`));
    expect(tag.split('-')[1]).not.toBe('0');
    expect(parseHostTag(`${tag}-abc123`)).toEqual({
      pid: process.pid,
      startTime: Number(tag.split('-')[1]),
      pidNamespace: ownPidNamespace(),
    });
    expect(parseHostTag(`${process.pid}-77-abc123`)).toEqual({ pid: process.pid, startTime: 77 });
    expect(parseHostTag(`${process.pid}-77-p123`)).toEqual({ pid: process.pid, startTime: 77 });
    expect(parseHostTag(`${process.pid}-abc123`)).toEqual({ pid: process.pid });
    expect(parseHostTag('sbx-1-2-x')).toBeUndefined();
    expect(parseHostTag('0-1-x')).toBeUndefined();
  });

  it('tells a live host from a dead one, and from a later process that got a dead host’s pid', () => {
    const own = parseHostTag(`${hostTag()}-x`);
    expect(own && hostGone(own)).toBe(false);
    expect(hostGone({ pid: process.pid })).toBe(false);
    const dead = deadPid();
    expect(hostGone({ pid: dead, startTime: 1 })).toBe(true);
    expect(hostGone({ pid: dead })).toBe(true);
    // A pid in use now, by a process started at another time than the one named: the named host is gone.
    const start = Number(hostTag().split('-')[1]);
    expect(hostGone({ pid: process.pid, startTime: start + 1 })).toBe(true);
    expect(hostGone({ pid: process.ppid, startTime: 1 })).toBe(true);
  });

  it('never judges a host of another pid namespace: its pids mean nothing here', () => {
    const other = (ownPidNamespace() ?? 0) + 1;
    // Dead by this namespace's pids, and a live pid started at another time: both left alone.
    expect(hostGone({ pid: deadPid(), startTime: 1, pidNamespace: other })).toBe(false);
    expect(hostGone({ pid: process.ppid, startTime: 1, pidNamespace: other })).toBe(false);
    // The same owners in this host's namespace are judged as before.
    expect(hostGone({ pid: deadPid(), startTime: 1, pidNamespace: ownPidNamespace() ?? undefined })).toBe(
      true,
    );
  });
});

describe('processStartTime', () => {
  it('reads field 22 after the last parenthesis, and is undefined for a gone pid', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toBeGreaterThan(0);
    expect(hostTag().startsWith(`${process.pid}-${mine}-p`)).toBe(true);
    expect(processStartTime(deadPid())).toBeUndefined();
  });
});
