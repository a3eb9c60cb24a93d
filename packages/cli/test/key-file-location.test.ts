// Another local user attacks the key files the host reads, through the built `plugward` bin. Whoever can write the
// file, or a directory holding it (without the sticky bit), or owns a symlink on the way, can put their own key there:
// a swapped `--pub` pins the attacker's signer (their plugin verifies as trusted), a swapped `--key-file` opens and
// re-seals the trust list under a key the attacker knows, a swapped `--key` signs with the attacker's key.
// Each is refused with KeyFileError naming the file or the directory at fault. The other user is played by chown to an
// unused uid, so those cases need root (skipped with a reason).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  lchownSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const cwd = mkdtempSync(join(tmpdir(), 'pw-cli-key-location-'));
const stateDir = join(cwd, 'state');
afterAll(() => rmSync(cwd, { recursive: true, force: true }));
const root = process.getuid?.() === 0;
const STRANGER = 4242;
if (!root) console.log('key-file-location: not root: the cases where another user owns a file are skipped');

function pw(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    env: { ...process.env, PLUGWARD_STATE_DIR: stateDir },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function dir(name: string, mode: number): string {
  const d = join(cwd, name);
  mkdirSync(d);
  chmodSync(d, mode);
  return d;
}

/** `plugward verify --pub <pub> --json`: the key file is refused (KeyFileError, naming `at`) rather than pinned. */
function expectPubRefused(pub: string, at: string): void {
  const r = pw(['verify', 'hello.mjs', '--pub', pub, '--json']);
  expect(r.code, r.err).not.toBe(0);
  const err = JSON.parse(r.out || r.err).error as {
    code: string;
    message: string;
    details: { reason: string; path: string };
  };
  expect(err).toMatchObject({ code: 'KeyFileError', details: { reason: 'not-private', path: at } });
  expect(err.message).toContain(at);
}

beforeAll(() => {
  expect(pw(['keygen', 'alice']).code).toBe(0);
  writeFileSync(
    join(cwd, 'hello.mjs'),
    "export default { name: 'hello', version: '1.0.0', author: 't', init() {}, registerHooks() {} };\n",
  );
  expect(pw(['sign', 'hello.mjs', '--key', 'alice.key', '--name', 'hello', '--version', '1.0.0']).code).toBe(
    0,
  );
  // The control: a key file only this user can change verifies.
  expect(pw(['verify', 'hello.mjs', '--pub', 'alice.pub']).code).toBe(0);
});

describe('attack: key files another user could swap', () => {
  it('--pub in a directory its group can write (no sticky bit): refused, naming the directory', () => {
    const open = dir('group-writable', 0o775);
    copyFileSync(join(cwd, 'alice.pub'), join(open, 'alice.pub'));
    expectPubRefused(join(open, 'alice.pub'), open);
  });

  it('--pub that is itself world-writable: refused, naming the file', () => {
    copyFileSync(join(cwd, 'alice.pub'), join(cwd, 'open.pub'));
    chmodSync(join(cwd, 'open.pub'), 0o666);
    expectPubRefused('open.pub', join(cwd, 'open.pub'));
  });

  it('--pub through a symlink into a world-writable directory: refused, naming where it really lives', () => {
    const open = dir('world-writable', 0o777);
    copyFileSync(join(cwd, 'alice.pub'), join(open, 'alice.pub'));
    symlinkSync(join(open, 'alice.pub'), join(cwd, 'linked.pub'));
    expectPubRefused('linked.pub', open);
  });

  it.runIf(root)('--pub owned by another user, or reached through their symlink: refused', () => {
    copyFileSync(join(cwd, 'alice.pub'), join(cwd, 'theirs.pub'));
    chownSync(join(cwd, 'theirs.pub'), STRANGER, STRANGER);
    expectPubRefused('theirs.pub', join(cwd, 'theirs.pub'));
    symlinkSync(join(cwd, 'alice.pub'), join(cwd, 'their-link.pub'));
    lchownSync(join(cwd, 'their-link.pub'), STRANGER, STRANGER);
    expectPubRefused('their-link.pub', join(cwd, 'their-link.pub'));
  });

  it('--key-file (the trust list key) in a world-writable directory: refused before the list is opened', () => {
    const open = dir('open-trust', 0o777);
    writeFileSync(
      join(open, 'trust.key'),
      `plugward-trust-list-key-v1\n${randomBytes(32).toString('hex')}\n`,
      {
        mode: 0o600,
      },
    );
    const r = pw([
      'trust',
      'ls',
      '--list',
      join(cwd, 'list.enc'),
      '--key-file',
      join(open, 'trust.key'),
      '--json',
    ]);
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.out || r.err).error).toMatchObject({
      code: 'KeyFileError',
      details: { reason: 'not-private', path: open },
    });
  });

  it('--key (the signing key) in a directory its group can write: refused', () => {
    const open = dir('open-secret', 0o770);
    copyFileSync(join(cwd, 'alice.key'), join(open, 'alice.key'));
    const r = pw([
      'sign',
      'hello.mjs',
      '--key',
      join(open, 'alice.key'),
      '--name',
      'hello',
      '--version',
      '1.0.0',
      '--json',
    ]);
    expect(r.code).not.toBe(0);
    expect(JSON.parse(r.out || r.err).error).toMatchObject({ code: 'KeyFileError', details: { path: open } });
  });
});
