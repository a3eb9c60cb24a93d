import { isPluginError, PluginError } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { createJsonCodec, type HookCodec, jsonCodec, textCodec } from './codec.js';
import { HookRegistry } from './hook-registry.js';
import { typedHandler } from './typed-hook.js';

interface Req {
  path: string;
  headers: Record<string, string>;
}
const isReq = (v: unknown): v is Req =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Req).path === 'string' &&
  typeof (v as Req).headers === 'object';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
  return undefined;
}

describe('codecs', () => {
  it('round-trips JSON as UTF-8 bytes', () => {
    const value = { path: '/ü', headers: { a: 'b' }, n: [1, 2] };
    const wire = jsonCodec.encode(value);
    expect(wire).toBeInstanceOf(Uint8Array);
    expect(new TextDecoder().decode(wire)).toBe(JSON.stringify(value));
    expect(jsonCodec.decode(wire)).toEqual(value);
  });

  it('fails with InvalidArgument on bad JSON, invalid UTF-8 and unencodable values', () => {
    expect(codeOf(() => jsonCodec.decode(new TextEncoder().encode('{nope')))).toBe('InvalidArgument');
    expect(codeOf(() => jsonCodec.decode(new Uint8Array([0x22, 0xff, 0x22])))).toBe('InvalidArgument');
    expect(codeOf(() => jsonCodec.decode('{}' as unknown as Uint8Array))).toBe('InvalidArgument');
    expect(codeOf(() => jsonCodec.encode(undefined))).toBe('InvalidArgument');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => jsonCodec.encode(cyclic))).toBe('InvalidArgument');
    expect(codeOf(() => jsonCodec.encode(10n))).toBe('InvalidArgument');
  });

  it('validates decoded values with createJsonCodec', () => {
    const codec = createJsonCodec(isReq);
    expect(codec.decode(codec.encode({ path: '/', headers: {} }))).toEqual({ path: '/', headers: {} });
    expect(codeOf(() => codec.decode(new TextEncoder().encode('{"path":1}')))).toBe('InvalidArgument');
    expect(codeOf(() => createJsonCodec(null as unknown as typeof isReq))).toBe('InvalidArgument');
  });

  it('round-trips text and refuses invalid UTF-8', () => {
    expect(textCodec.decode(textCodec.encode('héllo ✓'))).toBe('héllo ✓');
    expect(codeOf(() => textCodec.decode(new Uint8Array([0xc3])))).toBe('InvalidArgument');
    expect(codeOf(() => textCodec.encode(5 as unknown as string))).toBe('InvalidArgument');
  });
});

describe('typed hooks', () => {
  it('define<T> gives typed sync and async handlers over a bytes wire', async () => {
    const hooks = new HookRegistry();
    const onRequest = hooks.define<Req>('on_request', jsonCodec);
    onRequest.register(100, (req) => ({ ...req, headers: { ...req.headers, auth: 'ok' } }));
    onRequest.register(200, async (req) => ({ ...req, path: req.path.toUpperCase() }));
    // A raw bytes handler on the same hook sees the JSON wire.
    let wire = '';
    hooks.register('on_request', 300, (d) => {
      wire = new TextDecoder().decode(d);
      return d;
    });
    const out = await onRequest.execute({ path: '/a', headers: {} });
    expect(out).toEqual({ path: '/A', headers: { auth: 'ok' } });
    expect(JSON.parse(wire)).toEqual(out);
    expect(onRequest.name).toBe('on_request');
  });

  it('keeps sync typed handlers sync', () => {
    const h = typedHandler(textCodec, (s) => `${s}!`);
    const out = h(textCodec.encode('hi'), { hookName: 'x' });
    expect(out).toBeInstanceOf(Uint8Array);
    expect(textCodec.decode(out as Uint8Array)).toBe('hi!');
  });

  it('turns a decode failure into a HookError naming the owner', async () => {
    const hooks = new HookRegistry();
    const plugin = hooks.forOwner('typed-plugin');
    const typed = plugin.define('t', createJsonCodec(isReq));
    typed.register(1, (r) => r);
    const err = await hooks.execute('t', new TextEncoder().encode('{"path":5}')).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PluginError);
    expect((err as PluginError).code).toBe('HookError');
    expect((err as PluginError).plugin).toBe('typed-plugin');
    expect(hooks.getHooks('t')[0]?.owner).toBe('typed-plugin');
  });

  it('works through a plain HookRegistrar, as a plugin receives it', async () => {
    const hooks = new HookRegistry();
    const registrar: {
      register(name: string, priority: number, h: ReturnType<typeof typedHandler>): unknown;
    } = hooks.forOwner('p');
    registrar.register(
      'count',
      1,
      typedHandler(jsonCodec, (n: number) => n + 1),
    );
    const count = hooks.define<number>('count', jsonCodec);
    expect(await count.execute(41)).toBe(42);
  });

  it('refuses a codec without encode/decode', () => {
    const hooks = new HookRegistry();
    expect(codeOf(() => hooks.define('x', {} as HookCodec<unknown>))).toBe('InvalidArgument');
    expect(codeOf(() => typedHandler(jsonCodec, 1 as unknown as () => number))).toBe('InvalidArgument');
  });
});
