import { randomBytes } from 'node:crypto';
import { isPluginError } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  decryptTrustList,
  encryptTrustList,
  generateKeyPair,
  parseManifest,
  signManifest,
} from '../src/index.js';

// Seeded so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(input: Uint8Array, rand: () => number): Uint8Array {
  const out = new Uint8Array(input);
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(rand() * out.length);
    switch (Math.floor(rand() * 3)) {
      case 0:
        out[at] = Math.floor(rand() * 256);
        break;
      case 1:
        out[at] = (out[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
        break;
      default:
        return out.subarray(0, at);
    }
  }
  return out;
}

describe('untrusted input never crashes, only PluginErrors', () => {
  it('2000 mutated manifests: parse or a PluginError', () => {
    const signed = signManifest(
      {
        manifestVersion: 1,
        name: 'fuzz',
        version: '1.0.0',
        author: 'f',
        kind: 'native',
        artifact: { file: 'libf.so', sha3_512: 'ab'.repeat(64), size: 1 },
        requirements: {
          network: { mode: 'restricted', allowedTargets: [{ host: 'example.com', ports: [443] }] },
          filesystem: { mode: 'readOnly', paths: ['/data'] },
          context: { read: ['a'], write: [] },
        },
      },
      generateKeyPair().privateKey,
    );
    const bytes = new TextEncoder().encode(JSON.stringify(signed));
    const rand = rng(1);
    let parsed = 0;
    for (let i = 0; i < 2000; i++) {
      try {
        parseManifest(mutate(bytes, rand));
        parsed++;
      } catch (e) {
        if (!isPluginError(e, 'InvalidManifest')) throw e;
      }
    }
    expect(parsed).toBeLessThan(2000);
  });

  it('500 mutated trust list files: never entries, always a TrustListError', async () => {
    const key = randomBytes(32);
    const file = await encryptTrustList({ listVersion: 1, entries: [] }, key);
    const rand = rng(2);
    for (let i = 0; i < 500; i++) {
      const bad = mutate(file, rand);
      if (bad.length === file.length && Buffer.from(bad).equals(Buffer.from(file))) continue;
      await expect(decryptTrustList(bad, key)).rejects.toMatchObject({ code: 'TrustListError' });
    }
  });
});
