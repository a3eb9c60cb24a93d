import path from 'node:path';
import { isPluginError } from '@plugward/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NativePlugin, PluginLoader, plugwardHeaderPath, registeredCallbackCount } from '../src/index.js';
import {
  AsyncMapContext,
  compileC,
  EXAMPLES_DIR,
  le64,
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
let hello: string;
let counter: string;

beforeAll(() => {
  dir = tempDir();
  verifier = new TestVerifier();
  loader = new PluginLoader(verifier);
  hello = compileC(dir, 'libhello', { file: path.join(EXAMPLES_DIR, 'hello-c', 'src', 'hello.c') });
  counter = compileC(dir, 'libcounter', { file: path.join(EXAMPLES_DIR, 'counter-c', 'src', 'counter.c') });
  verifier.signArtifact(hello, { name: 'hello-c', version: '1.0.0', kind: 'native' });
  verifier.signArtifact(counter, { name: 'counter-c', version: '1.2.0', kind: 'native' });
});
afterAll(() => removeDir(dir));

describe('native plugins (real .so through koffi)', () => {
  it('ships plugward.h', () => {
    expect(plugwardHeaderPath()).toMatch(/native\/plugward\.h$/);
  });

  it('runs the hello-c lifecycle: metadata, init, hooks through a registrar, context, log, unload', async () => {
    const callbacksBefore = registeredCallbackCount();
    const plugin = await loader.load(hello, 'trusted');
    expect(plugin).toBeInstanceOf(NativePlugin);
    expect(plugin.kind).toBe('native');
    expect(plugin.name).toBe('hello-c');
    expect(plugin.version).toBe('1.0.0');
    expect(plugin.author).toBe('Plugward');
    expect(plugin.description).toContain('Greets');
    expect(plugin.declaredLimits).toEqual({ maxHeapBytes: 16 * 1024 * 1024 });
    expect(plugin.signatureVerified).toBe(true);
    expect(plugin.mustSandbox).toBe(false);
    expect(registeredCallbackCount()).toBe(callbacksBefore + 5);

    const ctx = new MapContext();
    const runtime = recordingRuntime();
    await plugin.init(ctx, runtime);
    expect(runtime.lines).toContainEqual(['info', 'hello-c initialised']);

    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    expect(hooks.entries.map((e) => [e.name, e.priority])).toEqual([['on_request', 200]]);

    expect(str(await hooks.execute('on_request', text('world')))).toBe('hello, world!');
    ctx.set('greeting', text('bonjour'));
    expect(str(await hooks.execute('on_request', text('monde')))).toBe('bonjour, monde!');
    // A string context value is handed to C as UTF-8 bytes.
    ctx.set('greeting', 'hej');
    expect(str(await hooks.execute('on_request', new Uint8Array(0)))).toBe('hej, !');
    // The plugin counts its calls in the context (read-modify-write through context_get/context_set).
    expect(str(ctx.get<Uint8Array>('hello.calls'))).toBe('3');
    expect(runtime.lines.filter(([l]) => l === 'debug')).toHaveLength(3);

    await plugin.shutdown();
    expect(runtime.lines).toContainEqual(['info', 'hello-c shutting down']);
    await plugin.unload();
    expect(plugin.unloaded).toBe(true);
    // Unload removed its registration and released its callbacks.
    expect(hooks.entries).toHaveLength(0);
    expect(registeredCallbackCount()).toBe(callbacksBefore);
    await plugin.unload(); // idempotent
  });

  it('passes a subarray view with its offset, and copies results before free_buffer', async () => {
    const plugin = await loader.load(hello, 'trusted');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    const backing = text('xxxxABCDyyyy');
    const out1 = await hooks.execute('on_request', backing.subarray(4, 8));
    const out2 = await hooks.execute('on_request', text('second'));
    expect(str(out1)).toBe('hello, ABCD!');
    expect(str(out2)).toBe('hello, second!');
    await plugin.unload();
  });

  it('a handler kept after unload refuses instead of calling into unmapped code', async () => {
    const plugin = await loader.load(hello, 'trusted');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    const stale = hooks.entries[0]!.handler;
    await plugin.unload();
    let caught: unknown;
    try {
      await stale(text('x'), { hookName: 'on_request' });
    } catch (e) {
      caught = e;
    }
    expect(isPluginError(caught, 'HookError')).toBe(true);
    expect((caught as Error).message).toMatch(/unloaded/);
    await expect(plugin.init(new MapContext(), recordingRuntime())).rejects.toMatchObject({
      code: 'LoadError',
    });
  });

  it('keeps per-instance state in counter-c and two instances do not share it', async () => {
    const a = await loader.load(counter, 'trusted');
    const b = await loader.load(counter, 'trusted');
    expect(a.declaredLimits).toEqual({ maxHeapBytes: 8 * 1024 * 1024, maxThreads: 1 });
    const ctxA = new MapContext();
    const ctxB = new MapContext();
    await a.init(ctxA, recordingRuntime());
    await b.init(ctxB, recordingRuntime());
    const ha = new TestRegistrar();
    const hb = new TestRegistrar();
    await a.registerHooks(ha);
    await b.registerHooks(hb);
    expect(ha.names().sort()).toEqual(['count', 'fail', 'reset']);
    expect(le64(await ha.execute('count', new Uint8Array(10)))).toBe(10n);
    expect(le64(await ha.execute('count', new Uint8Array(5)))).toBe(15n);
    expect(le64(await hb.execute('count', new Uint8Array(1)))).toBe(1n);
    expect(le64(await ha.execute('reset', new Uint8Array(0)))).toBe(15n);
    expect(le64(await ha.execute('count', new Uint8Array(2)))).toBe(2n);
    await a.shutdown();
    await b.shutdown();
    // shutdown writes the final total into the context.
    expect(le64(ctxA.get<Uint8Array>('counter.total'))).toBe(2n);
    expect(le64(ctxB.get<Uint8Array>('counter.total'))).toBe(1n);
    await a.unload();
    await b.unload();
  });

  it('turns a call_hook error code into a HookError with the plugin message', async () => {
    const plugin = await loader.load(counter, 'trusted');
    await plugin.init(new MapContext(), recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    const err = await hooks.execute('fail', text('x')).catch((e: unknown) => e);
    expect(isPluginError(err, 'HookError')).toBe(true);
    expect((err as Error).message).toContain('code 1042');
    expect((err as Error).message).toContain('counter-c: the fail hook always fails');
    expect((err as { details?: Record<string, unknown> }).details).toMatchObject({
      hook: 'fail',
      code: 1042,
    });
    // The plugin stays usable after a failed call.
    expect(le64(await hooks.execute('count', new Uint8Array(3)))).toBe(3n);
    await plugin.unload();
  });

  it('maps context permission errors to PW_ERR_PERMISSION_DENIED (the plugin reports it)', async () => {
    const plugin = await loader.load(hello, 'trusted');
    const ctx = new MapContext();
    ctx.denied.add('hello.calls');
    await plugin.init(ctx, recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    const err = await hooks.execute('on_request', text('x')).catch((e: unknown) => e);
    expect(isPluginError(err, 'HookError')).toBe(true);
    expect((err as Error).message).toMatch(/code 5: hello-c: cannot write context key "hello.calls"/);
    await plugin.unload();
  });

  it('an asynchronous context: reads would block (the plugin sees PW_ERR_WOULD_BLOCK), writes are awaited', async () => {
    const plugin = await loader.load(counter, 'trusted');
    const ctx = new AsyncMapContext();
    await plugin.init(ctx, recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    await hooks.execute('count', new Uint8Array(4));
    await plugin.shutdown(); // context_set returns a promise: awaited before shutdown() resolves
    expect(le64((await ctx.get<Uint8Array>('counter.total'))!)).toBe(4n);
    await plugin.unload();

    const h = await loader.load(hello, 'trusted');
    await h.init(new AsyncMapContext(), recordingRuntime());
    const hh = new TestRegistrar();
    await h.registerHooks(hh);
    const err = await hh.execute('on_request', text('x')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/code 7: hello-c: cannot read context key "greeting"/);
    await h.unload();
  });

  it('context_get reports PW_ERR_BUFFER_TOO_SMALL when the value exceeds the plugin buffer', async () => {
    const plugin = await loader.load(hello, 'trusted');
    const ctx = new MapContext();
    ctx.set('greeting', text('g'.repeat(100))); // hello-c reads into a 63-byte buffer
    await plugin.init(ctx, recordingRuntime());
    const hooks = new TestRegistrar();
    await plugin.registerHooks(hooks);
    await expect(hooks.execute('on_request', text('x'))).rejects.toMatchObject({
      message: expect.stringMatching(/code 6: hello-c: cannot read context key "greeting"/),
    });
    ctx.set('greeting', 42); // neither bytes nor a string
    await expect(hooks.execute('on_request', text('x'))).rejects.toMatchObject({
      message: expect.stringMatching(/code 8: /),
    });
    await plugin.unload();
  });

  it('context_remove: sync and async contexts', async () => {
    for (const ctx of [new MapContext(), new AsyncMapContext()]) {
      const plugin = await loader.load(counter, 'trusted');
      await ctx.set('counter.total', text('stale'));
      await plugin.init(ctx, recordingRuntime());
      const hooks = new TestRegistrar();
      await plugin.registerHooks(hooks);
      await hooks.execute('reset', new Uint8Array(0));
      expect(await ctx.has('counter.total')).toBe(false);
      // Removing an absent key is PW_ERR_NOT_FOUND, which counter-c tolerates.
      await hooks.execute('reset', new Uint8Array(0));
      await plugin.unload();
    }
  });

  it('two loads of a plugin with static (global) state are independent: each maps its own private copy', async () => {
    const a = await loader.load(hello, 'trusted');
    const b = await loader.load(hello, 'trusted');
    const ctxA = new MapContext();
    const ctxB = new MapContext();
    ctxA.set('greeting', text('A'));
    ctxB.set('greeting', text('B'));
    await a.init(ctxA, recordingRuntime());
    await b.init(ctxB, recordingRuntime()); // hello-c keeps the host pointer in a static: shared mapping would break A
    const ha = new TestRegistrar();
    const hb = new TestRegistrar();
    await a.registerHooks(ha);
    await b.registerHooks(hb);
    expect(str(await ha.execute('on_request', text('1')))).toBe('A, 1!');
    expect(str(await hb.execute('on_request', text('2')))).toBe('B, 2!');
    await b.unload();
    expect(str(await ha.execute('on_request', text('3')))).toBe('A, 3!'); // A survives B's dlclose
    await a.unload();
  });
});
