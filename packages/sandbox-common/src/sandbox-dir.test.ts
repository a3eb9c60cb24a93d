import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostTag } from './host-exit.js';
import {
  isOwnDirectory,
  makeUntaggedSandboxDir,
  OWNER_FILE,
  readOwnSmallFile,
  sweepStaleSandboxDirs,
} from './sandbox-dir.js';

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-sandbox-dir-'));
afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

/** The pid of a process that has exited (and been reaped): nothing has it for the moment. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('sweepStaleSandboxDirs', () => {
  it('removes the folders of gone hosts (pid free, or pid reused) and keeps live ones and foreign names', () => {
    const dead = deadPid();
    const start = Number(hostTag().split('-')[1]);
    const names = {
      mine: `pw-x-${hostTag()}-a`,
      deadTagged: `pw-x-${dead}-5-b`,
      deadOld: `pw-x-${dead}-c`,
      reused: `pw-x-${process.pid}-${start + 7}-d`,
      foreign: 'pw-x-sbx-1-2-e',
      other: 'other-1-2-f',
    };
    for (const n of Object.values(names)) fs.mkdirSync(path.join(base, n));
    // A read-only folder needs `beforeRemove` to unlock it for a non-root host.
    fs.writeFileSync(path.join(base, names.deadTagged, 'file'), 'x');
    fs.chmodSync(path.join(base, names.deadTagged), 0o500);
    const removed = sweepStaleSandboxDirs(base, 'pw-x-', (d) => fs.chmodSync(d, 0o700));
    expect(removed.map((d) => path.basename(d)).sort()).toEqual(
      [names.deadTagged, names.deadOld, names.reused].sort(),
    );
    expect(fs.readdirSync(base).sort()).toEqual([names.foreign, names.mine, names.other].sort());
  });

  it("reads the host of an untagged folder from its owner file: a gone host's goes, a live one's and one without stays", () => {
    const sub = fs.mkdtempSync(path.join(base, 'untagged-'));
    const mine = makeUntaggedSandboxDir(sub, 'pw-u-', 0o711);
    expect(path.basename(mine)).not.toContain(String(process.pid));
    expect(fs.statSync(mine).mode & 0o777).toBe(0o711);
    expect(fs.statSync(path.join(mine, OWNER_FILE)).mode & 0o777).toBe(0o600);
    const gone = makeUntaggedSandboxDir(sub, 'pw-u-', 0o711);
    fs.writeFileSync(path.join(gone, OWNER_FILE), `${deadPid()}-5-\n`);
    const goneBeside = makeUntaggedSandboxDir(sub, 'pw-u-', 0o700, 'beside');
    expect(fs.existsSync(path.join(goneBeside, OWNER_FILE))).toBe(false);
    fs.writeFileSync(`${goneBeside}${OWNER_FILE}`, `${deadPid()}-5-\n`);
    const mineBeside = makeUntaggedSandboxDir(sub, 'pw-u-', 0o700, 'beside');
    const unknown = path.join(sub, 'pw-u-0123abcd');
    fs.mkdirSync(unknown);
    expect(sweepStaleSandboxDirs(sub, 'pw-u-').sort()).toEqual([gone, goneBeside].sort());
    expect(fs.readdirSync(sub).sort()).toEqual(
      [mine, mineBeside, `${mineBeside}${OWNER_FILE}`, unknown].map((p) => path.basename(p)).sort(),
    );
  });

  it('judges only real directories of its own user, and reads owner files only as small regular files of its own', () => {
    const sub = fs.mkdtempSync(path.join(base, 'planted-'));
    // A link to a dead host's folder elsewhere: not followed, not removed through.
    const target = fs.mkdtempSync(path.join(base, 'target-'));
    fs.writeFileSync(path.join(target, 'keep'), 'x');
    const link = path.join(sub, `pw-p-${deadPid()}-5-x`);
    fs.symlinkSync(target, link);
    expect(isOwnDirectory(link)).toBe(false);
    // An owner file that is a FIFO: never opened blocking (the sweep would hang for ever).
    const fifoDir = path.join(sub, 'pw-p-fifo');
    fs.mkdirSync(fifoDir);
    execFileSync('mkfifo', [path.join(fifoDir, OWNER_FILE)]);
    expect(readOwnSmallFile(path.join(fifoDir, OWNER_FILE))).toBeUndefined();
    // An owner file that is a link to a dead host's tag: not followed.
    const linkedOwner = path.join(sub, 'pw-p-linked');
    fs.mkdirSync(linkedOwner);
    fs.writeFileSync(path.join(sub, 'tag'), `${deadPid()}-5-\n`);
    fs.symlinkSync(path.join(sub, 'tag'), path.join(linkedOwner, OWNER_FILE));
    expect(readOwnSmallFile(path.join(linkedOwner, OWNER_FILE))).toBeUndefined();
    // Too large: not read.
    fs.writeFileSync(path.join(sub, 'big'), 'x'.repeat(5000));
    expect(readOwnSmallFile(path.join(sub, 'big'))).toBeUndefined();
    expect(readOwnSmallFile(path.join(sub, 'tag'))).toMatch(/^\d+-5-\n$/);
    expect(sweepStaleSandboxDirs(sub, 'pw-p-')).toEqual([]);
    expect(fs.readdirSync(target)).toEqual(['keep']);
    expect(fs.readdirSync(sub).sort()).toEqual(
      ['big', path.basename(link), 'pw-p-fifo', 'pw-p-linked', 'tag'].sort(),
    );
  });
});
