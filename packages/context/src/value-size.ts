/** What one entry costs besides its value: the key (UTF-16) and the map slot. */
export const ENTRY_OVERHEAD_BYTES = 64;

// What V8 holds for each kind of node (64-bit, no pointer compression, as Node ships), rounded up: the charge must
// not fall below what the host really holds, whatever the value's shape, or a plugin holds more than its quota.
/** A primitive (a heap number, a boolean, …) or a string's header. */
const NODE_BYTES = 16;
/** A plain object: header (map, properties, elements) plus the in-object slack V8 reserves. */
const OBJECT_BYTES = 64;
/** Each own property of an object: its slot and its descriptor, besides the key string. */
const PROPERTY_BYTES = 24;
/** A property key: an internalized string's header, besides its characters. */
const KEY_BYTES = 24;
/**
 * A distinct set of keys: V8 makes a hidden class (map), a descriptor array and a transition for each new shape, so
 * objects that each carry their own keys cost far more than their content. Charged once per distinct key list in a
 * value, plus per key of it.
 */
const SHAPE_BYTES = 160;
const SHAPE_KEY_BYTES = 24;
/**
 * An object key that is an array index below this (V8's largest gap) lands in the object's elements store, sized to the
 * largest such index (plus half again and 16 slots): `{ "999": 0 }` holds about 12 KiB. Larger indices go to a
 * dictionary, charged like any key.
 */
const FAST_INDEX_LIMIT = 1024;
/** An array: header and backing store header, besides 8 bytes per element. */
const ARRAY_BYTES = 32;
/** A Map or Set: its table, besides each entry's slots. */
const COLLECTION_BYTES = 64;
const COLLECTION_ENTRY_BYTES = 40;
/** A typed array, DataView or ArrayBuffer: the JS object and the backing store's bookkeeping, besides the bytes. */
const BUFFER_BYTES = 96;
/** Most nodes walked in one value: a wider or deeper value is charged as over any budget. */
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;

/**
 * What a plugin pays for storing `value` under a key of `keyLength` characters: an estimate, never below what the
 * host holds for it as V8 lays it out — UTF-16 strings, byte arrays by length, objects by their slots, keys and
 * shapes (a distinct key set costs a hidden class), arrays and collections by their entries, a fixed cost per node;
 * shared sub-objects once. The walk stops as soon as the total passes `stopAbove`, and a value deeper than 64 levels
 * or wider than 100 000 nodes counts as `Infinity`, so measuring a hostile value costs the host little.
 */
export function chargedBytes(keyLength: number, value: unknown, stopAbove: number): number {
  let total = ENTRY_OVERHEAD_BYTES + keyLength * 2;
  let nodes = 0;
  const seen = new Set<object>();
  const shapes = new Set<string>();
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    if (total > stopAbove) return total;
    const [v, depth] = stack.pop() as [unknown, number];
    if (++nodes > MAX_NODES || depth > MAX_DEPTH) return Number.POSITIVE_INFINITY;
    total += NODE_BYTES;
    if (typeof v === 'string') {
      total += v.length * 2;
      continue;
    }
    if (v === null || typeof v !== 'object') continue; // number, boolean, bigint, symbol, function: the node cost
    if (seen.has(v)) continue;
    seen.add(v);
    if (ArrayBuffer.isView(v)) {
      total += BUFFER_BYTES + v.byteLength;
      continue;
    }
    if (v instanceof ArrayBuffer) {
      total += BUFFER_BYTES + v.byteLength;
      continue;
    }
    if (Array.isArray(v)) {
      total += ARRAY_BYTES + v.length * 8;
      if (total > stopAbove) return total;
      if (v.length > MAX_NODES) return Number.POSITIVE_INFINITY;
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    if ((v instanceof Map || v instanceof Set) && v.size > MAX_NODES) return Number.POSITIVE_INFINITY;
    if (v instanceof Map || v instanceof Set) total += COLLECTION_BYTES + v.size * COLLECTION_ENTRY_BYTES;
    if (v instanceof Map) {
      for (const [k, item] of v) stack.push([k, depth + 1], [item, depth + 1]);
      continue;
    }
    if (v instanceof Set) {
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    // Own enumerable data only: a host object's prototype is not the plugin's to pay for.
    const keys = Object.keys(v);
    if (keys.length > MAX_NODES) return Number.POSITIVE_INFINITY;
    total += OBJECT_BYTES;
    let elements = -1;
    for (const k of keys) {
      total += PROPERTY_BYTES + KEY_BYTES + k.length * 2;
      if (k.length <= 4 && /^(?:0|[1-9]\d*)$/.test(k)) elements = Math.max(elements, Number(k));
    }
    if (elements >= 0 && elements < FAST_INDEX_LIMIT) total += 8 * (Math.ceil(1.5 * (elements + 1)) + 16);
    if (total > stopAbove) return total; // before the key list is joined: its length is already charged
    const shape = keys.join('\u0000');
    if (!shapes.has(shape)) {
      shapes.add(shape);
      total += SHAPE_BYTES + keys.length * SHAPE_KEY_BYTES;
    }
    for (const k of keys) {
      const d = Object.getOwnPropertyDescriptor(v, k);
      if (d !== undefined && 'value' in d) stack.push([d.value, depth + 1]);
    }
  }
  return total;
}
