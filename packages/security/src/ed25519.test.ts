import * as nodeCrypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from './bytes.js';
import {
  assertValidPublicKey,
  generateKeyPair,
  getPublicKey,
  keyId,
  publicKeyProblem,
  sign,
  verifySignature,
} from './ed25519.js';

const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const msg = new TextEncoder().encode('plugward');

function le(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}
function scalar(b: Uint8Array): bigint {
  let n = 0n;
  for (let i = 31; i >= 0; i--) n = (n << 8n) | BigInt(b[i] ?? 0);
  return n;
}

const SMALL_ORDER_KEYS = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // order 2
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
];
const NON_CANONICAL_KEYS = [
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // y = p + 1 (identity alias)
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

describe('Ed25519', () => {
  it('round-trips with both backends and agrees with node:crypto key derivation', () => {
    const { privateKey, publicKey } = generateKeyPair();
    expect(getPublicKey(privateKey)).toEqual(publicKey);
    const sig = sign(msg, privateKey);
    expect(verifySignature(msg, sig, publicKey, { backend: 'node' })).toBe(true);
    expect(verifySignature(msg, sig, publicKey, { backend: 'noble' })).toBe(true);
    const other = new Uint8Array(msg);
    other[0] = (other[0] ?? 0) ^ 1;
    expect(verifySignature(other, sig, publicKey)).toBe(false);
    expect(verifySignature(msg, sig, generateKeyPair().publicKey)).toBe(false);
  });

  it('RFC 8032 test 1 (empty message) known answer', () => {
    const seed = fromHex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60');
    expect(toHex(getPublicKey(seed))).toBe(
      'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    );
    expect(toHex(sign(new Uint8Array(0), seed))).toBe(
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    );
  });

  it('rejects S >= L (malleated signature) although S+L verifies in the group', () => {
    const { privateKey, publicKey } = generateKeyPair();
    const sig = sign(msg, privateKey);
    const s = scalar(sig.subarray(32));
    const bumped = new Uint8Array(sig);
    bumped.set(le(s + L), 32);
    if (s + L < 2n ** 256n) {
      expect(verifySignature(msg, bumped, publicKey, { backend: 'node' })).toBe(false);
      expect(verifySignature(msg, bumped, publicKey, { backend: 'noble' })).toBe(false);
    }
    const maxS = new Uint8Array(sig);
    maxS.set(le(L), 32);
    expect(verifySignature(msg, maxS, publicKey)).toBe(false);
  });

  it('rejects truncated and padded signatures', () => {
    const { privateKey, publicKey } = generateKeyPair();
    const sig = sign(msg, privateKey);
    expect(verifySignature(msg, sig.subarray(0, 63), publicKey)).toBe(false);
    expect(verifySignature(msg, new Uint8Array([...sig, 0]), publicKey)).toBe(false);
    expect(verifySignature(msg, new Uint8Array(0), publicKey)).toBe(false);
  });

  it('refuses to pin small-order and non-canonical keys', () => {
    for (const k of [...SMALL_ORDER_KEYS, ...NON_CANONICAL_KEYS]) {
      expect(publicKeyProblem(fromHex(k)), k).toBeTypeOf('string');
      expect(() => assertValidPublicKey(k)).toThrow(/rejected/);
    }
    expect(() => assertValidPublicKey(toHex(generateKeyPair().publicKey))).not.toThrow();
  });

  it('rejects the trivial forgery with the identity key that OpenSSL alone accepts', () => {
    // A = identity, R = identity, S = 0: [S]B = R + [k]A holds for every message.
    const identity = fromHex(SMALL_ORDER_KEYS[0] ?? '');
    const forged = new Uint8Array(64);
    forged.set(identity, 0);
    const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), identity]);
    const opensslSays = (() => {
      try {
        const key = nodeCrypto.createPublicKey({ key: spki, format: 'der', type: 'spki' });
        return nodeCrypto.verify(null, msg, key, forged);
      } catch {
        return false;
      }
    })();
    // Informational: documents why our own check exists (true on OpenSSL 3.0 here).
    console.log(`node:crypto alone accepts the identity-key forgery: ${opensslSays}`);
    expect(verifySignature(msg, forged, identity, { backend: 'node' })).toBe(false);
    expect(verifySignature(msg, forged, identity, { backend: 'noble' })).toBe(false);
  });

  it('keyId is a stable 16-hex-digit fingerprint', () => {
    const { publicKey } = generateKeyPair();
    expect(keyId(publicKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(keyId(toHex(publicKey))).toBe(keyId(publicKey));
    expect(keyId(generateKeyPair().publicKey)).not.toBe(keyId(publicKey));
    expect(() => keyId('zz')).toThrow(/hex/);
  });

  it('throws InvalidArgument only for non-bytes arguments', () => {
    expect(() =>
      verifySignature('x' as unknown as Uint8Array, new Uint8Array(64), new Uint8Array(32)),
    ).toThrow(/Uint8Array/);
  });
});
