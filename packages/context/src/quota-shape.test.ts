// Attacker: a plugin holding far more host memory than its context quota by choosing the shape of its values (found by
// the audit helper, session 5). A plugin's ContextSet frames are decoded by msgpackr into plain objects, arrays and
// strings; before the fix the quota charged 16 bytes per node and 2 × length + 8 per key, while V8 holds a hidden
// class, a descriptor array and an internalized key for every object with its own keys, and an elements store sized to
// the largest index for a key like "999": 4 MiB charged held ≈ 27 MiB of host heap (≈ 1.7 GiB under the default 256
// MiB all-plugins budget). The property: for every shape, what the host holds for a stored value is within 2× of what
// its writer is charged, so a full quota never holds more than twice the quota.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const SHAPES = {
  // One short key of its own per object (keys 0…4999 in base 36: some are array indices like "999").
  uniqueKeys: 'Array.from({ length: 5000 }, (_, k) => ({ [k.toString(36)]: 0 }))',
  // The same, keys past the array-index range.
  uniqueWordKeys: 'Array.from({ length: 5000 }, (_, k) => ({ [(2e6 + k).toString(36)]: 0 }))',
  // Integer-like keys only: each object gets an elements store sized to its key.
  indexKeys: 'Array.from({ length: 500 }, (_, k) => ({ [String(1000 + k)]: 0 }))',
  emptyObjects: 'Array.from({ length: 20000 }, () => ({}))',
  emptyArrays: 'Array.from({ length: 20000 }, () => [])',
  shortStrings: 'Array.from({ length: 20000 }, (_, k) => "s" + k)',
  nestedSameShape: 'Array.from({ length: 5000 }, (_, k) => ({ a: k, b: [k, "x"], c: { d: null } }))',
  smallBuffers: 'Array.from({ length: 5000 }, () => new Uint8Array(4))',
} as const;

// Measured in a child (`--expose-gc`): the heap a decoded value holds while it is kept, against its charge in a store
// whose quota is large enough to take it.
const script = (shape: string) => `
const { createRequire } = require('node:module');
const req = createRequire(${JSON.stringify(path.join(pkg, '..', 'ipc', 'package.json'))});
const { pack, unpack } = req('msgpackr');
(async () => {
  const { PluginContext } = await import(${JSON.stringify(path.join(pkg, 'dist', 'index.js'))});
  const heap = () => { for (let i = 0; i < 4; i++) global.gc(); return process.memoryUsage().heapUsed; };
  const bytes = pack(${shape});
  const before = heap();
  let value = unpack(bytes);
  const held = heap() - before;
  const ctx = new PluginContext({ pluginQuota: { maxBytes: 2 ** 30 }, pluginBudget: { maxBytes: 2 ** 31 } });
  ctx.forPlugin('p', { read: ['*'], write: ['*'] }).set('k', value);
  value = undefined;
  process.stdout.write(JSON.stringify({ held, charged: ctx.usageOf('p').bytes }));
})();
`;

describe('context quota charges what the host holds (attacker: quota evasion by value shape)', () => {
  it.each(Object.keys(SHAPES) as (keyof typeof SHAPES)[])(
    '%s: the heap a stored value holds is within 2× of its charge',
    (name) => {
      const out = JSON.parse(
        execFileSync(process.execPath, ['--expose-gc', '-e', script(SHAPES[name])], { encoding: 'utf8' }),
      ) as { held: number; charged: number };
      const text = `${name}: ${(out.held / 1024).toFixed(0)} KiB held for ${(out.charged / 1024).toFixed(0)} KiB charged`;
      expect(out.held, text).toBeGreaterThan(0);
      expect(out.held / out.charged, text).toBeLessThan(2);
    },
    60_000,
  );
});
