// The Rust cdylib example (no crates) loads through the same ABI. Rust is optional: without cargo the test says so
// loudly and skips.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginLoader } from '../src/index.js';
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

const hasCargo = spawnSync('cargo', ['--version']).status === 0;
if (!hasCargo) console.warn('SKIPPING rust.test.ts: cargo is not installed (https://rustup.rs)');

let dir: string;
beforeAll(() => {
  dir = tempDir();
});
afterAll(() => removeDir(dir));

describe('Rust cdylib example', () => {
  it.skipIf(!hasCargo)('builds offline, loads, reverses bytes, writes the context and logs', async () => {
    const crate = path.join(EXAMPLES_DIR, 'hello-rust');
    const build = spawnSync(
      'cargo',
      [
        'build',
        '--release',
        '--offline',
        '--manifest-path',
        path.join(crate, 'Cargo.toml'),
        '--target-dir',
        dir,
      ],
      { encoding: 'utf8' },
    );
    expect(build.status, build.stderr).toBe(0);
    const lib = path.join(dir, 'release', 'libhello_rust.so');
    const verifier = new TestVerifier();
    verifier.signArtifact(lib, { name: 'hello-rust', version: '0.3.0', kind: 'native' });
    const plugin = await new PluginLoader(verifier).load(lib, 'trusted');
    expect(plugin.declaredLimits).toEqual({ maxHeapBytes: 4 * 1024 * 1024 });
    const ctx = new MapContext();
    const runtime = recordingRuntime();
    await plugin.init(ctx, runtime);
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(hooks.entries.map((e) => [e.name, e.priority])).toEqual([['reverse', 150]]);
    expect(str(await hooks.execute('reverse', text('plugward')))).toBe('drawgulp');
    expect(str(await hooks.execute('reverse', new Uint8Array(0)))).toBe('');
    expect(str(ctx.get<Uint8Array>('rust.calls'))).toBe('2');
    expect(runtime.lines).toContainEqual(['info', 'hello-rust reversed 8 bytes']);
    await plugin.shutdown();
    await plugin.unload();
  });
});
