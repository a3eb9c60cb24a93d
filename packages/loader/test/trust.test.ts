// Verification before loading: trusted loads refuse any verification failure, untrusted ones are refused or handed
// back "must be sandboxed" without running code, and the verified bytes are what loads (TOCTOU).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPluginError, MANIFEST_SUFFIX, type TrustLevel } from '@plugward/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ArtifactVerifier, loadVerified, PluginLoader, UntrustedPlugin } from '../src/index.js';
import {
  compileC,
  MapContext,
  recordingRuntime,
  removeDir,
  sha3,
  str,
  TestRegistrar,
  TestVerifier,
  tempDir,
  text,
} from './helpers.js';

const BROKEN_C = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'broken.c');
let dir: string;
let n = 0;

/** A fresh copy of the valid echo plugin whose dlopen constructor creates a marker file. */
function nativeWithMarker(verifier: TestVerifier, trust = true): { file: string; marker: string } {
  const id = ++n;
  const marker = path.join(dir, `marker-${id}`);
  const file = compileC(dir, `libmarked${id}`, { file: BROKEN_C, defines: [`MARKER="${marker}"`] });
  verifier.signArtifact(file, { name: 'broken', version: '0.1.0', kind: 'native' }, trust);
  return { file, marker };
}

function jsPlugin(verifier: TestVerifier, reply: string, trust = true): string {
  const file = path.join(dir, `js${++n}.mjs`);
  writeFileSync(
    file,
    `globalThis.__pwTopLevelRuns = (globalThis.__pwTopLevelRuns ?? 0) + 1;
export default { name: 'reply-js', version: '1.0.0', author: 't', init() {},
  registerHooks(h) { h.register('x', 200, () => new TextEncoder().encode(${JSON.stringify(reply)})); } };\n`,
  );
  verifier.signArtifact(file, { name: 'reply-js', version: '1.0.0', kind: 'js' }, trust);
  return file;
}

const topLevelRuns = (): number => (globalThis as { __pwTopLevelRuns?: number }).__pwTopLevelRuns ?? 0;

beforeAll(() => {
  dir = tempDir();
});
afterAll(() => removeDir(dir));

describe('trusted loads verify first and refuse on failure', () => {
  it('a file changed after signing is refused before dlopen (its constructor never runs)', async () => {
    const verifier = new TestVerifier();
    const { file, marker } = nativeWithMarker(verifier);
    writeFileSync(file, Buffer.concat([readFileSync(file), Buffer.from('tampered')]));
    const err = await new PluginLoader(verifier).load(file, 'trusted').catch((e: unknown) => e);
    expect(isPluginError(err, 'HashMismatch')).toBe(true);
    expect((err as Error).message).toMatch(/hash mismatch/);
    expect(existsSync(marker)).toBe(false);
  });

  it('a manifest edited after signing fails its signature check', async () => {
    const verifier = new TestVerifier();
    const { file, marker } = nativeWithMarker(verifier);
    const m = JSON.parse(readFileSync(`${file}${MANIFEST_SUFFIX}`, 'utf8'));
    m.author = 'mallory';
    writeFileSync(`${file}${MANIFEST_SUFFIX}`, JSON.stringify(m));
    await expect(new PluginLoader(verifier).load(file, 'trusted')).rejects.toMatchObject({
      code: 'InvalidSignature',
    });
    expect(existsSync(marker)).toBe(false);
  });

  it('a validly signed artifact that is not on the trust list is refused', async () => {
    const verifier = new TestVerifier();
    const { file, marker } = nativeWithMarker(verifier, false);
    await expect(new PluginLoader(verifier).load(file, 'trusted')).rejects.toMatchObject({
      code: 'UntrustedPlugin',
    });
    expect(existsSync(marker)).toBe(false);
  });

  it('a verifier that throws a plain error is reported as SecurityError with the reason', async () => {
    const failing: ArtifactVerifier = {
      admit: async () => {
        throw new Error('disk on fire');
      },
    };
    const err = await new PluginLoader(failing).load('/nonexistent.so', 'trusted').catch((e: unknown) => e);
    expect(isPluginError(err, 'SecurityError')).toBe(true);
    expect((err as Error).message).toMatch(/verification failed: disk on fire/);
  });

  it('a correct, trusted native plugin is mapped only after verification (constructor runs once)', async () => {
    const verifier = new TestVerifier();
    const { file, marker } = nativeWithMarker(verifier);
    const plugin = await new PluginLoader(verifier).load(file, 'trusted');
    expect(existsSync(marker)).toBe(true);
    await plugin.unload();
  });
});

describe('untrusted plugins', () => {
  it('are refused under onlyTrusted without verifying, reading or running anything', async () => {
    const verifier = new TestVerifier(true);
    const { file, marker } = nativeWithMarker(verifier, false);
    const before = verifier.verifications;
    await expect(new PluginLoader(verifier).load(file, 'untrusted')).rejects.toMatchObject({
      code: 'UntrustedPlugin',
      message: expect.stringMatching(/allows only trusted plugins/),
    });
    expect(verifier.verifications).toBe(before);
    expect(existsSync(marker)).toBe(false);
  });

  it('are returned "must be sandboxed" when the policy allows them: hashed bytes, no code run here', async () => {
    const verifier = new TestVerifier(false);
    const { file, marker } = nativeWithMarker(verifier, false);
    const runsBefore = topLevelRuns();
    const jsFile = jsPlugin(verifier, 'nope', false);
    const loader = new PluginLoader(verifier);
    for (const f of [file, jsFile]) {
      const plugin = await loader.load(f, 'untrusted');
      expect(plugin).toBeInstanceOf(UntrustedPlugin);
      expect(plugin.mustSandbox).toBe(true);
      expect(plugin.trustLevel).toBe('untrusted');
      expect(plugin.signatureVerified).toBe(false);
      expect(sha3(plugin.artifact.bytes)).toBe(sha3(readFileSync(f)));
      await expect(plugin.init(new MapContext(), recordingRuntime())).rejects.toMatchObject({
        code: 'UntrustedPlugin',
      });
      await expect(plugin.registerHooks(new TestRegistrar())).rejects.toMatchObject({
        code: 'UntrustedPlugin',
        message: expect.stringMatching(/must be sandboxed/),
      });
      await plugin.shutdown();
      await plugin.unload();
    }
    expect(existsSync(marker)).toBe(false);
    expect(topLevelRuns()).toBe(runsBefore);
  });

  it('an untrusted artifact that does not match its manifest hash is refused', async () => {
    const verifier = new TestVerifier(false);
    const { file } = nativeWithMarker(verifier, false);
    writeFileSync(file, 'swapped');
    await expect(new PluginLoader(verifier).load(file, 'untrusted')).rejects.toMatchObject({
      code: 'HashMismatch',
    });
  });

  it('an unknown trust level is an InvalidArgument', async () => {
    const err = await new PluginLoader(new TestVerifier())
      .load('/x.so', 'maybe' as TrustLevel)
      .catch((e: unknown) => e);
    expect(isPluginError(err, 'InvalidArgument')).toBe(true);
  });
});

describe('TOCTOU: the verified bytes load, not whatever is on disk afterwards', () => {
  /** Verifies, then atomically replaces the artifact with `swapWith` before the loader continues. */
  function swappingVerifier(verifier: TestVerifier, swapWith: string): ArtifactVerifier {
    return {
      admit: async (p, trustLevel) => {
        const verified = await verifier.admit(p, trustLevel);
        renameSync(swapWith, p);
        return verified;
      },
    };
  }

  it('native: a library swapped after verification does not load', async () => {
    const verifier = new TestVerifier();
    const good = compileC(dir, 'libtoctou-good', { file: BROKEN_C, defines: [] });
    verifier.signArtifact(good, { name: 'broken', version: '0.1.0', kind: 'native' });
    const evil = compileC(dir, 'libtoctou-evil', { file: BROKEN_C, defines: ['INIT_FAILS'] });
    const plugin = await new PluginLoader(swappingVerifier(verifier, evil)).load(good, 'trusted');
    expect(sha3(readFileSync(good))).not.toBe(plugin.artifact.hash); // the file on disk really changed
    await plugin.init(new MapContext(), recordingRuntime()); // the evil variant's init would fail
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(str(await hooks.execute('work', text('verified')))).toBe('verified');
    await plugin.unload();
  });

  it('JS: a bundle swapped after verification does not load', async () => {
    const verifier = new TestVerifier();
    const good = jsPlugin(verifier, 'GOOD');
    const evil = jsPlugin(verifier, 'EVIL');
    const plugin = await new PluginLoader(swappingVerifier(verifier, evil)).load(good, 'trusted');
    expect(readFileSync(good, 'utf8')).toContain('EVIL');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(str(await hooks.execute('x', new Uint8Array(0)))).toBe('GOOD');
    await plugin.unload();
  });

  it('loadVerified never reports more trust than the artifact shows when the options are left out', async () => {
    // An attacker's view: an untrusted admission (policy lets it through by hash) handed to loadVerified without
    // options must not come back labelled trusted with a checked signature.
    const verifier = new TestVerifier(false);
    const file = jsPlugin(verifier, 'UNLISTED', false);
    const untrusted = await verifier.admit(file, 'untrusted');
    expect(untrusted.trustEntry).toBeUndefined();
    const plugin = await loadVerified(untrusted);
    expect(plugin.trustLevel).toBe('untrusted');
    expect(plugin.signatureVerified).toBe(false);
    await plugin.unload();
    // A trusted admission (listed, signature checked) keeps both.
    const listedFile = jsPlugin(verifier, 'LISTED');
    const trusted = await loadVerified(await verifier.admit(listedFile, 'trusted'));
    expect(trusted.trustLevel).toBe('trusted');
    expect(trusted.signatureVerified).toBe(true);
    await trusted.unload();
  });

  it('loadVerified re-hashes: bytes that differ from the verified hash are refused', async () => {
    const verifier = new TestVerifier();
    const file = jsPlugin(verifier, 'GOOD');
    const verified = await verifier.verifyArtifact(file);
    const forged = { ...verified, bytes: new TextEncoder().encode('export default {}') };
    await expect(new PluginLoader(verifier).loadVerified(forged)).rejects.toMatchObject({
      code: 'HashMismatch',
    });
    await expect(loadVerified(forged)).rejects.toMatchObject({ code: 'HashMismatch' });
    // The genuine object loads (what a plugin-side runtime does with the bytes the host sent it).
    const plugin = await new PluginLoader(verifier).loadVerified(verified, { signatureVerified: false });
    expect(plugin.signatureVerified).toBe(false);
    await plugin.unload();
  });
});
