import { describe, expect, it } from 'vitest';
import { ipcFailureReason } from './errors.js';
import { MAX_VALUE_CONTAINERS } from './msgpack-scan.js';
import { MAX_VALUE_DEPTH, packValue, unpackValue } from './values.js';

function reason(bytes: Uint8Array): string | undefined {
  try {
    unpackValue(bytes);
    return 'no error';
  } catch (e) {
    return ipcFailureReason(e);
  }
}

describe('structured values', () => {
  it('round-trip plain data, bytes, dates, undefined and bigints', () => {
    const value = {
      s: 'ü',
      n: -1.25,
      i: 2 ** 40,
      big: 2n ** 70n,
      b: true,
      z: null,
      u: undefined,
      d: new Date(1_700_000_000_000),
      bytes: new Uint8Array([0, 255]),
      list: [1, [2, [3]]],
      nested: { deeper: { deepest: 'x' } },
    };
    expect(unpackValue(packValue(value))).toEqual(value);
    expect(unpackValue(packValue(new Map([['k', 1]])))).toEqual({ k: 1 });
  });

  it('refuses nesting deeper than MAX_VALUE_DEPTH before msgpackr recurses', () => {
    let deep: unknown = 1;
    for (let i = 0; i < MAX_VALUE_DEPTH; i++) deep = [deep];
    expect(reason(packValue(deep))).toBe('no error');
    const tooDeep = Buffer.concat([Buffer.alloc(MAX_VALUE_DEPTH + 1, 0x91), Buffer.from([0x01])]);
    expect(reason(tooDeep)).toBe('MalformedPayload');
    expect(reason(Buffer.alloc(1_000_000, 0x91))).toBe('MalformedPayload');
  });

  it('refuses container counts larger than the bytes, and floods of empty containers', () => {
    expect(reason(Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]))).toBe('MalformedPayload');
    expect(reason(Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]))).toBe('MalformedPayload');
    const flood = Buffer.concat([Buffer.from([0xdd, 0x00, 0x01, 0x00, 0x00]), Buffer.alloc(0x10000, 0x80)]);
    expect(0x10000).toBeGreaterThan(MAX_VALUE_CONTAINERS);
    const t0 = performance.now();
    expect(reason(flood)).toBe('MalformedPayload');
    // Not a timing assertion on the result, only a guard that the refusal came from the pre-scan (no 65k Maps built).
    expect(performance.now() - t0).toBeLessThan(5_000);
  });

  it('refuses msgpackr extensions that are not plain data, and lengths past the end', () => {
    for (const type of [0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x62]) {
      expect(reason(Buffer.from([0xd4, type, 0x00]))).toBe('MalformedPayload');
    }
    expect(reason(Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 1]))).toBe('MalformedPayload');
    expect(reason(Buffer.from([0xdb, 0x00, 0x00, 0x00, 0x09, 0x61]))).toBe('MalformedPayload');
    expect(reason(Buffer.from([0xc1]))).toBe('MalformedPayload');
    expect(reason(Buffer.from([0x01, 0x02]))).toBe('MalformedPayload');
  });
});
