import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { aeadOpen, aeadSeal, fromHex, verifySignature } from '../src/index.js';

interface EdTest {
  tcId: number;
  comment: string;
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface AeadTest {
  tcId: number;
  comment: string;
  key: string;
  iv: string;
  aad: string;
  msg: string;
  ct: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Suite<G> {
  numberOfTests: number;
  testGroups: G[];
}

const dir = join(import.meta.dirname, 'fixtures', 'wycheproof');
const ed = JSON.parse(readFileSync(join(dir, 'ed25519_test.json'), 'utf8')) as Suite<{
  publicKey: { pk: string };
  tests: EdTest[];
}>;
const xc = JSON.parse(readFileSync(join(dir, 'xchacha20_poly1305_test.json'), 'utf8')) as Suite<{
  tests: AeadTest[];
}>;

// Wycheproof sometimes has odd-length hex for deliberately broken inputs; decode leniently here, the API judges.
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('Wycheproof Ed25519 through verifySignature', () => {
  for (const backend of ['node', 'noble'] as const) {
    it(`${backend}: all ${ed.numberOfTests} vectors give the expected verdict`, () => {
      let passed = 0;
      const failures: string[] = [];
      for (const g of ed.testGroups) {
        const pk = fromHex(g.publicKey.pk);
        for (const t of g.tests) {
          const ok = verifySignature(hex(t.msg), hex(t.sig), pk, { backend });
          if (ok === (t.result === 'valid')) passed++;
          else failures.push(`tc ${t.tcId} (${t.comment}): got ${ok}, want ${t.result}`);
        }
      }
      expect(failures).toEqual([]);
      expect(passed).toBe(151);
      expect(ed.numberOfTests).toBe(151);
    });
  }
});

describe('Wycheproof XChaCha20-Poly1305 through aeadSeal/aeadOpen', () => {
  it(`all ${xc.numberOfTests} vectors give the expected result`, () => {
    let passed = 0;
    const failures: string[] = [];
    for (const g of xc.testGroups) {
      for (const t of g.tests) {
        const key = hex(t.key);
        const iv = hex(t.iv);
        const aad = hex(t.aad);
        const sealed = new Uint8Array([...hex(t.ct), ...hex(t.tag)]);
        let opened: Uint8Array | undefined;
        let openError: unknown;
        try {
          opened = aeadOpen(key, iv, sealed, aad);
        } catch (e) {
          openError = e;
        }
        let ok: boolean;
        if (t.result === 'valid') {
          const resealed = aeadSeal(key, iv, hex(t.msg), aad);
          ok =
            opened !== undefined &&
            Buffer.from(opened).equals(Buffer.from(hex(t.msg))) &&
            Buffer.from(resealed).equals(Buffer.from(sealed));
        } else {
          ok = opened === undefined && (openError as { name?: string }).name === 'PluginError';
        }
        if (ok) passed++;
        else failures.push(`tc ${t.tcId} (${t.comment}) expected ${t.result}`);
      }
    }
    expect(failures).toEqual([]);
    expect(passed).toBe(315);
    expect(xc.numberOfTests).toBe(315);
  });
});
