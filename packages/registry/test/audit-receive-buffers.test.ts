// The host's side of receive-buffer reuse: whatever the host got from a plugin out of process — a hook answer it handed
// its caller, a context value the plugin set (which the host stores), a log line — is the host's own from then on. A
// transport that decodes frames into a reused (pooled) receive buffer and hands out views of it would let the next
// frame from the same plugin rewrite them: an answer the caller already holds, or a context value another plugin or
// the host then reads. Checked at the worker, process and sandbox tiers, with answers of many sizes held across later
// calls (sequential and concurrent), and stored context values held across later frames of the same plugin — a
// top-level `Uint8Array`, and binary fields nested in objects and arrays (msgpackr decodes `bin` as views of the frame
// it came in, so these are views too).
// And what the host got shares no memory with the host's own data (process and sandbox tiers): the `ArrayBuffer`
// behind an answer or a nested context field holds what the plugin sent (on main: its frame, or the read it came in).
// A decoder that copies small frames into Node's shared allocation pool (`Buffer.allocUnsafe` under 4 KiB) hands out
// views of an 8 KiB slab that also holds whatever else the process put there — another plugin's answers, a string the
// host turned into bytes — and anyone the host hands `answer.buffer` to (a `postMessage`, a socket write of the buffer,
// an in-process plugin later in the chain) reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-rxbuf');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
let probe = '';
let filler = '';

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

const SIZES = [1, 16, 1000, 4096, 16 * 1024, 64 * 1024, 65_536 + 7, 200_000, 1_000_000];
/** Sizes of the binary fields of a nested value (`audit.setn`). */
const NESTED = [1, 16, 1000, 4096, 16 * 1024, 64 * 1024, 65_536 + 7, 200_000];

// 'audit.fill' answers <size> bytes of <byte>, both read from the 8-byte input; 'audit.set' stores <size> bytes of
// <byte> under the key named after the 8 bytes (audit.v or audit.w) and answers; 'audit.setn' stores, under audit.n
// (<size> 1) or audit.m, a value whose every binary field (object fields, arrays, arrays of objects) is <byte>s.
// Every buffer is fresh.
const fillerSource = `let CTX;
const spec = (d) => { const v = new DataView(d.buffer, d.byteOffset, d.byteLength); return [v.getUint32(0, true), v.getUint32(4, true)]; };
const nested = (b) => ({
  blob: new Uint8Array(65536).fill(b),
  list: ${JSON.stringify(NESTED)}.map((n) => new Uint8Array(n).fill(b)),
  deep: { x: [{ y: new Uint8Array(70000).fill(b), tag: 'v' + b }], z: [[new Uint8Array(3).fill(b)]] },
});
export default {
  name: 'audit-filler', version: '1.0.0', author: 'audit',
  init(ctx) { CTX = ctx; },
  async registerHooks(h) {
    await h.register('audit.fill', 100, (d) => { const [size, byte] = spec(d); return new Uint8Array(size).fill(byte); });
    await h.register('audit.set', 100, async (d) => {
      const [size, byte] = spec(d);
      await CTX.set(byte === 0x51 ? 'audit.v' : 'audit.w', new Uint8Array(size).fill(byte));
      return new Uint8Array([1]);
    });
    await h.register('audit.setn', 100, async (d) => {
      const [which, byte] = spec(d);
      await CTX.set(which === 1 ? 'audit.n' : 'audit.m', nested(byte));
      return new Uint8Array([1]);
    });
  },
};
`;

const spec = (size: number, byte: number): Uint8Array => {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, size, true);
  v.setUint32(4, byte, true);
  return b;
};

/** True when every byte of `b` is `byte` and it has `size` bytes. */
const intact = (b: Uint8Array, size: number, byte: number): boolean =>
  b.byteLength === size && b.every((x) => x === byte);

/** The binary fields of a nested value with their sizes, or why it does not have the stored shape. */
function nestedFields(v: unknown): Array<[Uint8Array, number]> | string {
  const o = v as { blob?: unknown; list?: unknown[]; deep?: { x?: Array<{ y?: unknown }>; z?: unknown[][] } };
  const out: Array<[unknown, number]> = [
    [o?.blob, 65536],
    ...NESTED.map((n, i) => [o?.list?.[i], n] as [unknown, number]),
    [o?.deep?.x?.[0]?.y, 70000],
    [o?.deep?.z?.[0]?.[0], 3],
  ];
  if (out.some(([b]) => !(b instanceof Uint8Array)))
    return `not the stored shape: ${JSON.stringify(v)?.slice(0, 80)}`;
  return out as Array<[Uint8Array, number]>;
}

/** Why a nested value is not all `byte`s in its binary fields (undefined: intact). */
function nestedDamage(v: unknown, byte: number): string | undefined {
  const f = nestedFields(v);
  if (typeof f === 'string') return f;
  for (const [b, size] of f) if (!intact(b, size, byte)) return `a ${size}-byte field changed`;
  return undefined;
}

/** The markers the whole ArrayBuffer behind `view` holds. */
const foreign = (view: Uint8Array, markers: readonly string[]): string[] =>
  markers.filter((m) => Buffer.from(view.buffer).toString('latin1').includes(m));

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  filler = await fx.js('filler.mjs', fillerSource, {
    name: 'audit-filler',
    kind: 'js',
    requirements: NO_GRANTS([], ['audit.v', 'audit.w', 'audit.n', 'audit.m']),
  });
  await fx.trust(probe);
  await fx.trust(filler);
  security = await fx.security();
});
afterAll(() => tmp.remove());

describe('audit: what the host received from a plugin stays the host’s after later frames', () => {
  it.each(['worker', 'process', 'sandbox'] as IsolationTier[])(
    '%s tier',
    async (tier) => {
      if (tier === 'sandbox' && !sandbox) {
        console.warn(`!!! SKIPPED the sandbox tier: ${reason}`);
        return;
      }
      const registry = new PluginRegistry({
        security,
        ...(sandbox ? { sandbox } : {}),
        defaultTier: tier,
        tierOverrides: { 'audit-probe': 'in-process' },
        log: () => {},
      });
      let pid: number | undefined;
      try {
        await registry.loadPlugin(probe, 'trusted');
        await registry.loadPlugin(filler, 'trusted');
        pid = registry.getPluginInfo('audit-filler')?.pid;
        // Sequential answers of every size, each a distinct byte, all held while the later ones arrive.
        const held: Array<[Uint8Array, number, number]> = [];
        let byte = 1;
        for (let round = 0; round < 3; round++) {
          for (const size of SIZES) {
            const b = byte++ & 0xff || byte++;
            held.push([await registry.hooks.execute('audit.fill', spec(size, b)), size, b]);
          }
        }
        // Concurrent answers: many frames in flight on one channel at once.
        const concurrent = await Promise.all(
          SIZES.flatMap((size, i) =>
            [0, 1].map(async (j) => {
              const b = 0x80 + i * 2 + j;
              return [await registry.hooks.execute('audit.fill', spec(size, b)), size, b] as [
                Uint8Array,
                number,
                number,
              ];
            }),
          ),
        );
        held.push(...concurrent);
        // Context values the plugin set — a top-level Uint8Array and a nested one — then more frames from it (other
        // keys of the same shapes, answers of the same sizes; sequential, then several in one read).
        await registry.hooks.execute('audit.set', spec(64 * 1024, 0x51));
        await registry.hooks.execute('audit.setn', spec(1, 0x41));
        const stored = registry.context.get('audit.v') as Uint8Array;
        const storedNested = registry.context.get('audit.n');
        for (let i = 0; i < 5; i++) {
          await registry.hooks.execute('audit.set', spec(64 * 1024, 0x57));
          await registry.hooks.execute('audit.setn', spec(2, 0x60 + i));
          await registry.hooks.execute('audit.fill', spec(64 * 1024, 0x5a));
        }
        await Promise.all(
          [0, 1, 2, 3].flatMap((i) => [
            registry.hooks.execute('audit.fill', spec(65_536 + 7, 0x70 + i)),
            registry.hooks.execute('audit.setn', spec(2, 0x78 + i)),
          ]),
        );
        for (const [b, size, x] of held)
          expect(intact(b, size, x), `a held ${size}-byte answer of 0x${x.toString(16)} changed`).toBe(true);
        expect(intact(stored, 64 * 1024, 0x51), 'the context value the host stored changed').toBe(true);
        expect(intact(registry.context.get('audit.v') as Uint8Array, 64 * 1024, 0x51)).toBe(true);
        expect(nestedDamage(storedNested, 0x41), 'the nested value the host held').toBeUndefined();
        expect(
          nestedDamage(registry.context.get('audit.n'), 0x41),
          'the nested value stored',
        ).toBeUndefined();
        if (tier !== 'worker') {
          // Small answers and nested fields, the host making small buffers of a secret meanwhile.
          const found = new Set<string>();
          const keep: Buffer[] = [];
          for (let i = 0; i < 20; i++) {
            keep.push(Buffer.from(`HOST-SECRET-${i}-${'s'.repeat(30)}`));
            const [q, z] = await Promise.all([
              registry.hooks.execute('audit.fill', spec(100, 0x51)),
              registry.hooks.execute('audit.fill', spec(100, 0x5a)),
              registry.hooks.execute('audit.setn', spec(1, 0x51)),
            ]);
            keep.push(Buffer.from(`HOST-SECRET-after-${i}-${'t'.repeat(30)}`));
            const small = nestedFields(registry.context.get('audit.n'));
            for (const m of foreign(q as Uint8Array, ['HOST-SECRET'])) found.add(`an answer: ${m}`);
            for (const m of foreign(z as Uint8Array, ['HOST-SECRET'])) found.add(`an answer: ${m}`);
            if (typeof small !== 'string')
              for (const m of foreign(small[1]?.[0] as Uint8Array, ['HOST-SECRET']))
                found.add(`a 16-byte context field: ${m}`);
          }
          expect(
            [...found],
            `the ArrayBuffer behind what the plugin sent also holds: ${[...found].join('; ')}`,
          ).toEqual([]);
        }
        expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
      } finally {
        await registry.close();
      }
      if (pid !== undefined)
        await until(() => !pidAlive(pid as number), 5000, 'the plugin process to be gone');
    },
    120_000,
  );
});
