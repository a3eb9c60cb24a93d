// Another local user attacks where the host keeps what decides uid leases and what a sandbox sees. Whoever can write a
// directory *above* the uid lock directory (or above a per-sandbox folder, a seccomp filter file) can rename it away
// and put their own in its place: drop the leases (two hosts then run sandboxes as one uid), or swap the filter a
// sandbox is confined by. The lock directory itself being private was checked before; its ancestors were not.
// The other user is played by chown to an unused uid, so the ownership cases need root (skipped with a reason).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { allocateUid, sandboxDirBase, withTempFile } from '../src/index.js';

const root = process.getuid?.() === 0;
const STRANGER = 4242;
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-attack-state-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));
const savedTmp = process.env.TMPDIR;
afterEach(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
});

function place(name: string, mode: number, owner?: number): string {
  const d = path.join(base, name);
  fs.mkdirSync(d);
  fs.chmodSync(d, mode);
  if (owner !== undefined) fs.chownSync(d, owner, owner);
  return d;
}

const range = { first: 3_500_000, count: 100 };
const itAsRoot = root ? it : it.skip;
if (!root)
  console.log('attack-host-state-dirs: not root: the cases where another user owns a directory are skipped');

describe('attack: the uid lock directory under a directory another user controls', () => {
  itAsRoot('an ancestor owned by another user: refused, naming it', () => {
    const theirs = place('theirs', 0o755, STRANGER);
    expect(() => allocateUid(range, path.join(theirs, 'uids'))).toThrow(
      expect.objectContaining({
        code: 'SandboxUnavailable',
        details: expect.objectContaining({ path: theirs }),
      }),
    );
    // Nothing was created inside it.
    expect(fs.readdirSync(theirs)).toEqual([]);
  });

  it('an ancestor writable by its group (not sticky): refused', () => {
    const open = place('group-writable', 0o775);
    const lockDir = path.join(open, 'a', 'uids');
    expect(() => allocateUid(range, lockDir)).toThrow(
      expect.objectContaining({
        code: 'SandboxUnavailable',
        details: expect.objectContaining({ path: open, problem: 'writable-by-others' }),
      }),
    );
  });

  it('an existing private lock directory whose parent became world-writable: refused', () => {
    const parent = place('later-open', 0o755);
    const lockDir = path.join(parent, 'uids');
    allocateUid(range, lockDir).release();
    fs.chmodSync(parent, 0o777);
    expect(() => allocateUid(range, lockDir)).toThrow(/another user could swap it/);
  });

  itAsRoot('reached through a symlink another user owns: refused', () => {
    const mine = place('mine', 0o700);
    const link = path.join(place('links', 0o755), 'via');
    fs.symlinkSync(mine, link);
    fs.lchownSync(link, STRANGER, STRANGER);
    expect(() => allocateUid(range, path.join(link, 'uids'))).toThrow(
      expect.objectContaining({
        code: 'SandboxUnavailable',
        details: expect.objectContaining({ path: link }),
      }),
    );
  });

  it('a private chain (and a sticky world-writable one, like /tmp) is accepted', () => {
    allocateUid(range, path.join(place('private', 0o700), 'uids')).release();
    allocateUid(range, path.join(place('sticky', 0o1777), 'uids')).release();
  });
});

describe('attack: a TMPDIR others can write holds per-sandbox folders and seccomp filters', () => {
  it('a non-root host refuses sandbox folders in a world-writable, non-sticky TMPDIR', () => {
    process.env.TMPDIR = place('tmp-open', 0o777);
    expect(() => sandboxDirBase(false, '/unused')).toThrow(
      expect.objectContaining({
        code: 'SandboxUnavailable',
        details: expect.objectContaining({ problem: 'writable-by-others' }),
      }),
    );
    process.env.TMPDIR = place('tmp-sticky', 0o1777);
    expect(sandboxDirBase(false, '/unused')).toBe(process.env.TMPDIR);
  });

  it('the seccomp filter is never written under a TMPDIR others can write', () => {
    process.env.TMPDIR = place('tmp-bpf', 0o777);
    let ran = false;
    expect(() =>
      withTempFile(() => {
        ran = true;
      }),
    ).toThrow(expect.objectContaining({ code: 'SandboxUnavailable' }));
    expect(ran).toBe(false);
    expect(fs.readdirSync(process.env.TMPDIR)).toEqual([]);
  });

  it('a root host refuses a sandbox root directory under a directory others can write', () => {
    const open = place('root-dir-open', 0o777);
    expect(() => sandboxDirBase(true, path.join(open, 'plugward-sbx'))).toThrow(
      expect.objectContaining({
        code: 'SandboxUnavailable',
        details: expect.objectContaining({ path: open }),
      }),
    );
  });
});
