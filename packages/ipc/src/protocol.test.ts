import {
  DEFAULT_RESOURCE_LIMITS,
  type IpcRequest,
  type IpcResponse,
  MINIMAL_REQUIREMENTS,
  PluginError,
} from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { ipcFailureReason } from './errors.js';
import { FRAME_PAYLOAD_OFFSET, FrameDecoder } from './frame.js';
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  REQUEST_KIND_CODES,
  RESPONSE_KIND_CODES,
} from './protocol.js';
import { packValue } from './values.js';

function roundTripRequest(req: IpcRequest): unknown {
  const frame = encodeRequest(9, req);
  expect(frame[5]).toBe(REQUEST_KIND_CODES[req.kind]);
  return decodeRequest(frame[5] as number, frame.subarray(FRAME_PAYLOAD_OFFSET));
}

function roundTripResponse(res: IpcResponse): unknown {
  const frame = encodeResponse(9, res);
  return decodeResponse(frame[5] as number, frame.subarray(FRAME_PAYLOAD_OFFSET));
}

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return ipcFailureReason(e);
  }
  return 'no error';
}

describe('protocol round trips', () => {
  const requests: IpcRequest[] = [
    {
      kind: 'Initialize',
      config: {
        pluginName: 'hello',
        kind: 'js',
        artifactPath: '/tmp/x/hello.mjs',
        tier: 'process',
        limits: { ...DEFAULT_RESOURCE_LIMITS },
        requirements: {
          network: { mode: 'restricted', allowedTargets: [{ host: 'api.example.com', ports: [443] }] },
          filesystem: { mode: 'readOnly', paths: ['/data'] },
          context: { read: ['Configuration'], write: [] },
        },
      },
    },
    { kind: 'Shutdown' },
    { kind: 'ExecuteHook', hookName: 'on_request', data: new Uint8Array([1, 2, 3]) },
    { kind: 'ExecuteHook', hookName: 'ünïcode', data: new Uint8Array(0) },
    { kind: 'GetMetrics' },
    { kind: 'ContextChanged', key: 'greeting', removed: false, value: 'hello' },
    { kind: 'ContextChanged', key: 'blob', removed: false, value: { a: [1, null], b: new Uint8Array([7]) } },
    { kind: 'ContextChanged', key: 'nothing', removed: false, value: null },
    { kind: 'ContextChanged', key: 'greeting', removed: true },
    { kind: 'RegisterHook', name: 'on_request', priority: 150 },
    { kind: 'ContextGet', key: 'Configuration' },
    {
      kind: 'ContextSet',
      key: 'k',
      value: { a: [1, 'two', null, true], b: new Uint8Array([9]), c: { d: 1.5 } },
    },
    { kind: 'ContextRemove', key: 'k' },
    { kind: 'ContextHas', key: 'k' },
    { kind: 'ContextKeys' },
    { kind: 'Log', level: 'warn', message: 'careful' },
    {
      kind: 'Fetch',
      request: { url: 'https://x.test/', method: 'POST', headers: { a: 'b' }, body: new Uint8Array([1]) },
    },
  ];
  for (const req of requests) {
    it(`request ${req.kind}`, () => {
      expect(roundTripRequest(req)).toEqual(req);
    });
  }

  it('carries a handler index on ExecuteHook', () => {
    const frame = encodeRequest(1, {
      kind: 'ExecuteHook',
      hookName: 'h',
      data: new Uint8Array([5]),
      handlerIndex: 3,
    } as IpcRequest);
    expect(decodeRequest(frame[5] as number, frame.subarray(FRAME_PAYLOAD_OFFSET))).toMatchObject({
      handlerIndex: 3,
    });
  });

  const responses: IpcResponse[] = [
    { kind: 'Success' },
    { kind: 'Success', value: ['a', 1] },
    { kind: 'Success', value: false },
    { kind: 'Error', code: 'HookError', message: 'boom' },
    { kind: 'Metrics', data: { timestamp: 1, source: 'plugin', pid: 5, memoryBytes: 1024 } },
    { kind: 'HookResult', data: new Uint8Array([4, 5, 6]) },
    { kind: 'FetchResult', response: { status: 200, headers: {}, body: new Uint8Array([1]) } },
  ];
  for (const res of responses) {
    it(`response ${res.kind}`, () => {
      expect(roundTripResponse(res)).toEqual(res);
    });
  }

  it('sends hook payloads raw, without any encoding', () => {
    const data = Buffer.from('raw-bytes');
    const frame = encodeResponse(1, { kind: 'HookResult', data });
    expect(frame.subarray(FRAME_PAYLOAD_OFFSET).equals(data)).toBe(true);
  });
});

describe('hook results out of a reused read buffer', () => {
  it('a small result is a plain Uint8Array of its own, with no ArrayBuffer allocated for it', () => {
    // The host's path: frames copied out of its reused read buffer, then decoded. 2000 answers of 64 bytes, all kept.
    const decoder = new FrameDecoder();
    const reused = Buffer.alloc(64 * 1024);
    const results: Uint8Array[] = [];
    const frames = Array.from({ length: 2000 }, (_, i) =>
      encodeResponse(i + 1, { kind: 'HookResult', data: new Uint8Array(64).fill(i & 0xff) }),
    );
    const before = process.memoryUsage().arrayBuffers;
    for (const frame of frames) {
      frame.copy(reused);
      decoder.pushBorrowed(reused.subarray(0, frame.length), (f) => {
        const res = decodeResponse(f.kind, f.payload);
        if (res.kind === 'HookResult') results.push(res.data);
      });
      reused.fill(0xee); // the read buffer is reused: nothing decoded may see this
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(results).toHaveLength(2000);
    for (const [i, data] of results.entries()) {
      expect(data.constructor).toBe(Uint8Array);
      expect(data.length).toBe(64);
      expect(data.every((b) => b === (i & 0xff))).toBe(true);
    }
    // An ArrayBuffer per answer would be 128 KB at least (2000 × 64 bytes off V8's heap).
    expect(grown).toBeLessThan(32 * 1024);
  });

  it("a larger result is a view of its frame's own memory, not a copy of it and not the read buffer", () => {
    const decoder = new FrameDecoder();
    const reused = Buffer.alloc(64 * 1024);
    const frame = encodeResponse(1, { kind: 'HookResult', data: new Uint8Array(4000).fill(3) });
    frame.copy(reused);
    let data: Uint8Array | undefined;
    decoder.pushBorrowed(reused.subarray(0, frame.length), (f) => {
      const res = decodeResponse(f.kind, f.payload);
      if (res.kind === 'HookResult') data = res.data;
    });
    reused.fill(0xee);
    expect(data?.constructor).toBe(Uint8Array);
    expect(data?.buffer.byteLength).toBe(4000);
    expect(data?.every((b) => b === 3)).toBe(true);
  });
});

describe('protocol refuses bad payloads', () => {
  const code = REQUEST_KIND_CODES;
  it('unknown kinds', () => {
    expect(reasonOf(() => decodeRequest(99, Buffer.alloc(0)))).toBe('UnknownKind');
    expect(reasonOf(() => decodeResponse(0, Buffer.alloc(0)))).toBe('UnknownKind');
  });

  it('__proto__ keys, at any depth', () => {
    // A MessagePack map {"__proto__": {"polluted": 1}} built by hand (fixmap 1, fixstr 9).
    const evil = Buffer.concat([
      Buffer.from([0x81, 0xa9]),
      Buffer.from('__proto__'),
      Buffer.from([0x81, 0xa8]),
      Buffer.from('polluted'),
      Buffer.from([0x01]),
    ]);
    expect(reasonOf(() => decodeRequest(code.Fetch, evil))).toBe('MalformedPayload');
    const nested = Buffer.concat([Buffer.from([0x92, 0xa1, 0x6b]), evil]); // ["k", {...}]
    expect(reasonOf(() => decodeRequest(code.ContextSet, nested))).toBe('MalformedPayload');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('wrong field types', () => {
    expect(reasonOf(() => decodeRequest(code.RegisterHook, packValue(['h', 'high'])))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeRequest(code.RegisterHook, packValue(['', 1])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(code.ContextGet, packValue(42)))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(code.Log, packValue(['loud', 'x'])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(code.Initialize, packValue({ pluginName: 'x' })))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeResponse(RESPONSE_KIND_CODES.Error, packValue(['NoSuchCode', 'x'])))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeResponse(RESPONSE_KIND_CODES.Metrics, packValue({ timestamp: 'now' })))).toBe(
      'MalformedPayload',
    );
  });

  it('payload on empty kinds, trailing bytes, truncation, extension types', () => {
    expect(reasonOf(() => decodeRequest(code.Shutdown, Buffer.from([0])))).toBe('MalformedPayload');
    expect(
      reasonOf(() => decodeRequest(code.ContextGet, Buffer.concat([packValue('k'), Buffer.from([0])]))),
    ).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(code.ContextGet, packValue('key').subarray(0, 2)))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeRequest(code.ContextGet, Buffer.alloc(0)))).toBe('MalformedPayload');
    // msgpackr's Set extension (0x73) wrapping an array: not plain data.
    expect(
      reasonOf(() => decodeRequest(code.ContextSet, Buffer.from([0x92, 0xa1, 0x6b, 0xd4, 0x73, 0x90]))),
    ).not.toBe('no error');
    // ExecuteHook whose name length runs past the payload, and an invalid UTF-8 name.
    expect(reasonOf(() => decodeRequest(code.ExecuteHook, Buffer.from([9, 0, 0, 0, 0, 0, 0x61])))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeRequest(code.ExecuteHook, Buffer.from([1, 0, 0, 0, 0, 0, 0xff])))).toBe(
      'MalformedPayload',
    );
  });

  it('refuses to send what is not plain data', () => {
    expect(() => encodeRequest(1, { kind: 'ContextSet', key: 'k', value: () => 1 })).toThrow(PluginError);
    expect(() => encodeRequest(1, { kind: 'ContextSet', key: 'k', value: new (class X {})() })).toThrow(
      /plain/,
    );
    expect(() =>
      encodeRequest(1, { kind: 'ExecuteHook', hookName: 'x'.repeat(2000), data: new Uint8Array() }),
    ).toThrow(/longer/);
  });

  it('ContextChanged: only a key with a value, or a key alone (removed)', () => {
    const cc = code.ContextChanged;
    // Wrong arity: none, three fields, not a tuple at all.
    expect(reasonOf(() => decodeRequest(cc, packValue([])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, packValue(['k', 1, 2])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, packValue({ key: 'k', value: 1 })))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, packValue('k')))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, Buffer.alloc(0)))).toBe('MalformedPayload');
    // Bad keys: not a string, empty, longer than a context key may be.
    expect(reasonOf(() => decodeRequest(cc, packValue([42, 'v'])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, packValue(['', 'v'])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, packValue(['k'.repeat(257)])))).toBe('MalformedPayload');
    // A "set" whose value is undefined (msgpackr can carry it): the context has no such value.
    expect(reasonOf(() => decodeRequest(cc, packValue(['k', undefined])))).toBe('MalformedPayload');
    // Hostile values: __proto__ inside, trailing bytes, truncated.
    const evil = Buffer.concat([
      Buffer.from([0x92, 0xa1, 0x6b, 0x81, 0xa9]),
      Buffer.from('__proto__'),
      Buffer.from([0x01]),
    ]);
    expect(reasonOf(() => decodeRequest(cc, evil))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeRequest(cc, Buffer.concat([packValue(['k', 1]), Buffer.from([0])])))).toBe(
      'MalformedPayload',
    );
    expect(reasonOf(() => decodeRequest(cc, packValue(['key', 'value']).subarray(0, 5)))).toBe(
      'MalformedPayload',
    );
    // And the sender refuses shapes that mean two things at once, or nothing.
    const send = (req: unknown) => reasonOf(() => encodeRequest(1, req as IpcRequest));
    expect(send({ kind: 'ContextChanged', key: 'k', removed: true, value: 1 })).toBe('SendRefused');
    expect(send({ kind: 'ContextChanged', key: 'k', removed: false })).toBe('SendRefused');
    expect(send({ kind: 'ContextChanged', key: 'k', removed: 'yes', value: 1 })).toBe('SendRefused');
    expect(send({ kind: 'ContextChanged', key: '', removed: true })).toBe('SendRefused');
    expect(send({ kind: 'ContextChanged', key: 'k', removed: false, value: () => 1 })).toBe('SendRefused');
  });

  it('keeps minimal requirements intact through Initialize', () => {
    const req: IpcRequest = {
      kind: 'Initialize',
      config: {
        pluginName: 'a',
        kind: 'native',
        artifactPath: '/a.so',
        tier: 'sandbox',
        limits: { ...DEFAULT_RESOURCE_LIMITS },
        requirements: {
          network: { mode: 'isolated' },
          filesystem: { mode: 'none' },
          context: { read: [...MINIMAL_REQUIREMENTS.context.read], write: [] },
        },
      },
    };
    expect(roundTripRequest(req)).toEqual(req);
  });
});

describe('ExecuteHook hook names', () => {
  const decodeHook = (hookName: string | Buffer) => {
    const name = Buffer.isBuffer(hookName) ? hookName : Buffer.from(hookName);
    const payload = Buffer.alloc(6 + name.length + 2);
    payload.writeUInt16LE(name.length, 0);
    name.copy(payload, 6);
    payload.set([7, 8], 6 + name.length);
    return decodeRequest(REQUEST_KIND_CODES.ExecuteHook, payload);
  };

  it('decodes every name to its own string, however many names and however alike (decoded once, then known)', () => {
    // More names than are kept decoded, several of one length differing in one byte, each decoded many times.
    const names = Array.from(
      { length: 40 },
      (_, i) => `hook-${String.fromCharCode(97 + (i % 26))}${i >= 26 ? 'x' : ''}`,
    );
    for (let round = 0; round < 3; round++) {
      for (const name of [...names, ...names.slice(0, 5).reverse()]) {
        const req = decodeHook(name);
        expect(req).toMatchObject({ kind: 'ExecuteHook', hookName: name });
        expect(Array.from((req as { data: Uint8Array }).data)).toEqual([7, 8]);
        expect((req as { data: Uint8Array }).data.constructor).toBe(Uint8Array);
      }
    }
  });

  it('encodes every name to its UTF-8 bytes, however many names (encoded once, then known)', () => {
    const names = [
      ...Array.from({ length: 40 }, (_, i) => `hook-${i}`),
      'ünïcode',
      'a\u{1d11e}b',
      'lone\ud800surrogate',
      'x'.repeat(256),
    ];
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const frame = encodeRequest(7, { kind: 'ExecuteHook', hookName: name, data: new Uint8Array([9]) });
        const payload = frame.subarray(FRAME_PAYLOAD_OFFSET);
        const bytes = Buffer.from(name, 'utf8');
        expect(payload.readUInt16LE(0)).toBe(bytes.length);
        expect(Buffer.compare(payload.subarray(6, 6 + bytes.length), bytes)).toBe(0);
        expect(payload[6 + bytes.length]).toBe(9);
      }
    }
    expect(
      reasonOf(() =>
        encodeRequest(1, { kind: 'ExecuteHook', hookName: 'é'.repeat(129), data: new Uint8Array() }),
      ),
    ).toBe('SendRefused');
  });

  it('refuses a name that is not UTF-8 even right after a valid name of its length', () => {
    expect(decodeHook(Buffer.from([0x61, 0x62]))).toMatchObject({ hookName: 'ab' });
    expect(reasonOf(() => decodeHook(Buffer.from([0x61, 0xff])))).toBe('MalformedPayload');
    expect(reasonOf(() => decodeHook(Buffer.from([0xc3, 0x28])))).toBe('MalformedPayload');
    expect(decodeHook(Buffer.from([0x61, 0x62]))).toMatchObject({ hookName: 'ab' });
  });

  it('keeps a name once decoded even when the bytes it came from change afterwards', () => {
    const payload = Buffer.alloc(6 + 4);
    payload.writeUInt16LE(4, 0);
    payload.write('echo', 6);
    expect(decodeRequest(REQUEST_KIND_CODES.ExecuteHook, payload)).toMatchObject({ hookName: 'echo' });
    payload.write('ecHo', 6);
    expect(decodeRequest(REQUEST_KIND_CODES.ExecuteHook, payload)).toMatchObject({ hookName: 'ecHo' });
    payload.write('echo', 6);
    expect(decodeRequest(REQUEST_KIND_CODES.ExecuteHook, payload)).toMatchObject({ hookName: 'echo' });
  });
});
