/** What one entry costs besides its value: the key (UTF-16) and the map slot. */
export const ENTRY_OVERHEAD_BYTES = 64;

/** Bytes charged for any value or container node, besides its content. */
const NODE_BYTES = 16;
/** Most nodes walked in one value: a wider or deeper value is charged as over any budget. */
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;

/**
 * What a plugin pays for storing `value` under a key of `keyLength` characters: an estimate of the memory the host
 * holds for it (UTF-16 strings, byte arrays by length, containers by their content plus a fixed cost per node;
 * shared sub-objects once). The walk stops as soon as the total passes `stopAbove`, and a value deeper than 64 levels
 * or wider than 100 000 nodes counts as `Infinity`, so measuring a hostile value costs the host little.
 */
export function chargedBytes(keyLength: number, value: unknown, stopAbove: number): number {
  let total = ENTRY_OVERHEAD_BYTES + keyLength * 2;
  let nodes = 0;
  const seen = new Set<object>();
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
      total += v.byteLength;
      continue;
    }
    if (v instanceof ArrayBuffer) {
      total += v.byteLength;
      continue;
    }
    if (Array.isArray(v)) {
      total += v.length * 8;
      if (total > stopAbove) return total;
      if (v.length > MAX_NODES) return Number.POSITIVE_INFINITY;
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    if ((v instanceof Map || v instanceof Set) && v.size > MAX_NODES) return Number.POSITIVE_INFINITY;
    if (v instanceof Map) {
      for (const [k, item] of v) stack.push([k, depth + 1], [item, depth + 1]);
      continue;
    }
    if (v instanceof Set) {
      for (const item of v) stack.push([item, depth + 1]);
      continue;
    }
    // Own enumerable data only: a host object's prototype is not the plugin's to pay for.
    for (const k of Object.keys(v)) {
      total += k.length * 2 + 8;
      const d = Object.getOwnPropertyDescriptor(v, k);
      if (d !== undefined && 'value' in d) stack.push([d.value, depth + 1]);
    }
  }
  return total;
}
