import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { PluginError } from '@plugward/types';
import { assertBytes } from './bytes.js';

/** XChaCha20-Poly1305 key length, bytes. */
export const AEAD_KEY_BYTES = 32;
/** XChaCha20-Poly1305 nonce length, bytes (long enough to pick at random). */
export const AEAD_NONCE_BYTES = 24;
/** Poly1305 tag length, bytes. */
export const AEAD_TAG_BYTES = 16;

/** The checks both directions make: key and nonce sizes, byte arrays everywhere. */
function checkAeadArgs(
  key: Uint8Array,
  nonce: Uint8Array,
  data: Uint8Array,
  dataName: string,
  aad: Uint8Array,
): void {
  assertBytes(key, 'key', AEAD_KEY_BYTES);
  assertBytes(nonce, 'nonce', AEAD_NONCE_BYTES);
  assertBytes(data, dataName);
  assertBytes(aad, 'associated data');
}

/**
 * XChaCha20-Poly1305 encryption (@noble/ciphers): returns ciphertext ‖ 16-byte tag.
 * @throws PluginError `InvalidArgument` for a key that is not 32 bytes or a nonce that is not 24 bytes.
 */
export function aeadSeal(
  key: Uint8Array,
  nonce: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkAeadArgs(key, nonce, plaintext, 'plaintext', aad);
  return xchacha20poly1305(key, nonce, aad).encrypt(plaintext);
}

/**
 * XChaCha20-Poly1305 decryption of ciphertext ‖ tag. Fails closed: any modified byte, wrong key, nonce or associated
 * data throws; no plaintext is ever returned unauthenticated.
 * @throws PluginError `SecurityError` when authentication fails, `InvalidArgument` for bad key/nonce sizes.
 */
export function aeadOpen(
  key: Uint8Array,
  nonce: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array = new Uint8Array(0),
): Uint8Array {
  checkAeadArgs(key, nonce, sealed, 'ciphertext', aad);
  if (sealed.length < AEAD_TAG_BYTES) {
    throw new PluginError('SecurityError', 'ciphertext is shorter than its authentication tag');
  }
  try {
    return xchacha20poly1305(key, nonce, aad).decrypt(sealed);
  } catch (e) {
    throw new PluginError('SecurityError', 'authentication failed: wrong key or modified data', { cause: e });
  }
}
