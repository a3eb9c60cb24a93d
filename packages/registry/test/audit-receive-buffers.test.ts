// The host's side of receive-buffer reuse: whatever the host got from a plugin out of process — a hook answer it handed
// its caller, a context value the plugin set (which the host stores), a log line — is the host's own from then on. A
// transport that decodes frames into a reused (pooled) receive buffer and hands out views of it would let the next
// frame from the same plugin rewrite them: an answer the caller already holds, or a context value another plugin or
// the host then reads. Checked at the worker, process and sandbox tiers, with answers of many sizes held across later
// calls (sequential and concurrent), and a stored context value held across later frames of the same plugin.
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

// 'audit.fill' answers <size> bytes of <byte>, both read from the 8-byte input; 'audit.set' stores <size> bytes of
// <byte> under the key named after the 8 bytes (audit.v or audit.w) and answers; every answer is a fresh buffer.
const fillerSource = `let CTX;
const spec = (d) => { const v = new DataView(d.buffer, d.byteOffset, d.byteLength); return [v.getUint32(0, true), v.getUint32(4, true)]; };
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

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  filler = await fx.js('filler.mjs', fillerSource, {
    name: 'audit-filler',
    kind: 'js',
    requirements: NO_GRANTS([], ['audit.v', 'audit.w']),
  });
  await fx.trust(probe);
  await fx.trust(filler);
  security = await fx.security();
});
afterAll(() => tmp.remove());

const SIZES = [1, 16, 1000, 4096, 16 * 1024, 64 * 1024, 65_536 + 7, 200_000, 1_000_000];

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
        // A context value the plugin set, then more frames from it (another key, answers of the same size).
        await registry.hooks.execute('audit.set', spec(64 * 1024, 0x51));
        const stored = registry.context.get('audit.v') as Uint8Array;
        for (let i = 0; i < 5; i++) {
          await registry.hooks.execute('audit.set', spec(64 * 1024, 0x57));
          await registry.hooks.execute('audit.fill', spec(64 * 1024, 0x5a));
        }
        for (const [b, size, x] of held)
          expect(intact(b, size, x), `a held ${size}-byte answer of 0x${x.toString(16)} changed`).toBe(true);
        expect(intact(stored, 64 * 1024, 0x51), 'the context value the host stored changed').toBe(true);
        expect(intact(registry.context.get('audit.v') as Uint8Array, 64 * 1024, 0x51)).toBe(true);
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
