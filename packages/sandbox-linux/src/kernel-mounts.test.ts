import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openPathHandle } from '@plugward/sandbox-common';
import { afterAll, expect, it } from 'vitest';
import { kernelFilesystemProblem, kernelFilesystemProblemOfHandle } from './kernel-mounts.js';

const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'pw-kmounts-')));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function ofHandle(p: string): string | undefined {
  const fd = openPathHandle(p);
  try {
    return kernelFilesystemProblemOfHandle(fd);
  } finally {
    fs.closeSync(fd);
  }
}

it('judges an opened object: inside a kernel filesystem, one below it, or neither', () => {
  expect(ofHandle('/proc')).toMatch(/inside the host's proc at \/proc/);
  expect(ofHandle('/sys/kernel')).toMatch(/inside the host's sysfs/);
  expect(ofHandle('/')).toMatch(/below it/);
  expect(ofHandle(dir)).toBeUndefined();
});

it.skipIf(process.getuid?.() !== 0)(
  'by the object the handle holds, not by what is mounted at its path afterwards',
  () => {
    const a = path.join(dir, 'a');
    fs.mkdirSync(a);
    const fd = openPathHandle(a);
    execFileSync('mount', ['-t', 'proc', 'proc', a]);
    try {
      expect(kernelFilesystemProblem(a)).toMatch(/inside the host's proc/);
      expect(kernelFilesystemProblemOfHandle(fd)).toBeUndefined();
    } finally {
      fs.closeSync(fd);
      execFileSync('umount', ['-l', a]);
    }
  },
);
