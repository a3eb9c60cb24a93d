import { describe, expect, it } from 'vitest';
import {
  decodeKeyFile,
  encodePublicKeyFile,
  encodeSecretKeyFile,
  generateKeyPair,
  passphraseWeakness,
  toHex,
} from '../src/index.js';

const fast = { t: 1, m: 64, p: 1 };

describe('key files', () => {
  it('public and secret files say what they hold; one is refused where the other is expected', async () => {
    const { privateKey, publicKey } = generateKeyPair();
    const pub = encodePublicKeyFile(publicKey);
    const sec = await encodeSecretKeyFile(privateKey);
    expect(await decodeKeyFile(pub, 'public')).toMatchObject({ kind: 'public', legacy: false });
    expect(await decodeKeyFile(sec, 'secret')).toMatchObject({ kind: 'secret', encrypted: false });
    expect((await decodeKeyFile(pub, 'secret')).kind).toBe('public'); // the caller refuses it
    await expect(decodeKeyFile(toHex(privateKey), 'secret')).rejects.toMatchObject({
      code: 'KeyFileError',
      details: { reason: 'legacy-secret' },
    });
    const garbage = `not a key ${toHex(privateKey)}`;
    const err = (await decodeKeyFile(garbage, 'secret').catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'KeyFileError', details: { reason: 'unknown-format' } });
    expect(err.message).not.toContain(toHex(privateKey).slice(0, 6));
  });

  it('encrypted secret keys: round trip, wrong passphrase, and a forged costly header refused before the KDF', async () => {
    const { privateKey } = generateKeyPair();
    const text = await encodeSecretKeyFile(privateKey, { passphrase: 'pw pw pw pw pw', kdf: fast });
    expect((await decodeKeyFile(text, 'secret', { passphrase: 'pw pw pw pw pw' })).key).toEqual(privateKey);
    await expect(decodeKeyFile(text, 'secret', { passphrase: 'nope' })).rejects.toMatchObject({
      details: { reason: 'wrong-passphrase' },
    });
    await expect(decodeKeyFile(text, 'secret')).rejects.toMatchObject({
      details: { reason: 'needs-passphrase' },
    });
    const forged = text.replace('t=1 m=64', 't=16 m=1048576');
    const started = performance.now();
    await expect(decodeKeyFile(forged, 'secret', { passphrase: 'x' })).rejects.toMatchObject({
      details: { reason: 'bad-kdf' },
    });
    expect(performance.now() - started).toBeLessThan(500);
    // The KDF line is authenticated: a cheaper forged header does not decrypt.
    const cheaper = text.replace('t=1 m=64 p=1', 't=1 m=32 p=1');
    await expect(decodeKeyFile(cheaper, 'secret', { passphrase: 'pw pw pw pw pw' })).rejects.toMatchObject({
      details: { reason: 'wrong-passphrase' },
    });
  });

  it('weak passphrases are named', () => {
    expect(passphraseWeakness('abc')).toMatch(/only 3 characters/);
    expect(passphraseWeakness('aaaaaaaaaaaaaa')).toMatch(/few kinds/);
    expect(passphraseWeakness('correct horse battery staple')).toBeUndefined();
  });
});
