// Issue 13 points 5, 7 and 11 from the attacker's side: bytes changed after the hash, a FIFO as the artifact, and a
// bundle whose bare import would be resolved from the loader's temp directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginLoader } from '../src/index.js';
import {
  MapContext,
  recordingRuntime,
  removeDir,
  str,
  TestRegistrar,
  TestVerifier,
  tempDir,
} from './helpers.js';

let dir: string;
let n = 0;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => removeDir(dir));

const marker = () => (globalThis as { __pwPlanted?: number }).__pwPlanted ?? 0;

function jsSource(reply: string, prelude = ''): string {
  return `${prelude}
export default { name: 'hostile-js', version: '1.0.0', author: 't', init() {},
  registerHooks(h) { h.register('x', 100, () => new TextEncoder().encode(${JSON.stringify(reply)})); } };\n`;
}

function signedJs(verifier: TestVerifier, source: string): string {
  const file = path.join(dir, `hostile${++n}.mjs`);
  writeFileSync(file, source);
  verifier.signArtifact(file, { name: 'hostile-js', version: '1.0.0', kind: 'js' });
  return file;
}

async function reply(loader: PluginLoader, load: Promise<Awaited<ReturnType<PluginLoader['load']>>>) {
  const plugin = await load;
  await plugin.init(new MapContext(), recordingRuntime());
  const hooks = new TestRegistrar();
  await plugin.registerHooks(hooks);
  const out = str(await hooks.execute('x', new Uint8Array(0)));
  await plugin.unload();
  void loader;
  return out;
}

describe('loadVerified loads exactly the bytes it hashed (point 7)', () => {
  it('a caller that rewrites its buffer right after calling loadVerified does not get its bytes imported', async () => {
    const verifier = new TestVerifier();
    const good = signedJs(verifier, jsSource('GOOD'));
    const verified = await verifier.verifyArtifact(good);
    const evil = new TextEncoder().encode(jsSource('EVIL'));
    expect(evil.length).toBe(verified.bytes.length);
    const scratch = path.join(dir, `scratch-${++n}`);
    mkdirSync(scratch);
    const loader = new PluginLoader(verifier, { tmpDir: scratch });
    const loading = loader.loadVerified(verified);
    verified.bytes.set(evil); // after the hash was taken, before the private copy is written
    expect(await reply(loader, loading)).toBe('GOOD');
    // The host still serves, and no private copy is left behind.
    expect(await reply(loader, loader.load(good, 'trusted'))).toBe('GOOD');
    expect(readdirSync(scratch)).toEqual([]);
  });
});

describe('a FIFO in place of the artifact (point 5)', () => {
  it('the untrusted admission path refuses it at once instead of hanging', async () => {
    const verifier = new TestVerifier(false);
    const file = signedJs(verifier, jsSource('FIFO'));
    unlinkSync(file);
    execFileSync('mkfifo', [file]);
    await expect(new PluginLoader(verifier).load(file, 'untrusted')).rejects.toMatchObject({
      code: 'NotRegularFile',
    });
  }, 5_000);
});

describe('unbundled imports are refused at load (point 11)', () => {
  it('a bare import that /tmp/node_modules (here: the loader temp root) would satisfy is refused, never run', async () => {
    const scratch = path.join(dir, `planted-${++n}`);
    const planted = path.join(scratch, 'node_modules', 'pw-planted-dep');
    mkdirSync(planted, { recursive: true });
    writeFileSync(path.join(planted, 'package.json'), '{"name":"pw-planted-dep","main":"index.js"}');
    writeFileSync(
      path.join(planted, 'index.js'),
      'globalThis.__pwPlanted = (globalThis.__pwPlanted ?? 0) + 1; module.exports = 1;',
    );
    writeFileSync(
      path.join(scratch, 'planted.mjs'),
      'globalThis.__pwPlanted = (globalThis.__pwPlanted ?? 0) + 1;',
    );
    const verifier = new TestVerifier();
    const loader = new PluginLoader(verifier, { tmpDir: scratch });
    const before = marker();
    for (const prelude of [
      "import dep from 'pw-planted-dep';",
      "import '../planted.mjs';",
      "export * from 'pw-planted-dep';",
      "const m = await import('pw-planted-dep');",
      "const name = 'pw-planted-dep'; await import(name);",
    ]) {
      const file = signedJs(verifier, jsSource('X', prelude));
      const err = await loader.load(file, 'trusted').catch((e: unknown) => e);
      expect(err, prelude).toMatchObject({ code: 'UnbundledImport' });
      expect((err as Error).message).toMatch(/esbuild .*--bundle/);
    }
    expect(marker()).toBe(before);
    // Node built-ins stay allowed, and the loader still serves.
    const ok = signedJs(
      verifier,
      jsSource('BUILTIN', "import { createHash } from 'node:crypto'; import os from 'os';"),
    );
    expect(await reply(loader, loader.load(ok, 'trusted'))).toBe('BUILTIN');
    expect(readdirSync(scratch).sort()).toEqual(['node_modules', 'planted.mjs']);
    rmSync(scratch, { recursive: true, force: true });
  });
});
