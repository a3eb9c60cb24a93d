import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { isPluginError, type PluginErrorCode } from '@plugward/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsPlugin, PluginLoader } from '../src/index.js';
import {
  MapContext,
  recordingRuntime,
  removeDir,
  str,
  TestRegistrar,
  TestVerifier,
  tempDir,
  text,
} from './helpers.js';

let dir: string;
let verifier: TestVerifier;
let loader: PluginLoader;

// A single-file ESM bundle: no imports, the definePlugin-shaped object as default export (a bundler inlines
// definePlugin; the loader re-validates the shape either way).
function bundle(body: string): string {
  return `let loads = 0;\nexport default ${body};\n`;
}

const GOOD = bundle(`{
  name: 'upper-js', version: '2.0.1', author: 'tests', description: 'Uppercases',
  resourceLimits() { return { maxHeapBytes: 1048576 }; },
  init(ctx, runtime) { this.ctx = ctx; loads++; runtime.log('info', 'upper-js init #' + loads); ctx.set('upper.loaded', String(loads)); },
  registerHooks(hooks) {
    hooks.register('on_request', 100, (data) => new TextEncoder().encode(new TextDecoder().decode(data).toUpperCase()));
  },
  shutdown() {},
}`);

function write(
  name: string,
  source: string,
  meta: { name: string; version: string } = { name: 'upper-js', version: '2.0.1' },
): string {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, source);
  verifier.signArtifact(file, { ...meta, kind: 'js' });
  return file;
}

async function expectError(file: string, code: PluginErrorCode, message: RegExp): Promise<void> {
  const err = await loader.load(file, 'trusted').catch((e: unknown) => e);
  expect(isPluginError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
}

beforeAll(() => {
  dir = tempDir();
  verifier = new TestVerifier();
  loader = new PluginLoader(verifier);
});
afterAll(() => removeDir(dir));

describe('JS/ESM plugins', () => {
  it('loads a bundle from the verified bytes, runs init and hooks, unload drops the handlers', async () => {
    const file = write('good', GOOD);
    const plugin = await loader.load(file, 'trusted');
    expect(plugin).toBeInstanceOf(JsPlugin);
    expect(plugin.kind).toBe('js');
    expect(plugin.name).toBe('upper-js');
    expect(plugin.description).toBe('Uppercases');
    expect(plugin.declaredLimits).toEqual({ maxHeapBytes: 1048576 });
    const ctx = new MapContext();
    const runtime = recordingRuntime();
    await plugin.init(ctx, runtime);
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(str(await hooks.execute('on_request', text('abc')))).toBe('ABC');
    const stale = hooks.entries[0]!.handler;
    await plugin.shutdown();
    await plugin.unload();
    expect(hooks.entries).toHaveLength(0);
    expect(() => stale(text('x'), { hookName: 'on_request' })).toThrow(/unloaded/);
  });

  it('each load is a fresh module instance (fresh specifier), so module state does not leak between loads', async () => {
    const file = write('fresh', GOOD);
    const runtimes = [recordingRuntime(), recordingRuntime()];
    for (const rt of runtimes) {
      const p = await loader.load(file, 'trusted');
      await p.init(new MapContext(), rt);
      await p.unload();
    }
    expect(runtimes[0]!.lines).toEqual([['info', 'upper-js init #1']]);
    expect(runtimes[1]!.lines).toEqual([['info', 'upper-js init #1']]);
  });

  it('refuses a missing name', async () => {
    const file = write('noname', bundle(`{ version: '2.0.1', author: 'x', init() {}, registerHooks() {} }`));
    await expectError(file, 'InvalidPlugin', /plugin name must be a non-empty string/);
  });

  it('refuses a bad semver', async () => {
    const file = write(
      'badver',
      bundle(`{ name: 'upper-js', version: '2.0', author: 'x', init() {}, registerHooks() {} }`),
    );
    await expectError(file, 'InvalidVersion', /JS plugin upper-js/);
  });

  it('refuses a non-function init', async () => {
    const file = write(
      'badinit',
      bundle(`{ name: 'upper-js', version: '2.0.1', author: 'x', init: 42, registerHooks() {} }`),
    );
    await expectError(file, 'InvalidPlugin', /"init" must be a function, got number/);
  });

  it('refuses a bundle without a default export', async () => {
    const file = write('nodefault', 'export const plugin = {};\n');
    await expectError(file, 'InvalidPlugin', /default export must be definePlugin/);
  });

  it('refuses a plugin whose name/version differ from the signed manifest', async () => {
    const file = write('mismatch', GOOD, { name: 'upper-js', version: '9.9.9' });
    await expectError(
      file,
      'InvalidPlugin',
      /identifies as upper-js@2\.0\.1 but its signed manifest says upper-js@9\.9\.9/,
    );
  });

  it('a syntax error or a throwing top level -> LoadError', async () => {
    await expectError(write('syntax', 'export default {'), 'LoadError', /cannot import JS plugin upper-js/);
    await expectError(write('throws', 'throw new Error("boom at import");'), 'LoadError', /boom at import/);
  });

  it('a throwing init -> InitializationError', async () => {
    const file = write(
      'initthrows',
      bundle(
        `{ name: 'upper-js', version: '2.0.1', author: 'x', init() { throw new Error('no db'); }, registerHooks() {} }`,
      ),
    );
    const p = await loader.load(file, 'trusted');
    await expect(p.init(new MapContext(), recordingRuntime())).rejects.toMatchObject({
      code: 'InitializationError',
      message: expect.stringMatching(/no db/),
    });
    await p.unload();
  });
});
