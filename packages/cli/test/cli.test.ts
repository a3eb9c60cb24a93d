import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// Tested as a user runs it: the built bin in a child process (run `pnpm build` first).
const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const cwd = mkdtempSync(join(tmpdir(), 'pw-cli-'));
const listKey = randomBytes(32).toString('hex');

function pw(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function json(args: string[], env: Record<string, string> = {}) {
  const r = pw([...args, '--json'], env);
  const value: unknown = JSON.parse(r.code === 0 ? r.out : r.err);
  return { ...r, value };
}

describe('plugward CLI (spawned)', () => {
  it('the bin is built', () => {
    expect(existsSync(bin), 'run pnpm build first').toBe(true);
  });

  it('help, version and usage errors', () => {
    expect(pw(['--help']).code).toBe(0);
    expect(pw(['--help']).out).toMatch(/keygen[\s\S]*trust/);
    expect(pw([]).code).toBe(2);
    expect(pw(['--version']).out).toMatch(/^plugward \d/);
    const unknown = pw(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/unknown command "frobnicate"/);
    expect(pw(['sign', '--help']).out).toMatch(/usage: plugward sign/);
    expect(pw(['hash', '--bogus', 'x']).code).toBe(2);
  });

  it('keygen writes <name>.key 0600 and <name>.pub, refuses to overwrite', () => {
    const r = json(['keygen', 'alice']);
    expect(r.code).toBe(0);
    expect(r.value).toMatchObject({ keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(statSync(join(cwd, 'alice.key')).mode & 0o777).toBe(0o600);
    const pubFile = readFileSync(join(cwd, 'alice.pub'), 'utf8');
    expect(pubFile).toMatch(/^plugward-public-key-v1\n/);
    expect(r.value).toMatchObject({ publicKey: pubFile.trim().split('\n').at(-1) });
    expect(readFileSync(join(cwd, 'alice.key'), 'utf8')).toMatch(/^plugward-secret-key-v1\n/);
    const again = pw(['keygen', 'alice']);
    expect(again.code).toBe(3);
    expect(again.err).toMatch(/already exists.*--force/);
    expect(pw(['keygen', 'mallory']).code).toBe(0);
  });

  it('hash prints the SHA3-512 (NIST "abc")', () => {
    writeFileSync(join(cwd, 'abc.txt'), 'abc');
    const r = json(['hash', 'abc.txt']);
    expect(r.value).toEqual({
      ok: true,
      file: 'abc.txt',
      sha3_512:
        'b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592f8274eec53f0',
    });
    expect(pw(['hash', 'abc.txt']).out).toMatch(/^b751850b.* {2}abc\.txt\n$/);
    expect(pw(['hash', 'missing.txt']).code).toBe(3);
    // Over the limit is not a verification failure: exit 2, and the hint names --max-bytes.
    const over = pw(['hash', 'abc.txt', '--max-bytes', '2']);
    expect(over.code).toBe(2);
    expect(over.err).toMatch(/^hint: raise the limit with --max-bytes 3 /m);
  });

  it('sign then verify; tampering, wrong key and bad input give the documented codes', () => {
    writeFileSync(join(cwd, 'hello.mjs'), 'export default { name: "hello" };\n');
    const s = json([
      'sign',
      'hello.mjs',
      '--key',
      'alice.key',
      '--name',
      'hello',
      '--version',
      '1.0.0',
      '--author',
      'Alice',
    ]);
    expect(s.code).toBe(0);
    expect(existsSync(join(cwd, 'hello.mjs.plugward.json'))).toBe(true);
    expect(s.value).toMatchObject({ manifest: { kind: 'js', name: 'hello', author: 'Alice' } });
    const ok = json(['verify', 'hello.mjs', '--pub', 'alice.pub']);
    expect(ok.code).toBe(0);
    expect(ok.value).toMatchObject({ ok: true, name: 'hello', version: '1.0.0', trusted: false });

    const wrongKey = pw(['verify', 'hello.mjs', '--pub', 'mallory.pub']);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.err).toMatch(/not pinned[\s\S]*hint:/);
    expect(pw(['sign', 'hello.mjs', '--key', 'alice.key', '--version', '1.0.0']).code).toBe(2);
    expect(pw(['sign', 'hello.mjs', '--key', 'alice.key', '--name', 'hello', '--version', 'v1']).code).toBe(
      2,
    );
    expect(pw(['sign', 'nope.mjs', '--key', 'alice.key', '--name', 'x', '--version', '1.0.0']).code).toBe(3);
    expect(pw(['verify', 'nope.mjs', '--pub', 'alice.pub']).code).toBe(3);

    writeFileSync(join(cwd, 'copy.mjs'), readFileSync(join(cwd, 'hello.mjs')));
    appendFileSync(join(cwd, 'copy.mjs'), '//');
    writeFileSync(join(cwd, 'copy.mjs.plugward.json'), readFileSync(join(cwd, 'hello.mjs.plugward.json')));
    const moved = json(['verify', 'copy.mjs', '--pub', 'alice.pub']);
    expect(moved.code).toBe(1);
    expect(moved.value).toMatchObject({ ok: false, error: { code: 'InvalidManifest' } });
  });

  it('trust add | ls | rm with --key-hex-env, and verify against the list', () => {
    const env = { PW_LIST_KEY: listKey };
    const keyArgs = ['--list', 'trust.enc', '--key-hex-env', 'PW_LIST_KEY'];
    const add = json(
      ['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', '--note', 'ticket 42', ...keyArgs],
      env,
    );
    expect(add.code).toBe(0);
    expect(add.value).toMatchObject({ listVersion: 1 });
    expect(statSync(join(cwd, 'trust.enc')).mode & 0o777).toBe(0o600);
    const ls = json(['trust', 'ls', ...keyArgs], env);
    expect(ls.value).toMatchObject({
      listVersion: 1,
      entries: [{ name: 'hello', version: '1.0.0', note: 'ticket 42' }],
    });
    expect(json(['verify', 'hello.mjs', '--pub', 'alice.pub', ...keyArgs], env).value).toMatchObject({
      trusted: true,
    });

    // Listing refuses an artifact that does not verify against the given key.
    expect(pw(['trust', 'add', 'hello.mjs', '--pub', 'mallory.pub', ...keyArgs], env).code).toBe(1);
    // Wrong key, missing key variable, two keys at once.
    expect(
      pw(['trust', 'ls', '--list', 'trust.enc', '--key-hex', randomBytes(32).toString('hex')]).code,
    ).toBe(4);
    expect(pw(['trust', 'ls', '--list', 'trust.enc', '--key-hex-env', 'UNSET_VAR_X']).code).toBe(2);
    expect(pw(['trust', 'ls', ...keyArgs, '--key-hex', listKey], env).code).toBe(2);

    const rm = json(['trust', 'rm', 'hello@1.0.0', ...keyArgs], env);
    expect(rm.code).toBe(0);
    expect(rm.value).toMatchObject({ listVersion: 2, removed: [{ name: 'hello' }] });
    expect(pw(['trust', 'rm', 'hello@1.0.0', ...keyArgs], env).code).toBe(3);
    const untrusted = json(['verify', 'hello.mjs', '--pub', 'alice.pub', ...keyArgs], env);
    expect(untrusted.code).toBe(1);
    expect(untrusted.value).toMatchObject({ error: { code: 'UntrustedPlugin' } });
  });

  it('trust rm finds a name@version as written (a case-sensitive pre-release) and a hash in any case', () => {
    const env = { PW_LIST_KEY: listKey };
    const keyArgs = ['--list', 'rc.enc', '--key-hex-env', 'PW_LIST_KEY'];
    writeFileSync(join(cwd, 'rc.mjs'), readFileSync(join(cwd, 'hello.mjs')));
    expect(pw(['sign', 'rc.mjs', '--key', 'alice.key', '--name', 'rc', '--version', '1.0.0-RC1']).code).toBe(
      0,
    );
    writeFileSync(join(cwd, 'rc2.mjs'), `${readFileSync(join(cwd, 'hello.mjs'), 'utf8')}\n// 2`);
    expect(pw(['sign', 'rc2.mjs', '--key', 'alice.key', '--name', 'rc', '--version', '1.0.0-RC2']).code).toBe(
      0,
    );
    for (const f of ['rc.mjs', 'rc2.mjs']) {
      expect(pw(['trust', 'add', f, '--pub', 'alice.pub', ...keyArgs], env).code).toBe(0);
    }
    const rm = json(['trust', 'rm', 'rc@1.0.0-RC1', ...keyArgs], env);
    expect(rm.code).toBe(0);
    expect(rm.value).toMatchObject({ removed: [{ name: 'rc', version: '1.0.0-RC1' }] });
    const ls = json(['trust', 'ls', ...keyArgs], env).value as { entries: { hash: string }[] };
    const hash = ls.entries[0]?.hash ?? '';
    expect(json(['trust', 'rm', hash.toUpperCase(), ...keyArgs], env).value).toMatchObject({
      removed: [{ version: '1.0.0-RC2' }],
    });
  });

  it('a replaced (tampered) trust list file exits 4', () => {
    const bytes = readFileSync(join(cwd, 'trust.enc'));
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
    writeFileSync(join(cwd, 'tampered.enc'), bytes);
    const r = json(['trust', 'ls', '--list', 'tampered.enc', '--key-hex-env', 'K'], { K: listKey });
    expect(r.code).toBe(4);
    expect(r.value).toMatchObject({ error: { code: 'TrustListError', details: { reason: 'auth-failed' } } });
  });

  it('trust list protected by a passphrase (Argon2id) from the environment', () => {
    const env = { PW_PASS: 'correct horse battery staple' };
    const args = ['--list', 'pass.enc', '--passphrase-env', 'PW_PASS'];
    expect(pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...args], env).code).toBe(0);
    expect(json(['trust', 'ls', ...args], env).value).toMatchObject({ entries: [{ name: 'hello' }] });
    expect(pw(['trust', 'ls', ...args], { PW_PASS: 'wrong' }).code).toBe(4);
    expect(pw(['trust', 'ls', '--list', 'pass.enc', '--key-hex', listKey]).code).toBe(4);
  }, 120_000);
});
