import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cloneMountTree, mountIdOf, openPathHandle } from './path-handle.js';

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pw-handle-')));
fs.mkdirSync(path.join(dir, 'real', 'sub'), { recursive: true });
fs.writeFileSync(path.join(dir, 'real', 'sub', 'file'), 'x');
fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
fs.symlinkSync(path.join(dir, 'real', 'sub', 'file'), path.join(dir, 'real', 'file-link'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function closing<T>(fd: number, f: (fd: number) => T): T {
  try {
    return f(fd);
  } finally {
    fs.closeSync(fd);
  }
}

for (const walkOnly of [false, true]) {
  describe(walkOnly ? 'openPathHandle (the openat2 fallback walk)' : 'openPathHandle (openat2)', () => {
    it('opens the object at a path without symbolic links', () => {
      const target = path.join(dir, 'real', 'sub');
      closing(openPathHandle(target, walkOnly), (fd) => {
        const st = fs.fstatSync(fd);
        expect(st.isDirectory()).toBe(true);
        expect(st.ino).toBe(fs.statSync(target).ino);
        expect(fs.readlinkSync(`/proc/self/fd/${fd}`)).toBe(target);
      });
      closing(openPathHandle(path.join(dir, 'real', 'sub', 'file'), walkOnly), (fd) => {
        expect(fs.fstatSync(fd).isFile()).toBe(true);
      });
    });

    it('refuses a symbolic link on the way or at the end, and a magic link of /proc', () => {
      for (const p of [
        path.join(dir, 'link', 'sub'),
        path.join(dir, 'link'),
        path.join(dir, 'real', 'file-link'),
        '/proc/self/root/etc',
        `/proc/${process.pid}/root/etc`,
      ]) {
        expect(() => openPathHandle(p, walkOnly), p).toThrow(
          expect.objectContaining({
            code: 'InvalidArgument',
            message: expect.stringMatching(/symbolic link/),
          }),
        );
      }
    });

    it('says when the path does not exist', () => {
      expect(() => openPathHandle(path.join(dir, 'missing'), walkOnly)).toThrow(/does not exist/);
    });
  });
}

it('the handle keeps naming the object after its name was swapped for a symbolic link', () => {
  const a = path.join(dir, 'swap-a');
  fs.mkdirSync(a);
  fs.writeFileSync(path.join(a, 'MINE'), '');
  closing(openPathHandle(a), (fd) => {
    fs.renameSync(a, path.join(dir, 'swap-moved'));
    fs.symlinkSync('/proc', a);
    expect(fs.readdirSync(`/proc/self/fd/${fd}`)).toEqual(['MINE']);
  });
});

it('mountIdOf names a mount of /proc/self/mountinfo', () => {
  const ids = fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => Number(l.split(' ')[0]));
  closing(openPathHandle(dir), (fd) => expect(ids).toContain(mountIdOf(fd)));
});

it.skipIf(process.getuid?.() !== 0)('cloneMountTree: a detached copy of the opened object', () => {
  closing(openPathHandle(path.join(dir, 'real')), (fd) => {
    closing(cloneMountTree(fd), (tree) => {
      // A detached tree's root: its path is '/' and it holds what the handle named.
      expect(fs.readlinkSync(`/proc/self/fd/${tree}`)).toBe('/');
      expect(fs.readdirSync(`/proc/self/fd/${tree}`).sort()).toEqual(['file-link', 'sub']);
    });
  });
});
