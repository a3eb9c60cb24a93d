import { resolve } from 'node:path';
import {
  decodeKeyFile,
  defaultRollbackFloorDir,
  fromHex,
  openRegularFile,
  PluginSecurity,
  type PrivateDirectoryProblem,
  passphraseWeakness,
  privateDirectoryProblem,
  privateFileProblem,
  privateLocationProblem,
  type TrustListKey,
} from '@plugward/security';
import { PluginError } from '@plugward/types';
import type { CliIo } from './command.js';

const MAX_KEY_FILE_BYTES = 4096;

/** The first problem `check` finds at `path`; `IoError` when the path can't be inspected. */
function placeProblem(
  path: string,
  check: (p: string) => PrivateDirectoryProblem | undefined,
): PrivateDirectoryProblem | undefined {
  try {
    return check(path);
  } catch (e) {
    throw new PluginError('IoError', `cannot inspect where ${path} is`, { cause: e });
  }
}

const PRIVATE_PLACE_HINT =
  'use a directory you own that others cannot write, under folders others cannot write (or sticky, like /tmp)';

/**
 * Refuses (`IoError`, naming the directory at fault, with a hint) to write keys where another user could swap them
 * before they are used: whoever can write the directory that holds a key (or one above it) can put their own key in its
 * place, and the author then signs with, or hosts a trust list under, a key the attacker knows.
 * `place` is `'directory'` for a directory the keys go into (it must be this user's own too, no symlink), `'file'` for
 * a key file's path (the directories holding it must be safe; a sticky one like /tmp is).
 */
export function assertKeysStayPrivate(path: string, place: 'directory' | 'file'): void {
  const found = placeProblem(path, place === 'directory' ? privateDirectoryProblem : privateLocationProblem);
  if (found === undefined) return;
  throw new PluginError(
    'IoError',
    `refusing to write keys to ${path}: another user could swap them (${found.message})`,
    {
      details: {
        path: found.path,
        problem: found.reason,
        hint:
          found.reason === 'symlink' ? 'name the real directory, not a symlink to it' : PRIVATE_PLACE_HINT,
      },
    },
  );
}

/**
 * Refuses (`KeyFileError`, `details.reason` `not-private`, naming the file or directory at fault) to read a key from a
 * file another user could have swapped: the file group/world-writable or another user's, a directory above it they can
 * write (without the sticky bit) or own, or a symlink (theirs, or leading into such a place). A swapped `--pub` key
 * pins the attacker's signer; a swapped `--key-file` hosts the trust list under a key the attacker knows; a swapped
 * `--key` signs with the attacker's key.
 */
function assertKeyFileStaysPrivate(path: string, what: string): void {
  const found = placeProblem(path, privateFileProblem);
  if (found === undefined) return;
  throw new PluginError(
    'KeyFileError',
    `refusing to read ${what} ${path}: another user could have swapped it (${found.message})`,
    {
      details: {
        reason: 'not-private',
        path: found.path,
        problem: found.reason,
        hint:
          found.path === path
            ? `chmod go-w ${path} (and own it), or copy it to a directory only you can change`
            : PRIVATE_PLACE_HINT,
      },
    },
  );
}

/**
 * Reads a small key file through a non-blocking, regular-file-only open, after checking nobody else could have
 * swapped it ({@link assertKeyFileStaysPrivate}). Errors name the file, never its content.
 * @returns the text and the file's mode.
 */
async function readKeyText(path: string, what: string): Promise<{ text: string; mode: number }> {
  assertKeyFileStaysPrivate(path, what);
  const fh = await openRegularFile(path, what, (e) => {
    const code = (e as { code?: unknown }).code === 'ENOENT' ? 'NotFound' : 'IoError';
    return new PluginError(code, `cannot read ${what} ${path}: ${(e as { code?: string }).code ?? 'error'}`, {
      cause: e,
    });
  });
  try {
    const st = await fh.stat();
    if (st.size > MAX_KEY_FILE_BYTES) {
      throw new PluginError('KeyFileError', `${what} ${path} is too large to be a key file`, {
        details: { reason: 'too-large' },
      });
    }
    const buf = Buffer.alloc(MAX_KEY_FILE_BYTES + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { text: buf.subarray(0, bytesRead).toString('utf8'), mode: st.mode };
  } finally {
    await fh.close();
  }
}

function warnIfReadable(path: string, mode: number, io: CliIo): void {
  if ((mode & 0o077) !== 0) {
    io.stderr.write(
      `warning: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}\n`,
    );
  }
}

/** Reads a secret from the environment variable `name` and removes it from the environment (and from `io.env`). */
export function takeSecretFromEnv(name: string, io: CliIo): string {
  const secret = io.env[name];
  // Removed once read: in-process plugins of `plugward run` share this process and its environment.
  delete io.env[name];
  if (secret === undefined || secret.length === 0) {
    throw new PluginError('InvalidArgument', `environment variable ${name} is not set or empty`);
  }
  return secret;
}

/** Warns on stderr when a passphrase looks weak. */
export function warnWeakPassphrase(passphrase: string, what: string, io: CliIo): void {
  const why = passphraseWeakness(passphrase);
  if (why !== undefined) io.stderr.write(`warning: the ${what} passphrase is weak: ${why}\n`);
}

/**
 * Reads a secret key file (`plugward-secret-key-v1`, or `plugward-encrypted-secret-key-v1` with the passphrase from
 * `--passphrase-env`). Refuses a public key file and the ambiguous legacy 64-hex format (`KeyFileError`); warns when
 * group or others can read the file.
 */
export async function readPrivateKey(path: string, io: CliIo, passphraseEnv?: string): Promise<Uint8Array> {
  const full = resolve(io.cwd, path);
  const { text, mode } = await readKeyText(full, 'secret key file');
  const passphrase = passphraseEnv === undefined ? undefined : takeSecretFromEnv(passphraseEnv, io);
  const content = await decodeKeyFile(text, 'secret', passphrase === undefined ? {} : { passphrase });
  if (content.kind !== 'secret') {
    throw new PluginError(
      'KeyFileError',
      `${path} is a public key file; --key needs the secret key (the .key file made by plugward keygen)`,
      { details: { reason: 'public-key-given' } },
    );
  }
  warnIfReadable(path, mode, io);
  return content.key;
}

/**
 * A public key given as 64 hex digits or as a `.pub` file (`plugward-public-key-v1`; the legacy bare 64-hex file is
 * still read, with a deprecation warning). A secret key file is refused.
 */
export async function readPublicKey(value: string, io: CliIo): Promise<Uint8Array> {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value, 'public key', 32);
  const { text } = await readKeyText(resolve(io.cwd, value), 'public key file');
  let content: Awaited<ReturnType<typeof decodeKeyFile>>;
  try {
    content = await decodeKeyFile(text, 'public');
  } catch (e) {
    if (e instanceof PluginError && e.details?.reason === 'needs-passphrase') {
      throw new PluginError(
        'KeyFileError',
        `${value} is a secret key file; --pub needs the public key (.pub)`,
        {
          details: { reason: 'secret-key-given' },
        },
      );
    }
    throw e;
  }
  if (content.kind !== 'public') {
    throw new PluginError(
      'KeyFileError',
      `${value} is a secret key file; --pub needs the public key (.pub)`,
      {
        details: { reason: 'secret-key-given' },
      },
    );
  }
  if (content.legacy) {
    io.stderr.write(
      `warning: ${value} uses the old bare-hex key format; re-create it with plugward keygen (or prepend the line ${'plugward-public-key-v1'})\n`,
    );
  }
  return content.key;
}

/** Reads a trust-list key file: 64 hex digits, optionally after a `plugward-trust-list-key-v1` line. */
async function readTrustKeyFile(path: string, io: CliIo): Promise<Uint8Array> {
  const full = resolve(io.cwd, path);
  const { text, mode } = await readKeyText(full, 'trust list key file');
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const hex = lines[0] === 'plugward-trust-list-key-v1' ? lines[1] : lines[0];
  if (
    lines.length > (lines[0] === 'plugward-trust-list-key-v1' ? 2 : 1) ||
    !/^[0-9a-fA-F]{64}$/.test(hex ?? '')
  ) {
    throw new PluginError('KeyFileError', `${path} is not a trust list key file (64 hex digits expected)`, {
      details: { reason: 'malformed' },
    });
  }
  warnIfReadable(path, mode, io);
  return fromHex(hex as string, 'trust list key', 32);
}

/** The options that carry the trust list key. */
export interface TrustKeyValues {
  'key-hex'?: string | boolean;
  'key-hex-env'?: string | boolean;
  'key-file'?: string | boolean;
  'passphrase-env'?: string | boolean;
}

/**
 * The trust list key from exactly one of --key-file FILE, --key-hex-env VAR, --passphrase-env VAR or --key-hex HEX.
 * Environment variables are removed once read; --key-hex warns that argv is visible to other local users.
 */
export async function trustListKey(values: TrustKeyValues, io: CliIo): Promise<TrustListKey> {
  const given = (['key-hex', 'key-hex-env', 'key-file', 'passphrase-env'] as const).filter(
    (k) => typeof values[k] === 'string',
  );
  if (given.length !== 1) {
    throw new PluginError(
      'InvalidArgument',
      'give the trust list key with exactly one of --key-file FILE, --key-hex-env VAR, --passphrase-env VAR or --key-hex HEX',
    );
  }
  const hex = values['key-hex'];
  if (typeof hex === 'string') {
    io.stderr.write(
      'warning: --key-hex puts the trust list key in the command line, which other local users can read (ps, /proc); use --key-file FILE or --key-hex-env VAR\n',
    );
    return fromHex(hex, '--key-hex', 32);
  }
  const file = values['key-file'];
  if (typeof file === 'string') return readTrustKeyFile(file, io);
  if (typeof values['key-hex-env'] === 'string') {
    const name = values['key-hex-env'];
    return fromHex(takeSecretFromEnv(name, io), `$${name}`, 32);
  }
  const passphrase = takeSecretFromEnv(values['passphrase-env'] as string, io);
  warnWeakPassphrase(passphrase, 'trust list', io);
  return { passphrase };
}

/** Options shared by the commands that open a trust list. */
export const TRUST_KEY_OPTIONS = {
  list: { type: 'string' },
  'key-hex': { type: 'string' },
  'key-hex-env': { type: 'string' },
  'key-file': { type: 'string' },
  'passphrase-env': { type: 'string' },
  'min-version': { type: 'string' },
} as const;

/** The options of the commands that verify: pinned `--pub` keys and {@link TRUST_KEY_OPTIONS}. */
export const VERIFY_KEY_OPTIONS = {
  pub: { type: 'string', multiple: true },
  ...TRUST_KEY_OPTIONS,
} as const;

/** What {@link securityFromOptions} read: the security object, the pinned keys and the trust list path, if any. */
export interface CliSecurity {
  security: PluginSecurity;
  keys: Uint8Array[];
  listPath: string | undefined;
}

/** `--min-version N`: the lowest trust list version this host accepts (policy.minTrustListVersion). */
export function minVersionOption(value: string | boolean | undefined): number {
  if (value === undefined) return 0;
  const n = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) {
    throw new PluginError('InvalidArgument', '--min-version must be a non-negative integer');
  }
  return n;
}

/**
 * The PluginSecurity of a command: the `--pub` keys pinned and, when `--list` is given, that trust list opened with
 * the key options (see {@link trustListKey}) and checked against its rollback floor and `--min-version`.
 * `onlyTrusted` is the command's policy.
 */
export async function securityFromOptions(
  values: { pub?: string[]; list?: string | boolean; 'min-version'?: string | boolean } & TrustKeyValues,
  io: CliIo,
  onlyTrusted: boolean,
): Promise<CliSecurity> {
  const keys = await Promise.all((values.pub ?? []).map((p) => readPublicKey(p, io)));
  const listPath = typeof values.list === 'string' ? resolve(io.cwd, values.list) : undefined;
  const security = new PluginSecurity(
    {
      onlyTrusted,
      trustListPath: listPath ?? '',
      minTrustListVersion: minVersionOption(values['min-version']),
      // The environment the command was given (PLUGWARD_STATE_DIR, XDG_STATE_HOME), as every trust command uses.
      rollbackFloorDir: defaultRollbackFloorDir(io.env),
    },
    keys,
  );
  if (listPath !== undefined) await security.loadAndDecryptTrustList(await trustListKey(values, io));
  return { security, keys, listPath };
}
