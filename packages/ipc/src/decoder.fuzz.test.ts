import { DEFAULT_RESOURCE_LIMITS, type IpcRequest, type IpcResponse, isPluginError } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { encodeFrame, type Frame, FrameDecoder, FrameType } from './frame.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './protocol.js';

/** xorshift32: a seeded PRNG so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

const seeds: Buffer[] = [
  ...(
    [
      { kind: 'ExecuteHook', hookName: 'on_request', data: new Uint8Array([1, 2, 3, 4]) },
      { kind: 'Shutdown' },
      { kind: 'GetMetrics' },
      {
        kind: 'ContextChanged',
        key: 'greeting',
        removed: false,
        value: { a: [1, 'b'], c: new Uint8Array([2]) },
      },
      { kind: 'ContextChanged', key: 'greeting', removed: true },
      { kind: 'RegisterHook', name: 'x', priority: 100 },
      { kind: 'ContextGet', key: 'Configuration' },
      { kind: 'ContextSet', key: 'k', value: { a: [1, 'b', null], c: new Uint8Array([1]), d: { e: 2.5 } } },
      { kind: 'Log', level: 'info', message: 'hello' },
      { kind: 'Fetch', request: { url: 'https://a.test', method: 'GET', headers: { x: 'y' } } },
      {
        kind: 'Initialize',
        config: {
          pluginName: 'p',
          kind: 'js',
          artifactPath: '/p.mjs',
          tier: 'process',
          limits: { ...DEFAULT_RESOURCE_LIMITS },
          requirements: {
            network: { mode: 'isolated' },
            filesystem: { mode: 'none' },
            context: { read: ['a'], write: [] },
          },
        },
      },
    ] satisfies IpcRequest[]
  ).map((r, i) => encodeRequest(i + 1, r)),
  ...(
    [
      { kind: 'Success', value: { nested: [1, 2, { x: 'y' }] } },
      { kind: 'Error', code: 'HookError', message: 'bad' },
      { kind: 'Metrics', data: { timestamp: 5, source: 'plugin', memoryBytes: 10 } },
      { kind: 'HookResult', data: new Uint8Array([9, 9]) },
      { kind: 'FetchResult', response: { status: 200, headers: {}, body: new Uint8Array([1]) } },
    ] satisfies IpcResponse[]
  ).map((r, i) => encodeResponse(i + 1, r)),
  encodeFrame(FrameType.Cancel, 0, 3),
];

/**
 * Decodes like the channel does — from owned chunks, or (`borrowed`) from chunks of a reused read buffer — and returns
 * true when the bytes decoded, false when refused with an IpcError.
 */
function decodeAll(bytes: Buffer, cut: number, borrowed: boolean): boolean {
  const decoder = new FrameDecoder(64 * 1024);
  const handle = (f: Frame): void => {
    if (f.type === FrameType.Request) decodeRequest(f.kind, f.payload);
    else if (f.type === FrameType.Response) decodeResponse(f.kind, f.payload);
  };
  try {
    if (borrowed) {
      decoder.pushBorrowed(bytes.subarray(0, cut), handle);
      decoder.pushBorrowed(bytes.subarray(cut), handle);
    } else {
      decoder.push(bytes.subarray(0, cut), handle);
      decoder.push(bytes.subarray(cut), handle);
    }
    return true;
  } catch (e) {
    if (!isPluginError(e, 'IpcError')) throw e;
    return false;
  }
}

describe('decoder fuzz', () => {
  it('refuses 120k random and mutated frames with IpcError only, never another exception', () => {
    const next = rng(0x5eed1234);
    let refused = 0;
    let accepted = 0;
    const N = 120_000;
    for (let i = 0; i < N; i++) {
      let bytes: Buffer;
      const mode = next() % 4;
      if (mode === 0) {
        // Pure random bytes behind a plausible length and header.
        const len = next() % 200;
        const payload = Buffer.alloc(len);
        for (let j = 0; j < len; j++) payload[j] = next() & 0xff;
        bytes = encodeFrame(1 + (next() % 3), next() % 32, next(), payload);
      } else {
        const seed = seeds[next() % seeds.length] as Buffer;
        bytes = Buffer.from(seed);
        const flips = 1 + (next() % 4);
        for (let j = 0; j < flips; j++) {
          // Mutate the payload (and, in mode 3, the header and length too).
          const from = mode === 3 ? 0 : 10;
          if (bytes.length > from) bytes[from + (next() % (bytes.length - from))] = next() & 0xff;
        }
        if (mode === 2 && next() % 2 === 0) bytes = bytes.subarray(0, next() % bytes.length);
        if (mode === 2 && next() % 3 === 0) {
          // Keep the length field consistent with a truncated or extended payload half of the time.
          const extra = Buffer.alloc(next() % 16, next() & 0xff);
          bytes = Buffer.concat([bytes, extra]);
          if (bytes.length >= 4) bytes.writeUInt32LE(bytes.length - 4, 0);
        }
      }
      if (decodeAll(bytes, bytes.length === 0 ? 0 : next() % bytes.length, i % 2 === 1)) accepted++;
      else refused++;
    }
    expect(accepted + refused).toBe(N);
    // The mutations must actually exercise both paths.
    expect(refused).toBeGreaterThan(N / 10);
    expect(accepted).toBeGreaterThan(N / 100);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
