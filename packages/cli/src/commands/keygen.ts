import { randomBytes } from 'node:crypto';
import { link, lstat, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { encodePublicKeyFile, encodeSecretKeyFile, generateKeyPair, keyId, toHex } from '@plugward/security';
import { PluginError } from '@plugward/types';
import { type Command, output, parseCommand, required } from '../command.js';
import { assertKeysStayPrivate, takeSecretFromEnv, warnWeakPassphrase } from '../keys.js';

const usage = `usage: plugward keygen <name> [--passphrase-env VAR] [--force] [--json]

Writes <name>.key (the secret Ed25519 key, mode 0600) and <name>.pub (the public key). Both files start with a line
naming what they hold (plugward-secret-key-v1 / plugward-public-key-v1), so one can't be used for the other.
With --passphrase-env VAR the secret key is encrypted (Argon2id + XChaCha20-Poly1305) with the passphrase in $VAR;
give the same option to plugward sign.
Refuses to overwrite existing files unless --force; --force writes a new file and renames it over the old one (never
writing through a symlink or into the old file).`;

/**
 * Writes `text` to `path` through a fresh temp file in the same directory (created O_EXCL with `mode`, so it is never
 * readable by others, not even for a moment), then links it into place (no --force: fails if `path` exists, even as a
 * dangling symlink) or renames it over `path` (--force: replaces the directory entry — a symlink is replaced, its
 * target untouched, and the old inode, possibly still open elsewhere, is never rewritten).
 */
async function writeKeyFile(path: string, text: string, mode: number, force: boolean): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text);
      await fh.chmod(mode); // the umask may have narrowed it further; never wider
      await fh.sync();
    } finally {
      await fh.close();
    }
    if (force) {
      await rename(tmp, path);
    } else {
      await link(tmp, path);
      await unlink(tmp);
    }
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    if ((e as { code?: unknown }).code === 'EEXIST') {
      throw new PluginError(
        'IoError',
        `${path} already exists; pick another name or pass --force to replace it`,
      );
    }
    throw new PluginError('IoError', `cannot write ${path}: ${(e as { code?: string }).code ?? 'error'}`, {
      cause: e,
    });
  }
}

/** `plugward keygen <name>`. */
export const keygen: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 signing key pair (<name>.key, <name>.pub)',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseCommand(usage, argv, {
      force: { type: 'boolean' },
      'passphrase-env': { type: 'string' },
    });
    const name = required(positionals[0], '<name>', usage);
    const keyPath = resolve(io.cwd, `${name}.key`);
    const pubPath = resolve(io.cwd, `${name}.pub`);
    const force = values.force === true;
    let passphrase: string | undefined;
    if (typeof values['passphrase-env'] === 'string') {
      passphrase = takeSecretFromEnv(values['passphrase-env'], io);
      warnWeakPassphrase(passphrase, 'secret key', io);
    }
    if (!force) {
      // Both names checked first (lstat: a dangling symlink counts), so a refusal leaves no half-written pair.
      for (const p of [keyPath, pubPath]) {
        const exists = await lstat(p).then(
          () => true,
          () => false,
        );
        if (exists) {
          throw new PluginError(
            'IoError',
            `${p} already exists; pick another name or pass --force to replace it`,
          );
        }
      }
    }
    assertKeysStayPrivate(keyPath, 'file');
    const { privateKey, publicKey } = generateKeyPair();
    const secretText = await encodeSecretKeyFile(privateKey, passphrase === undefined ? {} : { passphrase });
    await writeKeyFile(keyPath, secretText, 0o600, force);
    await writeKeyFile(pubPath, encodePublicKeyFile(publicKey), 0o644, force);
    const id = keyId(publicKey);
    output(
      io,
      values.json,
      {
        keyId: id,
        publicKey: toHex(publicKey),
        privateKeyPath: keyPath,
        publicKeyPath: pubPath,
        encrypted: passphrase !== undefined,
      },
      `wrote ${keyPath} (secret${passphrase === undefined ? '' : ', encrypted'}; keep it secret) and ${pubPath}\nkey id ${id}`,
    );
    return 0;
  },
};
