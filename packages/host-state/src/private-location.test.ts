import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { privateDirectoryProblem, privateFileProblem } from './private-location.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-private-dir-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function dir(mode: number): string {
  const d = fs.mkdtempSync(path.join(root, 'd-'));
  fs.chmodSync(d, mode);
  return d;
}

describe('privateDirectoryProblem', () => {
  it('accepts a private directory, a missing one under it, and one under a sticky world-writable folder', () => {
    const mine = dir(0o700);
    expect(privateDirectoryProblem(mine)).toBeUndefined();
    expect(privateDirectoryProblem(path.join(mine, 'not', 'yet'))).toBeUndefined();
    const sticky = dir(0o1777);
    const inside = path.join(sticky, 'state');
    fs.mkdirSync(inside, { mode: 0o700 });
    expect(privateDirectoryProblem(inside)).toBeUndefined();
  });

  it('names the ancestor others can write, also for a directory not created yet', () => {
    const open = dir(0o777);
    const inside = path.join(open, 'a');
    fs.mkdirSync(inside, { mode: 0o700 });
    expect(privateDirectoryProblem(inside)).toMatchObject({ path: open, reason: 'writable-by-others' });
    expect(privateDirectoryProblem(path.join(open, 'b', 'c'))).toMatchObject({
      path: open,
      reason: 'writable-by-others',
    });
  });

  it('refuses the directory itself when it is a symlink, group-writable or not a directory', () => {
    const mine = dir(0o700);
    const link = path.join(root, `link-${path.basename(mine)}`);
    fs.symlinkSync(mine, link);
    expect(privateDirectoryProblem(link)).toMatchObject({ reason: 'symlink' });
    expect(privateDirectoryProblem(dir(0o770))).toMatchObject({ reason: 'writable-by-others' });
    const file = path.join(mine, 'file');
    fs.writeFileSync(file, '');
    expect(privateDirectoryProblem(file)).toMatchObject({ reason: 'not-a-directory' });
    expect(privateDirectoryProblem(path.join(file, 'below'))).toMatchObject({ reason: 'not-a-directory' });
  });

  it('follows a symlink on the way to the directories the path really goes through', () => {
    const open = dir(0o777);
    fs.mkdirSync(path.join(open, 'state'), { mode: 0o700 });
    const via = path.join(dir(0o700), 'via');
    fs.symlinkSync(open, via);
    expect(privateDirectoryProblem(path.join(via, 'state'))).toMatchObject({
      path: open,
      reason: 'writable-by-others',
    });
  });

  it('refuses a directory another user owns, and an ancestor they own', () => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: needs root to make a directory owned by another user');
      return;
    }
    const theirs = dir(0o755);
    fs.chownSync(theirs, 65534, 65534);
    expect(privateDirectoryProblem(theirs)).toMatchObject({ reason: 'foreign-owner' });
    const below = path.join(theirs, 'mine');
    fs.mkdirSync(below, { mode: 0o700 });
    expect(privateDirectoryProblem(below)).toMatchObject({ path: theirs, reason: 'foreign-owner' });
  });
});

describe('privateFileProblem', () => {
  it('accepts a private file, a 0644 one (readable is not swappable), and a missing one in a private directory', () => {
    const d = dir(0o700);
    const f = path.join(d, 'k');
    fs.writeFileSync(f, 'x', { mode: 0o644 });
    expect(privateFileProblem(f)).toBeUndefined();
    expect(privateFileProblem(path.join(d, 'missing'))).toBeUndefined();
  });

  it('refuses a group/world-writable file, a non-regular one, and one in a group-writable directory', () => {
    const d = dir(0o700);
    const f = path.join(d, 'k');
    fs.writeFileSync(f, 'x');
    fs.chmodSync(f, 0o620);
    expect(privateFileProblem(f)).toMatchObject({ path: f, reason: 'writable-by-others' });
    expect(privateFileProblem(d)).toMatchObject({ path: d, reason: 'not-a-regular-file' });
    const open = dir(0o770);
    fs.writeFileSync(path.join(open, 'k'), 'x', { mode: 0o600 });
    expect(privateFileProblem(path.join(open, 'k'))).toMatchObject({
      path: open,
      reason: 'writable-by-others',
    });
  });

  it('judges a symlink by where it leads: into a world-writable directory, or to a writable file', () => {
    const open = dir(0o777);
    fs.writeFileSync(path.join(open, 'k'), 'x', { mode: 0o600 });
    const d = dir(0o700);
    fs.symlinkSync(path.join(open, 'k'), path.join(d, 'link'));
    expect(privateFileProblem(path.join(d, 'link'))).toMatchObject({
      path: open,
      reason: 'writable-by-others',
    });
    const mine = dir(0o700);
    fs.writeFileSync(path.join(mine, 'w'), 'x');
    fs.chmodSync(path.join(mine, 'w'), 0o666);
    fs.symlinkSync(path.join(mine, 'w'), path.join(d, 'link2'));
    expect(privateFileProblem(path.join(d, 'link2'))).toMatchObject({ path: path.join(mine, 'w') });
    fs.symlinkSync(path.join(mine, 'gone'), path.join(d, 'dangling'));
    expect(privateFileProblem(path.join(d, 'dangling'))).toBeUndefined();
  });
});
