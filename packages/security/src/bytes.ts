import { PluginError } from '@plugward/types';

const HEX = /^(?:[0-9a-f]{2})*$/;

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * Strict hex decoding: even length, `[0-9a-fA-F]` only (Buffer.from silently stops at the first bad digit, which
 * would turn a typo in a key into a shorter key).
 */
export function fromHex(hex: string, what = 'value', expectedBytes?: number): Uint8Array {
  if (typeof hex !== 'string') {
    throw new PluginError('InvalidArgument', `${what} must be a hex string, got ${typeof hex}`);
  }
  const lower = hex.trim().toLowerCase();
  if (!HEX.test(lower)) {
    throw new PluginError(
      'InvalidArgument',
      `${what} is not valid hex (even number of 0-9a-f digits expected)`,
    );
  }
  if (expectedBytes !== undefined && lower.length !== expectedBytes * 2) {
    throw new PluginError(
      'InvalidArgument',
      `${what} must be ${expectedBytes} bytes (${expectedBytes * 2} hex digits), got ${lower.length / 2} bytes`,
    );
  }
  return new Uint8Array(Buffer.from(lower, 'hex'));
}

/** Checks that `value` is a Uint8Array (of `length`, when given). */
export function assertBytes(value: unknown, what: string, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new PluginError('InvalidArgument', `${what} must be a Uint8Array`);
  }
  if (length !== undefined && value.length !== length) {
    throw new PluginError('InvalidArgument', `${what} must be ${length} bytes, got ${value.length}`);
  }
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time equality of two byte arrays (length is not secret). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

/** Accepts bytes or hex, returns bytes. */
export function bytesOrHex(value: Uint8Array | string, what: string, length?: number): Uint8Array {
  if (typeof value === 'string') return fromHex(value, what, length);
  assertBytes(value, what, length);
  return value;
}
