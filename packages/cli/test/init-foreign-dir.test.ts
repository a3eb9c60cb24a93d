// `plugward init` must not write keys into a directory someone else controls (the attacker's test): the owner of D
// could swap .plugward for their own keys before the author's first `npm run dev`.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../dist/index.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-init-foreign-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

function sink(): Writable & { isTTY: boolean } {
  return Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), { isTTY: false });
}

async function init(dir: string): Promise<number> {
  return main(['init', 'foreign', '--lang', 'js', '--dir', dir], {
    stdout: sink(),
    stderr: sink(),
    env: {},
    cwd: work,
  });
}

describe('audit: plugward init into a directory someone else controls', () => {
  it('refuses an empty directory another user owns', async () => {
    if (process.getuid?.() !== 0) {
      console.warn('!!! SKIPPED: needs root to make a directory owned by another user');
      return;
    }
    const dir = fs.mkdtempSync(path.join(work, 'theirs-'));
    fs.chownSync(dir, 65534, 65534);
    expect(await init(dir)).not.toBe(0);
    expect(fs.existsSync(path.join(dir, '.plugward'))).toBe(false);
  });
  it('refuses an empty world-writable directory, and a symlink to one', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'open-'));
    fs.chmodSync(dir, 0o777);
    const link = path.join(work, 'link');
    fs.symlinkSync(dir, link);
    expect(await init(link)).not.toBe(0);
    expect(await init(dir)).not.toBe(0);
    expect(fs.existsSync(path.join(dir, '.plugward'))).toBe(false);
  });
  it('still creates a project in a new directory (control)', async () => {
    expect(await init(path.join(work, 'new'))).toBe(0);
    const keys = path.join(work, 'new', '.plugward');
    expect(fs.statSync(keys).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(keys, 'dev.key')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(keys, 'trust.key')).mode & 0o777).toBe(0o600);
  });
});

describe('plugward keygen into a directory someone else controls', () => {
  const keygen = (cwd: string) => main(['keygen', 'k'], { stdout: sink(), stderr: sink(), env: {}, cwd });
  it('refuses a world-writable directory without the sticky bit', async () => {
    const dir = fs.mkdtempSync(path.join(work, 'kg-open-'));
    fs.chmodSync(dir, 0o777);
    expect(await keygen(dir)).not.toBe(0);
    expect(fs.existsSync(path.join(dir, 'k.key'))).toBe(false);
  });
  it('writes into a sticky one (others cannot rename what is ours) and a private one', async () => {
    const sticky = fs.mkdtempSync(path.join(work, 'kg-sticky-'));
    fs.chmodSync(sticky, 0o1777);
    expect(await keygen(sticky)).toBe(0);
    const mine = fs.mkdtempSync(path.join(work, 'kg-mine-'));
    expect(await keygen(mine)).toBe(0);
    expect(fs.statSync(path.join(mine, 'k.key')).mode & 0o777).toBe(0o600);
  });
});
