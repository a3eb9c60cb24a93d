import * as nodeCrypto from 'node:crypto';
import * as ed from '@noble/ed25519';
import { sha512 } from '@noble/hashes/sha2.js';
import { PluginError } from '@plugward/types';
import { assertBytes, bytesOrHex, concatBytes, toHex } from './bytes.js';
import { sha3_512 } from './hash.js';

// noble-ed25519's synchronous API needs a SHA-512; wire the audited one from @noble/hashes.
ed.hashes.sha512 = sha512;

/** Which Ed25519 implementation verifies: OpenSSL through node:crypto (≈12× faster) or @noble/ed25519 (portable). */
export type SignatureBackend = 'node' | 'noble';

/** An Ed25519 key pair: a 32-byte private seed and a 32-byte public key. */
export interface KeyPair {
  privateKey: Uint8Array;
  publicKey: Uint8Array;
}

// DER prefixes of PKCS#8 (private seed) and SPKI (public key) for Ed25519 (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

function detectNodeEd25519(): boolean {
  try {
    const k = nodeCrypto.createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, Buffer.alloc(32, 1)]),
      format: 'der',
      type: 'pkcs8',
    });
    const sig = nodeCrypto.sign(null, Buffer.alloc(1), k);
    return sig.length === 64;
  } catch {
    return false;
  }
}

const NODE_ED25519 = detectNodeEd25519();

/** The backend {@link verifySignature} uses by default here. */
export function defaultSignatureBackend(): SignatureBackend {
  return NODE_ED25519 ? 'node' : 'noble';
}

/** Group order L of edwards25519. */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

// Canonical encodings of the 8 points of small order (the torsion subgroup), plus the "negative zero" x encodings that
// RFC 8032 forbids. Non-canonical encodings (y >= p) are rejected separately, which covers their aliases.
const SMALL_ORDER = new Set([
  '0100000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000080',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
]);

/** True when the 255-bit y of a point encoding is >= p = 2^255 - 19 (a non-canonical encoding). */
function yNotCanonical(enc: Uint8Array): boolean {
  if (((enc[31] ?? 0) & 0x7f) !== 0x7f) return false;
  for (let i = 30; i >= 1; i--) if (enc[i] !== 0xff) return false;
  return (enc[0] ?? 0) >= 0xed;
}

// L as 32 little-endian bytes, for a constant-size comparison without BigInt on the hot path.
const L_BYTES = (() => {
  const out = new Uint8Array(32);
  let n = L;
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
})();

/** True when the 32-byte little-endian scalar is >= L (a malleable, non-canonical S). */
function scalarNotCanonical(s: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const a = s[i] ?? 0;
    const b = L_BYTES[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true; // S == L
}

const SMALL_ORDER_BYTES = [...SMALL_ORDER].map((h) => new Uint8Array(Buffer.from(h, 'hex')));

function isSmallOrderEncoding(enc: Uint8Array): boolean {
  outer: for (const so of SMALL_ORDER_BYTES) {
    for (let i = 0; i < 32; i++) if (so[i] !== enc[i]) continue outer;
    return true;
  }
  return false;
}

// The decision for a key costs a scalar multiplication by L (~ms in JS); keys are few, so it is cached.
const problemCache = new Map<string, string | undefined>();

/**
 * Why a public key is unacceptable, or undefined when it is fine: it must be canonical, on the curve, and in the
 * prime-order subgroup — no small-order key and no *mixed-order* key (a good key plus a torsion component). Mixed-order
 * keys are where cofactored verifiers (noble) and cofactorless ones (OpenSSL) disagree, so both paths refuse them.
 */
export function publicKeyProblem(publicKey: Uint8Array): string | undefined {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== 32) return 'public key must be 32 bytes';
  const hex = toHex(publicKey);
  if (problemCache.has(hex)) return problemCache.get(hex);
  const problem = computeKeyProblem(publicKey);
  if (problemCache.size > 4096) problemCache.clear();
  problemCache.set(hex, problem);
  return problem;
}

function computeKeyProblem(publicKey: Uint8Array): string | undefined {
  if (yNotCanonical(publicKey)) return 'public key is not canonically encoded (y >= p)';
  if (isSmallOrderEncoding(publicKey)) return 'public key is a point of small order';
  try {
    const p = ed.Point.fromBytes(publicKey, false);
    if (p.isSmallOrder()) return 'public key is a point of small order';
    if (!p.isTorsionFree()) return 'public key has a small-order component (mixed order)';
  } catch {
    return 'public key is not a point on edwards25519';
  }
  return undefined;
}

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}

/**
 * The cofactorless equation [S]B = R + [k]A (what OpenSSL checks), with noble's arithmetic: noble's own verify is
 * cofactored ([8]([S]B - R - [k]A) = 0) and would accept an R with a small-order component that OpenSSL refuses.
 * With A in the prime-order subgroup, this equation also forces R into it.
 */
function nobleVerifyCofactorless(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  const r = signature.subarray(0, 32);
  const A = ed.Point.fromBytes(publicKey, false);
  const R = ed.Point.fromBytes(r, false);
  const s = leToBigInt(signature.subarray(32));
  const k = leToBigInt(sha512(concatBytes(r, publicKey, message))) % L;
  const SB = s === 0n ? ed.Point.ZERO : ed.Point.BASE.multiply(s, false);
  const kA = k === 0n ? ed.Point.ZERO : A.multiply(k, false);
  return SB.equals(R.add(kA));
}

/**
 * Checks a public key before it is pinned or listed: 32 bytes, canonical, on the curve, not of small order.
 * (OpenSSL's verify accepts small-order keys, for which signatures can be forged for any message.)
 * @throws PluginError `SignatureError`.
 */
export function assertValidPublicKey(publicKey: Uint8Array | string, what = 'public key'): Uint8Array {
  const bytes = bytesOrHex(publicKey, what);
  const problem = publicKeyProblem(bytes);
  if (problem !== undefined) throw new PluginError('SignatureError', `${what} rejected: ${problem}`);
  return bytes;
}

// Validating a key costs a point decompression and building a KeyObject ~100 µs; pinned keys are few, so both are
// cached per key.
interface CachedKey {
  ok: boolean;
  node?: nodeCrypto.KeyObject;
}
const keyCache = new Map<string, CachedKey>();

function cachedKey(publicKey: Uint8Array): CachedKey {
  const hex = toHex(publicKey);
  let c = keyCache.get(hex);
  if (c === undefined) {
    c = { ok: publicKeyProblem(publicKey) === undefined };
    if (keyCache.size > 4096) keyCache.clear();
    keyCache.set(hex, c);
  }
  return c;
}

function nodePublicKey(publicKey: Uint8Array, c: CachedKey): nodeCrypto.KeyObject {
  c.node ??= nodeCrypto.createPublicKey({
    key: Buffer.concat([SPKI_PREFIX, publicKey]),
    format: 'der',
    type: 'spki',
  });
  return c.node;
}

function nodePrivateKey(privateKey: Uint8Array): nodeCrypto.KeyObject {
  return nodeCrypto.createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, privateKey]),
    format: 'der',
    type: 'pkcs8',
  });
}

/** A new random Ed25519 key pair. */
export function generateKeyPair(): KeyPair {
  const privateKey = new Uint8Array(nodeCrypto.randomBytes(32));
  return { privateKey, publicKey: getPublicKey(privateKey) };
}

/** The public key of a 32-byte private seed. */
export function getPublicKey(privateKey: Uint8Array | string): Uint8Array {
  const seed = bytesOrHex(privateKey, 'private key', 32);
  if (NODE_ED25519) {
    const spki = nodeCrypto.createPublicKey(nodePrivateKey(seed)).export({ format: 'der', type: 'spki' });
    return new Uint8Array(spki.subarray(SPKI_PREFIX.length));
  }
  return ed.getPublicKey(seed);
}

/** Ed25519 signature (64 bytes) of `message` by the 32-byte private seed. */
export function sign(message: Uint8Array, privateKey: Uint8Array | string): Uint8Array {
  assertBytes(message, 'message');
  const seed = bytesOrHex(privateKey, 'private key', 32);
  if (NODE_ED25519) return new Uint8Array(nodeCrypto.sign(null, message, nodePrivateKey(seed)));
  return ed.sign(message, seed);
}

/** Options of {@link verifySignature}. */
export interface VerifyOptions {
  /** Force an implementation (tests cross-check both). */
  backend?: SignatureBackend;
}

/**
 * Strict Ed25519 verification, one rule for both backends (RFC 8032 §5.1.7 plus the checks OpenSSL leaves out): the
 * signature must be exactly 64 bytes with S < L and a canonical R not of small order; the key must be canonical, on
 * the curve and in the prime-order subgroup (no small-order or mixed-order key); the equation is the cofactorless
 * [S]B = R + [k]A, which (with such a key) also refuses an R with a small-order component. Returns false for anything invalid about the signature or key; never throws for bad untrusted bytes.
 * @throws PluginError `InvalidArgument` only when the arguments are not byte arrays.
 */
export function verifySignature(
  message: Uint8Array,
  signature: Uint8Array,
  publicKey: Uint8Array,
  options: VerifyOptions = {},
): boolean {
  assertBytes(message, 'message');
  assertBytes(signature, 'signature');
  assertBytes(publicKey, 'public key');
  if (signature.length !== 64 || publicKey.length !== 32) return false;
  const r = signature.subarray(0, 32);
  if (scalarNotCanonical(signature.subarray(32))) return false;
  if (yNotCanonical(r) || isSmallOrderEncoding(r)) return false;
  const cached = cachedKey(publicKey);
  if (!cached.ok) return false;
  const backend = options.backend ?? defaultSignatureBackend();
  try {
    if (backend === 'node') {
      if (!NODE_ED25519) throw new PluginError('Unsupported', 'node:crypto has no Ed25519 here; use noble');
      return nodeCrypto.verify(null, message, nodePublicKey(publicKey, cached), signature);
    }
    return nobleVerifyCofactorless(message, signature, publicKey);
  } catch (e) {
    if (e instanceof PluginError) throw e;
    return false;
  }
}

/**
 * Short fingerprint of a public key: the first 8 bytes of SHA3-512(key), 16 lowercase hex digits. Used as
 * `signature.keyId` in manifests and trust entries.
 */
export function keyId(publicKey: Uint8Array | string): string {
  const bytes = bytesOrHex(publicKey, 'public key', 32);
  return toHex(sha3_512(bytes).subarray(0, 8));
}
