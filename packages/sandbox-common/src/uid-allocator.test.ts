import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allocateUid, uidInUse, validateUidRange } from './uid-allocator.js';

const dirs: string[] = [];
function lockDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-uids-'));
  dirs.push(d);
  return path.join(d, 'uids');
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('allocateUid', () => {
  it('hands out distinct uids from the range and takes them back on release', () => {
    const dir = lockDir();
    const range = { first: 3_000_000, count: 4 };
    const leases = [0, 1, 2, 3].map(() => allocateUid(range, dir));
    const uids = leases.map((l) => l.uid).sort();
    expect(new Set(uids).size).toBe(4);
    for (const u of uids) expect(u).toBeGreaterThanOrEqual(3_000_000);
    for (const u of uids) expect(u).toBeLessThan(3_000_004);
    expect(() => allocateUid(range, dir)).toThrow(/no free uid/);
    leases[0]?.release();
    leases[0]?.release();
    expect(allocateUid(range, dir).uid).toBe(leases[0]?.uid);
  });

  it('takes over a lease whose host is gone, never one whose host lives', () => {
    const dir = lockDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const range = { first: 3_100_000, count: 1 };
    // A pid that cannot exist (above pid_max), as a host killed with SIGKILL would leave behind.
    fs.writeFileSync(path.join(dir, '3100000'), '999999999\n');
    expect(allocateUid(range, dir).uid).toBe(3_100_000);
    // Now held by this (live) process: a second host can't have it.
    expect(() => allocateUid(range, dir)).toThrow(/no free uid/);
  });

  it('sweeps leases of dead hosts from the directory on first use', () => {
    const dir = lockDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, '3300000'), '999999999\n');
    fs.writeFileSync(path.join(dir, '3300001'), `${process.ppid}\n`);
    allocateUid({ first: 3_300_010, count: 5 }, dir).release();
    expect(fs.existsSync(path.join(dir, '3300000'))).toBe(false);
    expect(fs.existsSync(path.join(dir, '3300001'))).toBe(true);
  });

  it('a host that exits without awaiting its sandboxes leaves no lease behind', async () => {
    const { execFileSync } = await import('node:child_process');
    const dir = lockDir();
    const entry = new URL('../dist/index.js', import.meta.url).href;
    execFileSync(process.execPath, [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(entry)}); m.allocateUid({ first: 3_400_000, count: 10 }, ${JSON.stringify(dir)}); process.exit(0);`,
    ]);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("keeps a dead host's lease while a process still runs as its uid, and takes it over once none does", async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip('needs root to run a process as another uid');
    const { spawn } = await import('node:child_process');
    const dir = lockDir();
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const uid = 3_500_000;
    // A host killed with SIGKILL left its lease; the sandbox it started still runs as the uid.
    fs.writeFileSync(path.join(dir, String(uid)), '999999999\n');
    const orphan = spawn('/bin/sleep', ['60'], { uid, gid: uid });
    await new Promise((r) => orphan.once('spawn', r));
    try {
      expect(uidInUse(uid)).toBe(true);
      expect(() => allocateUid({ first: uid, count: 1 }, dir)).toThrow(/no free uid/);
      expect(fs.readFileSync(path.join(dir, String(uid)), 'utf8')).toBe('999999999\n');
    } finally {
      orphan.kill('SIGKILL');
      await new Promise((r) => orphan.once('exit', r));
    }
    expect(uidInUse(uid)).toBe(false);
    const lease = allocateUid({ first: uid, count: 1 }, dir);
    expect(lease.uid).toBe(uid);
    lease.release();
  });

  it('a host that exits while a process still runs as a leased uid keeps that lease', async (ctx) => {
    if (process.getuid?.() !== 0) return ctx.skip('needs root to run a process as another uid');
    const { execFileSync } = await import('node:child_process');
    const dir = lockDir();
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { spawn } from 'node:child_process';
const m = await import(${JSON.stringify(entry)});
const a = m.allocateUid({ first: 3_600_000, count: 10 }, ${JSON.stringify(dir)});
const b = m.allocateUid({ first: 3_600_000, count: 10 }, ${JSON.stringify(dir)});
const p = spawn('/bin/sleep', ['60'], { uid: a.uid, gid: a.uid, detached: true, stdio: 'ignore' });
await new Promise((r) => p.once('spawn', r));
p.unref();
console.log(JSON.stringify({ running: a.uid, idle: b.uid, pid: p.pid }));
process.exit(0);`,
      ],
      { encoding: 'utf8' },
    );
    const { running, idle, pid } = JSON.parse(out) as { running: number; idle: number; pid: number };
    try {
      expect(fs.readdirSync(dir)).toEqual([String(running)]);
      expect(idle).not.toBe(running);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  it('refuses ranges that reach system uids, 2^31 or the host uid', () => {
    expect(() => validateUidRange({ first: 0, count: 10 })).toThrow(/first ≥ 65536/);
    expect(() => validateUidRange({ first: 1000, count: 10 })).toThrow();
    expect(() => validateUidRange({ first: 0x7fffff00, count: 0x1000 })).toThrow();
    expect(() => validateUidRange({ first: 100_000, count: 0 })).toThrow();
    const own = process.getuid?.() ?? 0;
    if (own >= 65_536) expect(() => validateUidRange({ first: own, count: 1 })).toThrow(/host's own uid/);
  });

  it('refuses a lock directory others can write to', () => {
    const dir = lockDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.chmodSync(dir, 0o777);
    expect(() => allocateUid({ first: 3_200_000, count: 10 }, dir)).toThrow(/writable by other users/);
  });
});
