// Issue 13 from the attacker's side, through the built `plugward` bin: a manifest swapped during `trust add`, key
// files confused or reached through symlinks, file content leaking into errors, secrets left in the environment of
// `plugward run`, and trust lists rolled back behind a restarted host's back.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', 'dist', 'bin.js');
const cwd = mkdtempSync(join(tmpdir(), 'pw-cli-attacks-'));
const stateDir = join(cwd, 'state');
const listKey = randomBytes(32).toString('hex');
afterAll(() => rmSync(cwd, { recursive: true, force: true }));

function pw(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = [], input?: string) {
  const r = spawnSync(process.execPath, [...nodeArgs, bin, ...args], {
    cwd,
    env: { ...process.env, PLUGWARD_STATE_DIR: stateDir, ...env },
    encoding: 'utf8',
    timeout: 30_000,
    ...(input === undefined ? {} : { input }),
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const K = { PW_K: listKey };
const listArgs = (list: string) => ['--list', list, '--key-hex-env', 'PW_K'];
const secretLine = (file: string) =>
  readFileSync(join(cwd, file), 'utf8').trim().split('\n').at(-1) as string;

function plugin(file: string, name: string, body: string): void {
  writeFileSync(
    join(cwd, file),
    `export default { name: '${name}', version: '1.0.0', author: 't', init() {},
  registerHooks(h) { h.register('${name}', 100, () => new TextEncoder().encode(${body})); } };\n`,
  );
}
function sign(file: string, name: string, version = '1.0.0') {
  return pw(['sign', file, '--key', 'alice.key', '--name', name, '--version', version]);
}

describe('plugward key files (point 8)', () => {
  it('keygen writes typed key files; sign refuses a public key as --key', () => {
    expect(pw(['keygen', 'alice']).code).toBe(0);
    plugin('hello.mjs', 'hello', "'hi'");
    const r = pw([
      'sign',
      'hello.mjs',
      '--key',
      'alice.pub',
      '--name',
      'hello',
      '--version',
      '1.0.0',
      '--json',
    ]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.err)).toMatchObject({ error: { code: 'KeyFileError' } });
    expect(() => statSync(join(cwd, 'hello.mjs.plugward.json'))).toThrow();
    expect(sign('hello.mjs', 'hello').code).toBe(0);
    // And --pub refuses a secret key file.
    expect(pw(['verify', 'hello.mjs', '--pub', 'alice.key']).code).toBe(2);
    expect(pw(['verify', 'hello.mjs', '--pub', 'alice.pub']).code).toBe(0);
  });

  it('the legacy bare-hex format: refused as a secret key (with how to convert), read as a public key with a warning', () => {
    const seed = randomBytes(32).toString('hex');
    writeFileSync(join(cwd, 'legacy.key'), `${seed}\n`, { mode: 0o600 });
    const r = pw(['sign', 'hello.mjs', '--key', 'legacy.key', '--name', 'hello', '--version', '1.0.0']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/convert it once: \(echo plugward-secret-key-v1; cat FILE\)/);
    expect(r.err).not.toContain(seed.slice(0, 8));
    writeFileSync(join(cwd, 'legacy.pub'), `${secretLine('alice.pub')}\n`);
    const v = pw(['verify', 'hello.mjs', '--pub', 'legacy.pub']);
    expect(v.code).toBe(0);
    expect(v.err).toMatch(/old bare-hex key format/);
  });

  it('sign --limits pointed at a secret key quotes none of it', () => {
    for (const keyFile of ['legacy.key', 'alice.key']) {
      const secret = secretLine(keyFile);
      const r = pw([
        'sign',
        'hello.mjs',
        '--key',
        'alice.key',
        '--name',
        'hello',
        '--version',
        '1.0.0',
        '--limits',
        keyFile,
      ]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/is not valid JSON/);
      for (let i = 0; i + 6 <= secret.length; i += 2) expect(r.err).not.toContain(secret.slice(i, i + 6));
    }
  });

  it('keygen --force never writes through a symlink or into the old inode; the new file is 0600 from creation', () => {
    writeFileSync(join(cwd, 'victim.txt'), 'VICTIM');
    symlinkSync(join(cwd, 'victim.txt'), join(cwd, 'bob.key'));
    const refused = pw(['keygen', 'bob']);
    expect(refused.code).toBe(3);
    expect(pw(['keygen', 'bob', '--force']).code).toBe(0);
    expect(readFileSync(join(cwd, 'victim.txt'), 'utf8')).toBe('VICTIM');
    expect(lstatSync(join(cwd, 'bob.key')).isSymbolicLink()).toBe(false);
    expect(lstatSync(join(cwd, 'bob.key')).mode & 0o777).toBe(0o600);

    // An old 0644 key file that someone still holds (a hard link stands in for an open descriptor).
    expect(pw(['keygen', 'carol']).code).toBe(0);
    const carol = join(cwd, 'carol.key');
    const before = readFileSync(carol, 'utf8');
    const oldIno = statSync(carol).ino;
    linkSync(carol, join(cwd, 'carol.held'));
    expect(pw(['keygen', 'carol', '--force']).code).toBe(0);
    expect(readFileSync(join(cwd, 'carol.held'), 'utf8')).toBe(before);
    expect(statSync(carol).ino).not.toBe(oldIno);
    expect(readFileSync(carol, 'utf8')).not.toBe(before);
    expect(statSync(carol).mode & 0o777).toBe(0o600);

    // A refusal leaves no half-written pair: only frank.pub exists, so no frank.key is created either.
    writeFileSync(join(cwd, 'frank.pub'), 'someone else’s');
    expect(pw(['keygen', 'frank']).code).toBe(3);
    expect(() => lstatSync(join(cwd, 'frank.key'))).toThrow();
  });

  it('passphrase-encrypted secret keys (Argon2id + XChaCha20-Poly1305); weak passphrases are warned about', () => {
    const P = { PW_PASS: 'correct horse battery staple' };
    const made = pw(['keygen', 'dave', '--passphrase-env', 'PW_PASS', '--json'], P);
    expect(made.code, made.err).toBe(0);
    const keyText = readFileSync(join(cwd, 'dave.key'), 'utf8');
    expect(keyText).toMatch(/^plugward-encrypted-secret-key-v1\nargon2id t=3 m=65536 p=4 salt=/);
    expect(keyText).not.toContain((JSON.parse(made.out) as { publicKey: string }).publicKey);
    const args = ['sign', 'hello.mjs', '--key', 'dave.key', '--name', 'hello', '--version', '1.0.0'];
    expect(pw(args).code).toBe(2); // needs the passphrase
    const wrong = pw([...args, '--passphrase-env', 'PW_PASS'], { PW_PASS: 'wrong horse battery staple' });
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/wrong passphrase/);
    expect(pw([...args, '--passphrase-env', 'PW_PASS'], P).code).toBe(0);
    expect(sign('hello.mjs', 'hello').code).toBe(0); // back to alice's signature for the tests below
    const weak = pw(['keygen', 'erin', '--passphrase-env', 'PW_PASS'], { PW_PASS: 'abc' });
    expect(weak.code).toBe(0);
    expect(weak.err).toMatch(/passphrase is weak/);
  }, 120_000);
});

describe('trust add lists exactly what it verified (point 3)', () => {
  it('a manifest swapped in after verification is not what gets listed', () => {
    const list = 'swap.enc';
    const manifest = join(cwd, 'hello.mjs.plugward.json');
    const real = JSON.parse(readFileSync(manifest, 'utf8')) as {
      version: string;
      signature: { value: string };
    };
    // The attacker's manifest: same artifact, version 99.0.0 (never signed), made to make every real hello a downgrade.
    const forged = join(cwd, 'forged.json');
    writeFileSync(forged, JSON.stringify({ ...real, version: '99.0.0' }));
    // Wins every race: the second time anyone opens the manifest, it has been replaced.
    const swap = join(cwd, 'swap.mjs');
    writeFileSync(
      swap,
      `import fs from 'node:fs/promises';
import { copyFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
const orig = fs.open;
let opens = 0;
fs.open = function (p, ...rest) {
  if (String(p) === ${JSON.stringify(manifest)} && ++opens === 2) copyFileSync(${JSON.stringify(forged)}, String(p));
  return orig.call(this, p, ...rest);
};
syncBuiltinESMExports();
`,
    );
    const saved = readFileSync(manifest);
    const r = pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list)], K, [
      '--import',
      swap,
    ]);
    writeFileSync(manifest, saved);
    expect(r.code, r.err).toBe(0);
    const ls = pw(['trust', 'ls', ...listArgs(list), '--json'], K);
    expect(JSON.parse(ls.out)).toMatchObject({
      entries: [{ name: 'hello', version: '1.0.0', signature: real.signature.value }],
    });
    // The host still serves: the real artifact verifies against the list.
    expect(pw(['verify', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list)], K).code).toBe(0);
  });
});

describe('secrets stay out of argv and of plugward run’s environment (point 8)', () => {
  it('--key-hex-env is removed from the environment before any plugin runs; --key-file works; --key-hex warns', () => {
    const dir = join(cwd, 'run-dir');
    mkdirSync(dir);
    plugin('run-dir/spy.mjs', 'spy', "String(process.env.PW_K ?? 'unset')");
    expect(
      pw(['sign', 'run-dir/spy.mjs', '--key', 'alice.key', '--name', 'spy', '--version', '1.0.0']).code,
    ).toBe(0);
    expect(
      pw(['trust', 'add', 'run-dir/spy.mjs', '--pub', 'alice.pub', ...listArgs('run.enc')], K).code,
    ).toBe(0);
    const r = pw(['run', dir, '--pub', 'alice.pub', ...listArgs('run.enc')], K, [], 'spy x\n');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('spy → unset\n');
    expect(r.out + r.err).not.toContain(listKey);

    writeFileSync(join(cwd, 'list.keyfile'), `plugward-trust-list-key-v1\n${listKey}\n`, { mode: 0o600 });
    const viaFile = pw(['trust', 'ls', '--list', 'run.enc', '--key-file', 'list.keyfile']);
    expect(viaFile.code, viaFile.err).toBe(0);
    expect(viaFile.err).toBe('');
    const argv = pw(['trust', 'ls', '--list', 'run.enc', '--key-hex', listKey]);
    expect(argv.code).toBe(0);
    expect(argv.err).toMatch(/other local users can read \(ps, \/proc\); use --key-file/);
  });
});

describe('non-regular files in the plugin directory (point 5)', () => {
  it('plugward run with a FIFO as an artifact and another as a manifest does not hang, and serves the rest', () => {
    const dir = join(cwd, 'fifo-dir');
    mkdirSync(dir);
    plugin('fifo-dir/ok.mjs', 'ok', "'fine'");
    plugin('fifo-dir/jam.mjs', 'jam', "'never'");
    for (const [f, n] of [
      ['fifo-dir/ok.mjs', 'ok'],
      ['fifo-dir/jam.mjs', 'jam'],
    ] as const) {
      expect(pw(['sign', f, '--key', 'alice.key', '--name', n, '--version', '1.0.0']).code).toBe(0);
      expect(pw(['trust', 'add', f, '--pub', 'alice.pub', ...listArgs('fifo.enc')], K).code).toBe(0);
    }
    rmSync(join(dir, 'jam.mjs'));
    spawnSync('mkfifo', [join(dir, 'jam.mjs'), join(dir, 'ghost.mjs.plugward.json')]);
    // Fails loudly: the refused files are load failures (exit 5) unless --keep-going serves the rest.
    expect(pw(['run', dir, '--pub', 'alice.pub', ...listArgs('fifo.enc')], K, [], 'ok x\n').code).toBe(5);
    const r = pw(
      ['run', dir, '--pub', 'alice.pub', ...listArgs('fifo.enc'), '--keep-going'],
      K,
      [],
      'ok x\n',
    );
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe('ok → fine\n');
    expect(r.err).toMatch(/not a regular file/);
    expect(pw(['verify', join(dir, 'jam.mjs'), '--pub', 'alice.pub']).code).toBe(3);
  }, 180_000);
});

describe('rollback floor from the CLI (point 1)', () => {
  it('add, copy, rm, put the copy back: verify refuses (exit 4); a lost floor record is re-established with the key', () => {
    const list = 'floor.enc';
    expect(pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list)], K).code).toBe(0);
    const copy = readFileSync(join(cwd, list));
    expect(pw(['trust', 'rm', 'hello@1.0.0', ...listArgs(list)], K).code).toBe(0);
    const latest = readFileSync(join(cwd, list));
    writeFileSync(join(cwd, list), copy);
    const replay = pw(['verify', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list), '--json'], K);
    expect(replay.code).toBe(4);
    expect(JSON.parse(replay.err)).toMatchObject({ error: { code: 'TrustListRollback' } });
    writeFileSync(join(cwd, list), latest);

    // The floor record is lost: fail closed, with the recovery command in the hint.
    rmSync(stateDir, { recursive: true, force: true });
    const missing = pw(['trust', 'ls', ...listArgs(list)], K);
    expect(missing.code).toBe(4);
    expect(missing.err).toMatch(/plugward trust floor --reset/);
    expect(pw(['trust', 'floor', '--reset', '--list', list, '--key-hex-env', 'PW_K'], {}).code).toBe(2);
    expect(pw(['trust', 'floor', '--reset', ...listArgs(list)], K).code).toBe(0);
    expect(pw(['trust', 'ls', ...listArgs(list)], K).code).toBe(0);
    // The restored floor still refuses the old copy.
    writeFileSync(join(cwd, list), copy);
    expect(pw(['trust', 'ls', ...listArgs(list)], K).code).toBe(4);
    writeFileSync(join(cwd, list), latest);
    // A host that pins the version itself.
    expect(pw(['trust', 'ls', ...listArgs(list), '--min-version', '3'], K).code).toBe(4);
    expect(pw(['trust', 'ls', ...listArgs(list), '--min-version', '2'], K).code).toBe(0);
  });

  it('a deleted list is not silently restarted by trust add', () => {
    const list = 'deleted.enc';
    expect(pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list)], K).code).toBe(0);
    copyFileSync(join(cwd, list), join(cwd, 'deleted.bak'));
    rmSync(join(cwd, list));
    const r = pw(['trust', 'add', 'hello.mjs', '--pub', 'alice.pub', ...listArgs(list)], K);
    expect(r.code).toBe(4);
    expect(r.err).toMatch(/missing, but its rollback floor record says it existed/);
  });
});
