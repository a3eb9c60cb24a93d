import { Packr, Unpackr } from 'msgpackr';
import { ipcError } from './errors.js';
import { scanMsgpack } from './msgpack-scan.js';

/*
 * Structured values on the wire: MessagePack through msgpackr (well kept, the fastest JS MessagePack, and binary data
 * stays binary). Decoding is made safe by a pre-scan (msgpack-scan.ts: lengths, depth, counts, allowed extensions),
 * msgpackr's options and one validation walk:
 * - `mapsAsObjects: false`: every map decodes to a `Map`, so we see the real keys (msgpackr would otherwise rename
 *   `__proto__` silently) and build plain objects ourselves, refusing `__proto__`.
 * - `useRecords: false`, no shared structures: no msgpackr record extension.
 * - The walk accepts only plain data (null, undefined, booleans, numbers, bigints, strings, Uint8Array, Date, arrays,
 *   string-keyed maps), so msgpackr's extensions for Error, RegExp, Set or typed arrays are refused, and it bounds the
 *   nesting depth.
 */

/** Deepest nesting accepted in a structured value. */
export const MAX_VALUE_DEPTH = 64;

const packr = new Packr({
  useRecords: false,
  moreTypes: false,
  bundleStrings: false,
  structuredClone: false,
  // BigInts beyond 64 bits travel as msgpackr's 0x42 extension instead of throwing.
  useBigIntExtension: true,
});
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: false, moreTypes: false });

/** The values that travel as they are, both ways: everything plain but `null` and the object kinds. */
function isScalar(value: unknown): boolean {
  const type = typeof value;
  return (
    type === 'undefined' || type === 'boolean' || type === 'number' || type === 'bigint' || type === 'string'
  );
}

/** Encodes a structured value. @throws PluginError `IpcError` `SendRefused` when it is not plain data. */
export function packValue(value: unknown): Buffer {
  checkPlain(value, 0);
  try {
    return packr.pack(value);
  } catch (e) {
    throw ipcError('SendRefused', `cannot encode value: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

function checkPlain(value: unknown, depth: number): void {
  if (depth > MAX_VALUE_DEPTH) throw ipcError('SendRefused', `value nested deeper than ${MAX_VALUE_DEPTH}`);
  if (isScalar(value)) return;
  if (typeof value !== 'object') throw ipcError('SendRefused', `a ${typeof value} cannot be sent over IPC`);
  if (value === null || value instanceof Uint8Array || value instanceof Date) return;
  if (Array.isArray(value)) {
    for (const item of value) checkPlain(item, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      if (typeof k !== 'string') throw ipcError('SendRefused', 'only string map keys can be sent over IPC');
      checkPlain(v, depth + 1);
    }
    return;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw ipcError('SendRefused', 'only plain objects, arrays, Uint8Array and Date can be sent over IPC');
  }
  for (const v of Object.values(value)) checkPlain(v, depth + 1);
}

let decodedNodes = 0;

/**
 * Values (scalars and containers) {@link unpackValue} has decoded on this thread so far: what a decode cost is counted
 * in (a map of a million small entries costs ≈ 100× what as many bytes of one string do).
 */
export function decodedValueNodes(): number {
  return decodedNodes;
}

/**
 * Decodes exactly one structured value from untrusted bytes.
 * @throws PluginError `IpcError` `MalformedPayload` on any decoding error, trailing bytes or non-plain data.
 */
export function unpackValue(bytes: Uint8Array): unknown {
  if (bytes.length === 0) throw ipcError('MalformedPayload', 'empty payload where a value was expected');
  decodedNodes += scanMsgpack(bytes, MAX_VALUE_DEPTH);
  let raw: unknown;
  try {
    // unpack() refuses trailing bytes ("end of buffer not reached") and over-reads.
    raw = unpackr.unpack(bytes);
  } catch (e) {
    throw ipcError(
      'MalformedPayload',
      `undecodable payload: ${e instanceof Error ? e.message : String(e)}`,
      e,
    );
  }
  return toPlain(raw, 0);
}

function toPlain(value: unknown, depth: number): unknown {
  if (depth > MAX_VALUE_DEPTH)
    throw ipcError('MalformedPayload', `value nested deeper than ${MAX_VALUE_DEPTH}`);
  if (isScalar(value)) return value;
  if (typeof value !== 'object') throw ipcError('MalformedPayload', `unexpected ${typeof value} in payload`);
  if (value === null || value instanceof Date) return value;
  if (value instanceof Uint8Array) return asUint8Array(value);
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) out[i] = toPlain(value[i], depth + 1);
    return out;
  }
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) {
      if (typeof k !== 'string')
        throw ipcError('MalformedPayload', `non-string map key (${typeof k}) in payload`);
      if (k === '__proto__') throw ipcError('MalformedPayload', 'forbidden key "__proto__" in payload');
      out[k] = toPlain(v, depth + 1);
    }
    return out;
  }
  throw ipcError('MalformedPayload', `unexpected ${Object.prototype.toString.call(value)} in payload`);
}

/**
 * Up to this many bytes a typed array lives on V8's heap, without an `ArrayBuffer` of its own (V8's
 * `typed_array_max_size_in_heap`) — until its `.buffer` is read, which moves its bytes to a new off-heap buffer.
 */
const ON_HEAP_BYTES = 64;

/**
 * A plain Uint8Array of the same bytes (msgpackr and sockets hand out Buffers): same type at every tier. A view of the
 * bytes, or, up to {@link ON_HEAP_BYTES}, a copy: a view needs the Buffer's `ArrayBuffer`, which for a small Buffer
 * on V8's heap (a small answer copied out of the host's read buffer) is a new off-heap allocation — ≈ 0.5 µs more per
 * 64-byte call than the copy (issue 17).
 */
export function asUint8Array(bytes: Uint8Array): Uint8Array {
  if (bytes.constructor === Uint8Array) return bytes;
  return bytes.byteLength <= ON_HEAP_BYTES
    ? new Uint8Array(bytes)
    : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
