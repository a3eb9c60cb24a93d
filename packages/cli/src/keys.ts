import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fromHex, PluginSecurity, type TrustListKey } from '@plugward/security';
import { PluginError } from '@plugward/types';
import type { CliIo } from './command.js';

async function readHexFile(path: string, what: string, bytes: number): Promise<Uint8Array> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: unknown }).code === 'ENOENT' ? 'NotFound' : 'IoError';
    throw new PluginError(code, `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
  }
  return fromHex(text.trim(), `${what} in ${path}`, bytes);
}

/** Reads a private key file (64 hex digits); warns when group or others can read it. */
export async function readPrivateKey(path: string, io: CliIo): Promise<Uint8Array> {
  const full = resolve(io.cwd, path);
  const key = await readHexFile(full, 'private key', 32);
  const { mode } = await stat(full);
  if ((mode & 0o077) !== 0) {
    io.stderr.write(
      `warning: ${path} is readable by others (mode ${(mode & 0o777).toString(8)}); run chmod 600 ${path}\n`,
    );
  }
  return key;
}

/** A public key given as 64 hex digits or as a `.pub` file holding them. */
export async function readPublicKey(value: string, io: CliIo): Promise<Uint8Array> {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return fromHex(value, 'public key', 32);
  return readHexFile(resolve(io.cwd, value), 'public key', 32);
}

/** The trust list key from --key-hex, --key-hex-env or --passphrase-env (exactly one). */
export function trustListKey(
  values: {
    'key-hex'?: string | boolean;
    'key-hex-env'?: string | boolean;
    'passphrase-env'?: string | boolean;
  },
  io: CliIo,
): TrustListKey {
  const given = (['key-hex', 'key-hex-env', 'passphrase-env'] as const).filter(
    (k) => typeof values[k] === 'string',
  );
  if (given.length !== 1) {
    throw new PluginError(
      'InvalidArgument',
      'give the trust list key with exactly one of --key-hex HEX, --key-hex-env VAR or --passphrase-env VAR',
    );
  }
  const hex = values['key-hex'];
  if (typeof hex === 'string') return fromHex(hex, '--key-hex', 32);
  const envName = (values['key-hex-env'] ?? values['passphrase-env']) as string;
  const secret = io.env[envName];
  if (secret === undefined || secret.length === 0) {
    throw new PluginError('InvalidArgument', `environment variable ${envName} is not set or empty`);
  }
  if (typeof values['key-hex-env'] === 'string') return fromHex(secret, `$${envName}`, 32);
  return { passphrase: secret };
}

/** Options shared by the commands that open a trust list. */
export const TRUST_KEY_OPTIONS = {
  list: { type: 'string' },
  'key-hex': { type: 'string' },
  'key-hex-env': { type: 'string' },
  'passphrase-env': { type: 'string' },
} as const;

/** What {@link securityFromOptions} read: the security object, the pinned keys and the trust list path, if any. */
export interface CliSecurity {
  security: PluginSecurity;
  keys: Uint8Array[];
  listPath: string | undefined;
}

/**
 * The PluginSecurity of a command: the `--pub` keys pinned and, when `--list` is given, that trust list opened with
 * the key options (see {@link trustListKey}). `onlyTrusted` is the command's policy.
 */
export async function securityFromOptions(
  values: { pub?: string[]; list?: string | boolean } & Parameters<typeof trustListKey>[0],
  io: CliIo,
  onlyTrusted: boolean,
): Promise<CliSecurity> {
  const keys = await Promise.all((values.pub ?? []).map((p) => readPublicKey(p, io)));
  const listPath = typeof values.list === 'string' ? resolve(io.cwd, values.list) : undefined;
  const security = new PluginSecurity({ onlyTrusted, trustListPath: listPath ?? '' }, keys);
  if (listPath !== undefined) await security.loadAndDecryptTrustList(trustListKey(values, io));
  return { security, keys, listPath };
}
