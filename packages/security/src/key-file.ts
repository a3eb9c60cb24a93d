import { randomBytes } from 'node:crypto';
import { argon2idAsync } from '@noble/hashes/argon2.js';
import { PluginError } from '@plugward/types';
import { AEAD_NONCE_BYTES, aeadOpen, aeadSeal } from './aead.js';
import { fromHex, toHex } from './bytes.js';
import { getPublicKey, keyId } from './ed25519.js';
import { type Argon2Params, DEFAULT_ARGON2_PARAMS, MAX_HEADER_ARGON2_PARAMS } from './trust-list.js';

/** First line of a public key file. */
export const PUBLIC_KEY_HEADER = 'plugward-public-key-v1';
/** First line of an unencrypted secret key file. */
export const SECRET_KEY_HEADER = 'plugward-secret-key-v1';
/** First line of a passphrase-encrypted secret key file. */
export const ENCRYPTED_SECRET_KEY_HEADER = 'plugward-encrypted-secret-key-v1';

/** What a key file holds, after {@link decodeKeyFile}. */
export type KeyFileContent =
  | { kind: 'public'; key: Uint8Array; legacy: boolean }
  | { kind: 'secret'; key: Uint8Array; encrypted: boolean };

/** Options of {@link encodeSecretKeyFile} and {@link decodeKeyFile}. */
export interface KeyFileOptions {
  /** Encrypts (encode) or decrypts (decode) the secret key with Argon2id + XChaCha20-Poly1305. */
  passphrase?: string;
  /** Argon2id cost for a new encrypted file (default DEFAULT_ARGON2_PARAMS, RFC 9106). */
  kdf?: Argon2Params;
  /** Highest Argon2id cost a file may ask for before it is authenticated (default MAX_HEADER_ARGON2_PARAMS). */
  maxArgon2?: Argon2Params;
}

function keyFileError(message: string, reason: string, cause?: unknown): PluginError {
  // Never quote the file's content: it may be a secret key given in the wrong place.
  return new PluginError('KeyFileError', message, {
    details: { reason },
    ...(cause === undefined ? {} : { cause }),
  });
}

/** A public key file: the header, then the key id as a comment line, then 64 hex digits. */
export function encodePublicKeyFile(publicKey: Uint8Array): string {
  return `${PUBLIC_KEY_HEADER}\n# key id ${keyId(publicKey)}\n${toHex(publicKey)}\n`;
}

function kdfLine(p: Argon2Params, salt: Uint8Array): string {
  return `argon2id t=${p.t} m=${p.m} p=${p.p} salt=${toHex(salt)}`;
}

async function derive(passphrase: string, salt: Uint8Array, p: Argon2Params): Promise<Uint8Array> {
  return argon2idAsync(new TextEncoder().encode(passphrase.normalize('NFC')), salt, {
    t: p.t,
    m: p.m,
    p: p.p,
    dkLen: 32,
  });
}

/**
 * A secret key file: the header and the 32-byte Ed25519 seed, or — with a passphrase — the encrypted header, an
 * Argon2id line and `nonce ‖ XChaCha20-Poly1305(seed)` with the first two lines as associated data.
 */
export async function encodeSecretKeyFile(seed: Uint8Array, options: KeyFileOptions = {}): Promise<string> {
  const comment = `# key id ${keyId(getPublicKey(seed))}`;
  if (options.passphrase === undefined) return `${SECRET_KEY_HEADER}\n${comment}\n${toHex(seed)}\n`;
  if (options.passphrase.length === 0) {
    throw new PluginError('InvalidArgument', 'the key passphrase must not be empty');
  }
  const kdf = options.kdf ?? DEFAULT_ARGON2_PARAMS;
  const salt = randomBytes(16);
  const head = `${ENCRYPTED_SECRET_KEY_HEADER}\n${kdfLine(kdf, salt)}`;
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const sealed = aeadSeal(
    await derive(options.passphrase, salt, kdf),
    nonce,
    seed,
    new TextEncoder().encode(head),
  );
  return `${head}\n${comment}\n${toHex(nonce)}${toHex(sealed)}\n`;
}

const HEX64 = /^[0-9a-fA-F]{64}$/;

/**
 * Reads a key file's text. Recognises the three v1 formats by their first line, and the legacy bare 64-hex format —
 * which does not say whether it holds a public or a secret key, so it is accepted as a *public* key only (flagged
 * `legacy` so callers can warn); a legacy secret key is refused with how to convert it.
 * @throws PluginError `KeyFileError` (details.reason: `unknown-format`, `legacy-secret`, `needs-passphrase`,
 *   `wrong-passphrase`, `bad-kdf`, `malformed`); the file's content is never part of a message.
 */
export async function decodeKeyFile(
  text: string,
  expect: 'public' | 'secret',
  options: KeyFileOptions = {},
): Promise<KeyFileContent> {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  const [first, ...rest] = lines;
  if (first !== undefined && HEX64.test(first) && rest.length === 0) {
    if (expect === 'secret') {
      throw keyFileError(
        'this is a bare 64-hex key file (older plugward format) that does not say whether it is public or secret, so it is not used for signing. If it is your secret key, convert it once: (echo plugward-secret-key-v1; cat FILE) > FILE.new && chmod 600 FILE.new && mv FILE.new FILE',
        'legacy-secret',
      );
    }
    return { kind: 'public', key: fromHex(first, 'public key', 32), legacy: true };
  }
  const malformed = () =>
    keyFileError('key file is malformed (a plugward v1 key file was expected)', 'malformed');
  switch (first) {
    case PUBLIC_KEY_HEADER: {
      if (rest.length !== 1 || !HEX64.test(rest[0] ?? '')) throw malformed();
      return { kind: 'public', key: fromHex(rest[0] as string, 'public key', 32), legacy: false };
    }
    case SECRET_KEY_HEADER: {
      if (rest.length !== 1 || !HEX64.test(rest[0] ?? '')) throw malformed();
      return { kind: 'secret', key: fromHex(rest[0] as string, 'secret key', 32), encrypted: false };
    }
    case ENCRYPTED_SECRET_KEY_HEADER: {
      const [kdf, body] = rest;
      const m = /^argon2id t=(\d{1,9}) m=(\d{1,9}) p=(\d{1,9}) salt=([0-9a-f]{32})$/.exec(kdf ?? '');
      if (rest.length !== 2 || m === null || !/^[0-9a-f]{144}$/.test(body ?? '')) throw malformed();
      const p = { t: Number(m[1]), m: Number(m[2]), p: Number(m[3]) };
      const max = options.maxArgon2 ?? MAX_HEADER_ARGON2_PARAMS;
      if (p.t < 1 || p.t > max.t || p.p < 1 || p.p > max.p || p.m < 8 * p.p || p.m > max.m) {
        throw keyFileError(
          `key file asks for Argon2id t=${p.t} m=${p.m} p=${p.p}, above the allowed t=${max.t} m=${max.m} p=${max.p}`,
          'bad-kdf',
        );
      }
      if (options.passphrase === undefined || options.passphrase.length === 0) {
        throw keyFileError('this secret key is encrypted: give its passphrase', 'needs-passphrase');
      }
      const bytes = fromHex(body as string, 'key file body');
      const head = new TextEncoder().encode(`${ENCRYPTED_SECRET_KEY_HEADER}\n${kdf}`);
      try {
        const seed = aeadOpen(
          await derive(options.passphrase, fromHex(m[4] as string), p),
          bytes.subarray(0, AEAD_NONCE_BYTES),
          bytes.subarray(AEAD_NONCE_BYTES),
          head,
        );
        return { kind: 'secret', key: seed, encrypted: true };
      } catch (e) {
        throw keyFileError(
          'wrong passphrase for this secret key (or the file was modified)',
          'wrong-passphrase',
          e,
        );
      }
    }
    default:
      throw keyFileError(
        'not a plugward key file (expected a plugward-public-key-v1 or plugward-secret-key-v1 file)',
        'unknown-format',
      );
  }
}

/**
 * Why a passphrase is weak, or undefined. A heuristic, not a guarantee: shorter than 12 characters, or shorter than 20
 * with fewer than three character classes.
 */
export function passphraseWeakness(passphrase: string): string | undefined {
  const len = [...passphrase].length;
  if (len < 12) return `it is only ${len} characters long (use 12 or more; a few random words are best)`;
  const classes = [/[a-z]/, /[A-Z]/, /[0-9]/, /[^a-zA-Z0-9]/].filter((r) => r.test(passphrase)).length;
  if (len < 20 && classes < 3)
    return 'it is short and uses few kinds of characters (use 20+ characters or mix them)';
  return undefined;
}
