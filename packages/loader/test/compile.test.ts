import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileNativePlugin, PluginLoader } from '../src/index.js';
import {
  EXAMPLES_DIR,
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
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => removeDir(dir));

describe('compileNativePlugin (what the example build scripts use)', () => {
  it('builds the hello-c example with plugward.h on the include path, and it loads', async () => {
    const out = await compileNativePlugin({
      sources: [path.join(EXAMPLES_DIR, 'hello-c', 'src', 'hello.c')],
      output: path.join(dir, 'sub', 'libhello.so'),
      flags: ['-Werror'],
    });
    const verifier = new TestVerifier();
    verifier.signArtifact(out, { name: 'hello-c', version: '1.0.0', kind: 'native' });
    const plugin = await new PluginLoader(verifier).load(out, 'trusted');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(str(await hooks.execute('on_request', text('build')))).toBe('hello, build!');
    await plugin.unload();
  });

  it('a compile error is an InvalidPlugin carrying the compiler output', async () => {
    const src = path.join(dir, 'bad.c');
    writeFileSync(src, 'int x = ;\n');
    await expect(
      compileNativePlugin({ sources: [src], output: path.join(dir, 'bad.so') }),
    ).rejects.toMatchObject({
      code: 'InvalidPlugin',
      message: expect.stringMatching(/bad\.c.*error/s),
    });
  });

  it('a missing compiler is Unsupported with the install hint', async () => {
    await expect(
      compileNativePlugin({
        sources: ['x.c'],
        output: path.join(dir, 'x.so'),
        compiler: 'no-such-cc-plugward',
      }),
    ).rejects.toMatchObject({ code: 'Unsupported', message: expect.stringMatching(/apt-get install gcc/) });
  });
});
