// The CLI fails loudly and says what to do next (issue 16): help <cmd>, one --json envelope, a hint on every error,
// the right exit code for a missing trust list and an over-limit hash, trust add that creates the list's directory
// and warns when it replaces or supersedes an entry, trust prune, inspect that shows both hashes on a mismatch, and
// plugin-controlled text that reaches the terminal only through displayText().
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const cwd = mkdtempSync(join(tmpdir(), 'pw-cli-loud-'));
const env = { PW_LIST_KEY: randomBytes(32).toString('hex'), PLUGWARD_STATE_DIR: join(cwd, 'state') };
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function pw(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
function json(args: string[]) {
  const r = pw([...args, '--json']);
  const text = r.code === 0 ? r.out : (r.err.trim().split('\n').at(-1) ?? '');
  return { ...r, value: JSON.parse(text) as Record<string, unknown> };
}
const list = (file: string) => ['--list', file, '--key-hex-env', 'PW_LIST_KEY'];
/** True when `s` holds a raw ESC, BEL or right-to-left override (what displayText() escapes). */
const raw = (s: string) => ['\u001b', '\u0007', '\u202e'].some((c) => s.includes(c));
const sign = (file: string, name: string, version: string, ...extra: string[]) =>
  pw(['sign', file, '--key', 'alice.key', '--name', name, '--version', version, ...extra]);

beforeAll(() => {
  expect(pw(['keygen', 'alice']).code).toBe(0);
  writeFileSync(join(cwd, 'hello.mjs'), 'export default { name: "hello" }; // A\n');
  expect(sign('hello.mjs', 'hello', '1.0.0').code).toBe(0);
});

describe('plugward fails loudly', () => {
  it('help <cmd> prints that command’s usage; help <unknown> is a usage error', () => {
    const h = pw(['help', 'sign']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/^usage: plugward sign/);
    expect(pw(['help', 'trust']).out).toMatch(/trust prune/);
    const bad = pw(['help', 'frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/^hint: /m);
    expect(json(['frobnicate']).value).toMatchObject({ ok: false, error: { code: 'InvalidArgument' } });
  });

  it('every command’s --json success is one { ok: true, ... } object', () => {
    const results = [
      json(['hash', 'hello.mjs']),
      json(['verify', 'hello.mjs', '--pub', 'alice.pub']),
      json(['inspect', 'hello.mjs', '--pub', 'alice.pub']),
      json(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...list('env.enc')]),
      json(['trust', 'ls', ...list('env.enc')]),
      json(['trust', 'floor', ...list('env.enc')]),
      json(['trust', 'prune', ...list('env.enc')]),
      json(['trust', 'rm', 'hello@1.0.0', ...list('env.enc')]),
      json(['keygen', 'bob']),
      json(['doctor']),
    ];
    for (const r of results) {
      expect(r.code, r.err).toBe(0);
      expect(r.value.ok).toBe(true);
    }
  });

  it('every error has a hint: line, and the --json error carries it', () => {
    for (const [args, code] of [
      [['hash'], 2],
      [['hash', 'missing.txt'], 3],
      [['hash', 'hello.mjs', '--bogus'], 2],
      [['verify', 'hello.mjs', '--pub', 'bob.pub'], 1],
      [['trust', 'ls', '--list', 'env.enc', '--key-hex', randomBytes(32).toString('hex')], 4],
      [['trust', 'frob'], 2],
      [['run', 'nowhere', '--pub', 'alice.pub', ...list('env.enc')], 3],
    ] as const) {
      const r = pw([...args]);
      expect(r.code, `${args.join(' ')}: ${r.err}`).toBe(code);
      expect(r.err, args.join(' ')).toMatch(/^hint: \S/m);
      const j = json([...args]);
      expect(j.value).toMatchObject({ ok: false, error: { details: { hint: expect.any(String) } } });
    }
  });

  it('a missing trust list is exit 3 with a trust add hint, not "check the key"', () => {
    for (const args of [
      ['trust', 'ls', ...list('nowhere.enc')],
      ['verify', 'hello.mjs', '--pub', 'alice.pub', ...list('nowhere.enc')],
    ]) {
      const r = pw(args);
      expect(r.code, r.err).toBe(3);
      expect(r.err).toMatch(/^hint: .*plugward trust add/m);
      expect(r.err).not.toMatch(/check the key/);
    }
  });

  it('hash over --max-bytes says --max-bytes (exit 2), as does sign', () => {
    const r = pw(['hash', 'hello.mjs', '--max-bytes', '4']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^hint: raise the limit with --max-bytes \d+/m);
    const s = sign('hello.mjs', 'hello', '1.0.0', '--max-bytes', '4');
    expect(s.code).toBe(2);
    expect(s.err).toMatch(/^hint: raise the limit with --max-bytes/m);
    expect(s.err).not.toMatch(/re-sign/);
  });

  it('trust add creates the list’s directory (0700)', () => {
    const r = pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...list('data/deeper/trust.enc')]);
    expect(r.code, r.err).toBe(0);
    expect(statSync(join(cwd, 'data', 'deeper')).mode & 0o777).toBe(0o700);
    expect(statSync(join(cwd, 'data/deeper/trust.enc')).isFile()).toBe(true);
  });

  it('trust add warns when it replaces or supersedes an entry; trust prune drops the stale ones', () => {
    const L = list('warn.enc');
    writeFileSync(join(cwd, 'w.mjs'), 'export default {}; // v1\n');
    expect(sign('w.mjs', 'w', '1.0.0').code).toBe(0);
    expect(pw(['trust', 'add', 'w.mjs', '--pub', 'alice.pub', ...L]).err).not.toMatch(/warning/);
    // Re-signed: same name@version, other bytes. The old entry is replaced, with a warning.
    writeFileSync(join(cwd, 'w.mjs'), 'export default {}; // v1, fixed\n');
    expect(sign('w.mjs', 'w', '1.0.0').code).toBe(0);
    const resign = pw(['trust', 'add', 'w.mjs', '--pub', 'alice.pub', ...L]);
    expect(resign.code).toBe(0);
    expect(resign.err).toMatch(/^warning: replaced w@1\.0\.0 .*other bytes/m);
    expect((json(['trust', 'ls', ...L]).value.entries as unknown[]).length).toBe(1);
    // A newer version supersedes it: still listed, with a warning naming prune.
    writeFileSync(join(cwd, 'w2.mjs'), 'export default {}; // v2\n');
    expect(sign('w2.mjs', 'w', '2.0.0').code).toBe(0);
    const newer = pw(['trust', 'add', 'w2.mjs', '--pub', 'alice.pub', ...L]);
    expect(newer.err).toMatch(/^warning: supersedes w@1\.0\.0 .*trust prune/m);
    expect((json(['trust', 'ls', ...L]).value.entries as unknown[]).length).toBe(2);
    const dry = json(['trust', 'prune', ...L, '--dry-run']);
    expect(dry.value).toMatchObject({ dryRun: true, removed: [{ name: 'w', version: '1.0.0' }] });
    expect((json(['trust', 'ls', ...L]).value.entries as unknown[]).length).toBe(2);
    expect(pw(['trust', 'prune', ...L]).out).toMatch(/^removed w@1\.0\.0/m);
    expect(json(['trust', 'ls', ...L]).value.entries).toMatchObject([{ name: 'w', version: '2.0.0' }]);
    const before = json(['trust', 'ls', ...L]).value.listVersion;
    expect(pw(['trust', 'prune', ...L]).out).toMatch(/nothing to prune/);
    expect(json(['trust', 'ls', ...L]).value.listVersion).toBe(before);
    // The same bytes under another name: replaced, with a warning (it used to be silent).
    copyFileSync(join(cwd, 'w2.mjs'), join(cwd, 'alias.mjs'));
    expect(sign('alias.mjs', 'alias', '1.0.0').code).toBe(0);
    const alias = pw(['trust', 'add', 'alias.mjs', '--pub', 'alice.pub', ...L]);
    expect(alias.err).toMatch(/^warning: replaced w@2\.0\.0 .*same bytes/m);
    expect(json(['trust', 'ls', ...L]).value.entries).toMatchObject([{ name: 'alias' }]);
  });

  it('inspect on a mismatch shows the expected and the actual hash', () => {
    writeFileSync(join(cwd, 'm.mjs'), 'export default {}; // signed\n');
    expect(sign('m.mjs', 'm', '1.0.0').code).toBe(0);
    const expected = json(['hash', 'm.mjs']).value.sha3_512 as string;
    writeFileSync(join(cwd, 'm.mjs'), 'export default {}; // swapped\n');
    const actual = json(['hash', 'm.mjs']).value.sha3_512 as string;
    const r = pw(['inspect', 'm.mjs', '--pub', 'alice.pub']);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`sha3-512   ${expected}`);
    expect(r.out).toContain(`actual     ${actual}`);
    const j = pw(['inspect', 'm.mjs', '--pub', 'alice.pub', '--json']);
    expect(j.code).toBe(1);
    expect(JSON.parse(j.out)).toMatchObject({
      ok: false,
      error: { code: 'HashMismatch' },
      integrity: { ok: false, expected, actual },
    });
  });

  it('plugin-controlled text (description, notes) reaches the terminal only through displayText()', () => {
    const evil = '\u001b]0;pwned\u0007\u001b[2J\u202eevil';
    writeFileSync(join(cwd, 'e.mjs'), 'export default {};\n');
    expect(sign('e.mjs', 'e', '1.0.0', '--description', evil, '--author', evil).code).toBe(0);
    const i = pw(['inspect', 'e.mjs', '--pub', 'alice.pub']);
    expect(i.code).toBe(0);
    expect(raw(i.out)).toBe(false);
    const L = list('evil.enc');
    expect(raw(pw(['trust', 'add', 'e.mjs', '--pub', 'alice.pub', ...L, '--note', evil]).out)).toBe(false);
    const ls = pw(['trust', 'ls', ...L]);
    expect(ls.code).toBe(0);
    expect(raw(ls.out)).toBe(false);
  });
});
