import { createHash } from 'node:crypto';
import * as ed from '@noble/ed25519';
import { describe, expect, it } from 'vitest';
import {
  assertValidPublicKey,
  publicKeyProblem,
  type SignatureBackend,
  verifySignature,
} from '../src/index.js';

// Issue 13 point 6: noble verifies cofactored, OpenSSL cofactorless, so a signature whose R — or a key A — carries a
// small-order component verified in one and not the other. One rule now: A and R must be in the prime-order subgroup,
// in both paths. The vectors are built here from a key whose scalar we know.
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const T8 = ed.Point.fromBytes(
  Buffer.from('c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', 'hex'),
); // a point of order 8
const B = ed.Point.BASE;

function le(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}
function leBytes(n: bigint): Uint8Array {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}
function h(...parts: Uint8Array[]): bigint {
  const hash = createHash('sha512');
  for (const p of parts) hash.update(p);
  return le(new Uint8Array(hash.digest())) % L;
}

const a = 0x1234567890abcdef1234567890abcdef1234567890abcdefn % L; // the signer's scalar
const A = B.multiply(a);
const enc = new TextEncoder();

/** Signs `msg` as `publicKey` (which may be A plus torsion) with nonce point R = rB + torsion. */
function forge(
  msg: Uint8Array,
  publicKey: ed.Point,
  rTorsion?: ed.Point,
): { sig: Uint8Array; pub: Uint8Array } {
  const r = h(enc.encode('nonce'), msg);
  let R = B.multiply(r);
  if (rTorsion) R = R.add(rTorsion);
  const pub = publicKey.toBytes();
  const k = h(R.toBytes(), pub, msg);
  const S = (r + k * a) % L;
  const sig = new Uint8Array(64);
  sig.set(R.toBytes(), 0);
  sig.set(leBytes(S), 32);
  return { sig, pub };
}

const backends: SignatureBackend[] = ['node', 'noble'];
const verdicts = (msg: Uint8Array, v: { sig: Uint8Array; pub: Uint8Array }) =>
  backends.map((backend) => verifySignature(msg, v.sig, v.pub, { backend }));

describe('one Ed25519 rule in both paths (node:crypto and noble)', () => {
  it('control: an honest signature verifies in both', () => {
    const msg = enc.encode('honest');
    expect(verdicts(msg, forge(msg, A))).toEqual([true, true]);
  });

  it('mixed-order public key A + T: refused in both, for every message (cofactored noble used to accept)', () => {
    const mixed = A.add(T8);
    expect(publicKeyProblem(mixed.toBytes())).toMatch(/mixed order/);
    expect(() => assertValidPublicKey(mixed.toBytes())).toThrow(/mixed order/);
    let sawKMultipleOf8 = false;
    for (let i = 0; i < 40; i++) {
      const msg = enc.encode(`mixed key ${i}`);
      const v = forge(msg, mixed);
      const k = h(v.sig.subarray(0, 32), v.pub, msg);
      if (k % 8n === 0n) sawKMultipleOf8 = true; // where even OpenSSL alone accepted it
      expect(verdicts(msg, v), `message ${i}`).toEqual([false, false]);
    }
    expect(sawKMultipleOf8).toBe(true);
  });

  it('mixed-order R (nonce point plus torsion): refused in both (cofactored noble used to accept)', () => {
    for (let i = 0; i < 8; i++) {
      const msg = enc.encode(`mixed R ${i}`);
      expect(verdicts(msg, forge(msg, A, T8.multiply(BigInt(1 + (i % 7))))), `message ${i}`).toEqual([
        false,
        false,
      ]);
    }
  });

  it('small-order R and A (the torsion points themselves) are refused in both', () => {
    const msg = enc.encode('small');
    const small = T8.toBytes();
    const sig = new Uint8Array(64);
    sig.set(small, 0);
    expect(backends.map((backend) => verifySignature(msg, sig, small, { backend }))).toEqual([false, false]);
    const honest = forge(msg, A);
    const withSmallR = new Uint8Array(honest.sig);
    withSmallR.set(small, 0);
    expect(verdicts(msg, { sig: withSmallR, pub: honest.pub })).toEqual([false, false]);
  });
});
