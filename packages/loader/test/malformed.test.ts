// Every malformed-plugin case is a real, deliberately broken C library compiled here; each must end in a typed
// PluginError with a clear message, never a host crash.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPluginError, type PluginErrorCode } from '@plugward/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LoadedPlugin, PluginLoader, registeredCallbackCount } from '../src/index.js';
import {
  compileC,
  MapContext,
  recordingRuntime,
  removeDir,
  TestRegistrar,
  TestVerifier,
  tempDir,
  text,
} from './helpers.js';

const BROKEN_C = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'broken.c');

let dir: string;
let verifier: TestVerifier;
let loader: PluginLoader;
const libs = new Map<string, string>();

function build(variant: string, defines: string[], name = 'broken'): void {
  const file = compileC(dir, `lib${variant}`, { file: BROKEN_C, defines });
  verifier.signArtifact(file, { name, version: '0.1.0', kind: 'native' });
  libs.set(variant, file);
}

async function loadError(variant: string): Promise<unknown> {
  return loader.load(libs.get(variant)!, 'trusted').then(
    (p) => p,
    (e: unknown) => e,
  );
}

async function expectLoadError(variant: string, code: PluginErrorCode, message: RegExp): Promise<void> {
  const before = registeredCallbackCount();
  const err = await loadError(variant);
  expect(isPluginError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(message);
  // A refused library leaves no callback behind.
  expect(registeredCallbackCount()).toBe(before);
}

async function started(variant: string): Promise<{ plugin: LoadedPlugin; hooks: TestRegistrar }> {
  const plugin = await loader.load(libs.get(variant)!, 'trusted');
  await plugin.init(new MapContext(), recordingRuntime());
  const hooks = new TestRegistrar();
  await plugin.registerHooks(hooks);
  return { plugin, hooks };
}

beforeAll(() => {
  dir = tempDir();
  verifier = new TestVerifier();
  loader = new PluginLoader(verifier, { maxHookOutputBytes: 1024 });
  build('valid', []);
  build('no-constructor', ['NO_CONSTRUCTOR']);
  build('null-struct', ['NULL_STRUCT']);
  build('abi2', ['ABI_VERSION=2']);
  build('small-struct', ['SMALL_STRUCT']);
  build('null-call-hook', ['NULL_CALL_HOOK']);
  build('bad-utf8', ['BAD_UTF8_AUTHOR']);
  build('null-name', ['NULL_NAME']);
  build('wrong-name', ['WRONG_NAME']);
  build('init-fails', ['INIT_FAILS']);
  build('bad-hook-name', ['BAD_HOOK_NAME']);
  build('null-out', ['NULL_OUT_WITH_LEN']);
  build('big-out', ['BIG_OUT']);
  build('late-register', ['LATE_REGISTER']);
  const garbage = path.join(dir, 'libgarbage.so');
  writeFileSync(garbage, 'this is not an ELF file');
  verifier.signArtifact(garbage, { name: 'broken', version: '0.1.0', kind: 'native' });
  libs.set('garbage', garbage);
});
afterAll(() => removeDir(dir));

describe('malformed native plugins', () => {
  it('the unbroken variant works (so the failures below are the flags, not the fixture)', async () => {
    const { plugin, hooks } = await started('valid');
    expect(new TextDecoder().decode(await hooks.execute('work', text('echo')))).toBe('echo');
    await plugin.unload();
  });

  it('missing create_plugin symbol -> SymbolNotFound', async () => {
    await expectLoadError('no-constructor', 'SymbolNotFound', /does not export create_plugin/);
  });

  it('create_plugin returning NULL -> InvalidPlugin', async () => {
    await expectLoadError('null-struct', 'InvalidPlugin', /create_plugin\(\) returned NULL/);
  });

  it('wrong abi_version -> AbiIncompatible naming both versions', async () => {
    await expectLoadError('abi2', 'AbiIncompatible', /built for plugward ABI 2; this loader speaks ABI 1/);
  });

  it('struct_size smaller than pw_plugin -> AbiIncompatible', async () => {
    await expectLoadError('small-struct', 'AbiIncompatible', /struct_size is 64/);
  });

  it('NULL function pointer -> InvalidPlugin naming the field', async () => {
    await expectLoadError('null-call-hook', 'InvalidPlugin', /pw_plugin\.call_hook is NULL/);
  });

  it('non-UTF-8 metadata -> InvalidPlugin naming the field', async () => {
    await expectLoadError('bad-utf8', 'InvalidPlugin', /pw_plugin\.author is not valid UTF-8/);
  });

  it('NULL metadata string -> InvalidPlugin', async () => {
    await expectLoadError('null-name', 'InvalidPlugin', /pw_plugin\.name is a NULL pointer/);
  });

  it('struct name differing from the signed manifest -> InvalidPlugin', async () => {
    await expectLoadError(
      'wrong-name',
      'InvalidPlugin',
      /identifies as somebody-else@0\.1\.0 but its signed manifest says broken@0\.1\.0/,
    );
  });

  it('a file that is not a shared library -> LoadError', async () => {
    await expectLoadError('garbage', 'LoadError', /cannot load native plugin broken/);
  });

  it('init returning an error code -> InitializationError with the plugin message', async () => {
    const plugin = await loader.load(libs.get('init-fails')!, 'trusted');
    const err = await plugin.init(new MapContext(), recordingRuntime()).catch((e: unknown) => e);
    expect(isPluginError(err, 'InitializationError')).toBe(true);
    expect((err as Error).message).toMatch(/init failed with code 77: broken: init refuses to start/);
    await plugin.unload();
  });

  it('a non-UTF-8 hook name is refused to the plugin, which fails register_hooks', async () => {
    const plugin = await loader.load(libs.get('bad-hook-name')!, 'trusted');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    const err = await plugin.registerHooks(hooks).catch((e: unknown) => e);
    expect(isPluginError(err, 'InitializationError')).toBe(true);
    expect((err as Error).message).toMatch(/code 2: broken: register_hook was refused/);
    expect(hooks.entries).toHaveLength(0);
    await plugin.unload();
  });

  it('call_hook returning NULL with a length -> HookError', async () => {
    const { plugin, hooks } = await started('null-out');
    await expect(hooks.execute('work', text('x'))).rejects.toMatchObject({
      code: 'HookError',
      message: expect.stringMatching(/returned NULL with length 5/),
    });
    await plugin.unload();
  });

  it('a result over maxHookOutputBytes -> HookError (buffer still freed)', async () => {
    const { plugin, hooks } = await started('big-out');
    await expect(hooks.execute('work', text('x'))).rejects.toMatchObject({
      code: 'HookError',
      message: expect.stringMatching(/returned 4096 bytes, more than the 1024-byte limit/),
    });
    await plugin.unload();
  });

  it('a host callback used outside its phase (register_hook inside call_hook) gets PW_ERR_STATE', async () => {
    const { plugin, hooks } = await started('late-register');
    await expect(hooks.execute('work', text('x'))).rejects.toMatchObject({
      code: 'HookError',
      message: expect.stringMatching(/failed with code 9: broken: late register_hook/),
    });
    expect(hooks.names()).toEqual(['work']);
    await plugin.unload();
  });
});
