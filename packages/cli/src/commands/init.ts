import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { encodePublicKeyFile, encodeSecretKeyFile, generateKeyPair, keyId } from '@plugward/security';
import { PluginError } from '@plugward/types';
import { CLI_VERSION } from '../cli.js';
import { type Command, output, parseCommand, required } from '../command.js';
import { assertKeysStayPrivate } from '../keys.js';
import { SCAFFOLD_LANGS, type ScaffoldLang, scaffoldPlugin } from '../scaffold.js';

const usage = `usage: plugward init <name> [--lang js|ts|c|rust] [--dir DIR] [--json]

Creates a plugin project named <name> in ./<name> (or DIR), which must not exist or be empty, and be yours alone
(not a symlink, not writable by others, nor under a folder others can write unless sticky like /tmp):
  js, ts     src/index.{js,ts} bundled into dist/plugin.js with esbuild (ts: typed hooks, definePlugin<Hooks>)
  c          src/plugin.c compiled into dist/plugin.so with the system C compiler
  rust       src/lib.rs built into dist/plugin.so with cargo (no crates)
with plugward.json (name, version, author, requirements: what "plugward sign --manifest-fields" signs), a test at all
four isolation tiers (@plugward/testing) and npm scripts: build, sign, trust, start, test, dev (all of them in a row).
It also writes a development key set in .plugward/ (git-ignored): dev.key/dev.pub to sign with, trust.key for the dev
trust list. Then: cd <name> && npm install && npm run dev.`;

async function emptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (e) {
    if ((e as { code?: unknown }).code === 'ENOENT') return true;
    throw new PluginError('IoError', `cannot read ${dir}`, { cause: e });
  }
}

// O_NOFOLLOW on top of O_EXCL: a key file is only ever a new regular file, never written through a link.
const NEW_FILE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

async function writeNewFile(path: string, text: string, mode: number): Promise<void> {
  const fh = await open(path, NEW_FILE, mode);
  try {
    await fh.writeFile(text);
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

/** `plugward init <name>`: scaffolds a plugin project that builds, signs, trusts and runs with one command each. */
export const init: Command = {
  name: 'init',
  summary: 'create a plugin project (js, ts, c or rust) with build, sign, trust, run and test scripts',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, {
      lang: { type: 'string' },
      dir: { type: 'string' },
    });
    const name = required(positionals[0], '<name>', usage);
    const lang = (values.lang ?? 'ts') as ScaffoldLang;
    if (!SCAFFOLD_LANGS.includes(lang)) {
      throw new PluginError(
        'InvalidArgument',
        `--lang must be one of ${SCAFFOLD_LANGS.join(', ')}, got ${JSON.stringify(String(values.lang))}`,
      );
    }
    let scaffold: ReturnType<typeof scaffoldPlugin>;
    try {
      scaffold = scaffoldPlugin({ name, lang, plugwardRange: `^${CLI_VERSION}` });
    } catch (e) {
      throw new PluginError('InvalidArgument', (e as Error).message, { cause: e });
    }
    const dir = resolve(io.cwd, typeof values.dir === 'string' ? values.dir : name);
    // The project directory receives the dev signing key and the trust-list key.
    assertKeysStayPrivate(dir, 'directory');
    if (!(await emptyOrMissing(dir))) {
      throw new PluginError('IoError', `${dir} exists and is not empty`, {
        details: { hint: 'pick another name, or --dir an empty or new directory' },
      });
    }
    await mkdir(dir, { recursive: true, mode: 0o755 });
    // Again once it exists: another user may have created it first (in a sticky folder like /tmp).
    assertKeysStayPrivate(dir, 'directory');
    // Not recursive: .plugward is new (the directory was empty), 0700, ours.
    await mkdir(join(dir, '.plugward'), { mode: 0o700 });
    const keys = generateKeyPair();
    const files: Record<string, { text: string; mode: number }> = {};
    for (const [p, text] of Object.entries(scaffold.files)) files[p] = { text, mode: 0o644 };
    files['.plugward/dev.key'] = { text: await encodeSecretKeyFile(keys.privateKey), mode: 0o600 };
    files['.plugward/dev.pub'] = { text: encodePublicKeyFile(keys.publicKey), mode: 0o644 };
    files['.plugward/trust.key'] = { text: `${randomBytes(32).toString('hex')}\n`, mode: 0o600 };
    for (const [p, f] of Object.entries(files)) {
      const full = join(dir, p);
      await mkdir(dirname(full), { recursive: true, mode: 0o755 });
      await writeNewFile(full, f.text, f.mode);
    }
    output(
      io,
      values.json,
      {
        dir,
        name,
        lang,
        artifact: scaffold.artifact,
        files: Object.keys(files).sort(),
        keyId: keyId(keys.publicKey),
      },
      `created ${name} (${lang}) in ${dir}\nnext: cd ${dir} && npm install && npm run dev   (build → sign → trust → start; npm test checks all four tiers)`,
    );
    return 0;
  },
};
