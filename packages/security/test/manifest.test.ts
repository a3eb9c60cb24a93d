import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  MANIFEST_SIGNATURE_DOMAIN,
  MAX_MANIFEST_BYTES,
  type PluginManifest,
  type UnsignedPluginManifest,
} from '@plugward/types';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  generateKeyPair,
  keyId,
  manifestPathFor,
  manifestSigningBytes,
  readManifest,
  signManifest,
  toHex,
  validateManifest,
  verifyManifestSignature,
} from '../src/index.js';
import { signedArtifact, tempDir } from './helpers.js';

const dir = tempDir('manifest');
const unsigned: UnsignedPluginManifest = {
  manifestVersion: 1,
  name: 'hello',
  version: '1.2.3',
  author: 'A. Author',
  kind: 'js',
  artifact: { file: 'hello.mjs', sha3_512: 'ab'.repeat(64), size: 10 },
  limits: { maxHeapBytes: 1024 },
};

describe('RFC 8785 canonical JSON', () => {
  it('sorts keys by UTF-16 code units and formats numbers like ECMAScript', () => {
    expect(canonicalJson({ b: 1, a: { d: [1e21, 0.1, -0], c: 'é\n' } })).toBe(
      '{"a":{"c":"é\\n","d":[1e+21,0.1,0]},"b":1}',
    );
    // RFC 8785 §3.2.3 sort example: code-unit order puts U+20AC before U+FB33 and "\r" first.
    expect(canonicalJson({ '\u20ac': 1, '\r': 2, '\ufb33': 3, '1': 4 })).toBe('{"\\r":2,"1":4,"€":1,"דּ":3}');
  });
  it('rejects what has no canonical form', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/canonicalised/);
    expect(() => canonicalJson({ a: '\ud800' })).toThrow(/canonicalised/);
  });
});

describe('signed manifests', () => {
  const keys = generateKeyPair();
  const signed = signManifest(unsigned, keys.privateKey);

  it('signs domain ‖ canonical JSON with the signer key id', () => {
    expect(signed.signature.keyId).toBe(keyId(keys.publicKey));
    const bytes = manifestSigningBytes(signed);
    expect(new TextDecoder().decode(bytes)).toBe(MANIFEST_SIGNATURE_DOMAIN + canonicalJson(unsigned));
    expect(verifyManifestSignature(signed, keys.publicKey)).toBe(true);
    expect(verifyManifestSignature(signed, toHex(keys.publicKey), { backend: 'noble' })).toBe(true);
  });

  it('does not depend on key order or formatting of the JSON file', () => {
    const reordered = JSON.parse(
      JSON.stringify({ signature: signed.signature, ...unsigned, name: 'hello' }),
    ) as PluginManifest;
    expect(verifyManifestSignature(reordered, keys.publicKey)).toBe(true);
  });

  it('fails when moved to another artifact, name or version, or any field changes', () => {
    const variants: PluginManifest[] = [
      { ...signed, name: 'other' },
      { ...signed, version: '1.2.4' },
      { ...signed, artifact: { ...signed.artifact, file: 'other.mjs' } },
      { ...signed, artifact: { ...signed.artifact, sha3_512: 'cd'.repeat(64) } },
      { ...signed, limits: { maxHeapBytes: 2048 } },
      { ...signed, description: 'added later' },
    ];
    for (const v of variants) expect(verifyManifestSignature(v, keys.publicKey)).toBe(false);
    expect(verifyManifestSignature(signed, generateKeyPair().publicKey)).toBe(false);
  });

  it('a signature without the domain prefix does not verify', async () => {
    const { sign } = await import('../src/index.js');
    const raw = sign(new TextEncoder().encode(canonicalJson(unsigned)), keys.privateKey);
    const bare = { ...signed, signature: { ...signed.signature, value: toHex(raw) } };
    expect(verifyManifestSignature(bare, keys.publicKey)).toBe(false);
  });

  it('validates shape with precise errors', () => {
    const cases: [unknown, RegExp][] = [
      [[], /object/],
      [{ ...signed, manifestVersion: 2 }, /manifestVersion/],
      [{ ...signed, name: 'Bad Name' }, /name/],
      [{ ...signed, version: 'v1' }, /semver/],
      [{ ...signed, kind: 'wasm' }, /kind/],
      [{ ...signed, artifact: { ...signed.artifact, file: '../x' } }, /bare file name/],
      [{ ...signed, artifact: { ...signed.artifact, size: -1 } }, /size/],
      [{ ...signed, limits: { maxHeapBytes: 'big' } }, /limits\.maxHeapBytes/],
      [{ ...signed, limits: { unknown: 1 } }, /unknown field/],
      [{ ...signed, extra: 1 }, /unknown field \(allowed: manifestVersion, name,/],
      [{ ...signed, signature: { ...signed.signature, value: 'ab' } }, /signature\.value/],
      [{ ...signed, requirements: { network: { mode: 'open' } } }, /network\.mode/],
    ];
    for (const [value, re] of cases) {
      expect(() => validateManifest(value)).toThrow(re);
    }
    expect(validateManifest(JSON.parse(JSON.stringify(signed)))).toEqual(signed);
  });

  it('writeSignedManifest + readManifest: file name bound, size capped, missing manifest is NotFound', async () => {
    const { path, keys: k } = await signedArtifact(dir, 'a.mjs', 'export default 1;');
    const m = await readManifest(path);
    expect(m.artifact.file).toBe('a.mjs');
    expect(verifyManifestSignature(m, k.publicKey)).toBe(true);
    // Rename the artifact and its manifest: the manifest still names a.mjs, so reading it for b.mjs fails.
    const b = join(dir, 'b.mjs');
    renameSync(path, b);
    renameSync(manifestPathFor(path), manifestPathFor(b));
    await expect(readManifest(b)).rejects.toMatchObject({ code: 'InvalidManifest' });
    await expect(readManifest(path)).rejects.toMatchObject({ code: 'NotFound' });
    const huge = join(dir, 'huge.mjs');
    writeFileSync(manifestPathFor(huge), `{"x":"${'a'.repeat(MAX_MANIFEST_BYTES)}"}`);
    await expect(readManifest(huge)).rejects.toMatchObject({
      code: 'FileTooLarge',
      message: expect.stringMatching(/larger than/),
    });
    const junk = join(dir, 'junk.mjs');
    writeFileSync(manifestPathFor(junk), Buffer.from([0xff, 0xfe, 0x00]));
    await expect(readManifest(junk)).rejects.toThrow(/UTF-8/);
    writeFileSync(manifestPathFor(junk), '{"name": ');
    await expect(readManifest(junk)).rejects.toThrow(/not valid JSON/);
    expect(readFileSync(manifestPathFor(b), 'utf8')).toContain('"signature"');
  });

  it('errors never quote a file the manifest path points at (a symlink to a key or a config holding tokens)', async () => {
    const secret = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
    const cases = [
      `${secret}\n`,
      `{"${secret}": {"auth": "${secret}"}}`,
      `{"manifestVersion": 1, "name": "${secret.toUpperCase()}"}`,
      `{"manifestVersion": 1, "name": "ok", "version": "${secret}"}`,
      `{"manifestVersion": 1, "name": "ok", "version": "1.0.0", "author": "a", "kind": "js", "artifact": {"${secret}": 1}}`,
    ];
    for (const [i, text] of cases.entries()) {
      const artifact = join(dir, `leak${i}.mjs`);
      writeFileSync(manifestPathFor(artifact), text);
      const err = (await readManifest(artifact).catch((e: unknown) => e)) as Error & {
        code: string;
        details?: unknown;
        cause?: unknown;
      };
      expect(err.code).toBe('InvalidManifest');
      const seen = `${err.message} ${JSON.stringify(err.details ?? {})} ${String((err.cause as Error | undefined)?.message ?? '')}`;
      for (let at = 0; at + 8 <= secret.length; at += 4) {
        expect(seen.toLowerCase(), `case ${i}`).not.toContain(secret.slice(at, at + 8));
      }
    }
  });
});
