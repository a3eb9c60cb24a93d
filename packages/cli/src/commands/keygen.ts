import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateKeyPair, keyId, toHex } from '@plugward/security';
import { PluginError } from '@plugward/types';
import { COMMON_OPTIONS, type Command, output, required, withUsage } from '../command.js';

const usage = `usage: plugward keygen <name> [--force] [--json]

Writes <name>.key (private Ed25519 seed, hex, mode 0600) and <name>.pub (public key, hex).
Refuses to overwrite existing files unless --force.`;

async function writeNew(path: string, text: string, mode: number, force: boolean): Promise<void> {
  try {
    const fh = await open(path, force ? 'w' : 'wx', mode);
    try {
      await fh.writeFile(text);
      await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as { code?: unknown }).code === 'EEXIST') {
      throw new PluginError(
        'IoError',
        `${path} already exists; pick another name or pass --force to overwrite it`,
      );
    }
    throw new PluginError('IoError', `cannot write ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** `plugward keygen <name>`. */
export const keygen: Command = {
  name: 'keygen',
  summary: 'create an Ed25519 signing key pair (<name>.key, <name>.pub)',
  usage,
  async run(argv, io) {
    const { values, positionals } = withUsage(usage, () =>
      parseArgs({
        args: argv,
        options: { ...COMMON_OPTIONS, force: { type: 'boolean' } },
        allowPositionals: true,
        strict: true,
      }),
    );
    const name = required(positionals[0], '<name>', usage);
    const keyPath = resolve(io.cwd, `${name}.key`);
    const pubPath = resolve(io.cwd, `${name}.pub`);
    const { privateKey, publicKey } = generateKeyPair();
    await writeNew(keyPath, `${toHex(privateKey)}\n`, 0o600, values.force === true);
    await writeNew(pubPath, `${toHex(publicKey)}\n`, 0o644, values.force === true);
    const id = keyId(publicKey);
    output(
      io,
      values.json,
      { keyId: id, publicKey: toHex(publicKey), privateKeyPath: keyPath, publicKeyPath: pubPath },
      `wrote ${keyPath} (private, keep it secret) and ${pubPath}\nkey id ${id}`,
    );
    return 0;
  },
};
