// What the host holds after an out-of-process call never changes under it (issue 17: receive buffers may be pooled,
// frames moved or decoded without a copy, and msgpackr hands out binary values as views of what it decodes): a 64 KiB
// hook answer, a 64 KiB echo of the caller's input and a 64 KiB binary context value the plugin set stay byte for
// byte what they were while more large calls and writes follow. At the worker, process and sandbox tiers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { enc, Fixtures, NO_GRANTS, sandboxOrReason, tempDir } from './helpers.js';

const tmp = tempDir('answer-aliasing');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let plugin = '';
const { sandbox, reason } = await sandboxOrReason();
const SIZE = 64 * 1024;

// Every answer is a 64 KiB buffer the plugin then keeps writing: the next call's fill byte, and every byte it still
// holds of earlier answers, a millisecond later.
const source = `let CTX;
let n = 0;
const kept = [];
setInterval(() => { for (const k of kept) k.fill(0xee); }, 1).unref?.();
export default {
  name: 'alias-plugin', version: '1.0.0', author: 'test',
  requirements: () => ({ network: { mode: 'isolated' }, filesystem: { mode: 'none' }, context: { read: [], write: ['alias.bin'] } }),
  init(ctx) { CTX = ctx; },
  async registerHooks(h) {
    await h.register('alias.answer', 100, () => {
      const out = new Uint8Array(${SIZE}).fill(++n & 0xff);
      kept.push(out);
      return out;
    });
    await h.register('alias.echo', 100, (d) => { kept.push(d); return d; });
    await h.register('alias.ctx', 100, async (d) => {
      const value = new Uint8Array(${SIZE}).fill(d[0]);
      await CTX.set('alias.bin', value);
      kept.push(value);
      return new Uint8Array(0);
    });
  },
};
`;

beforeAll(async () => {
  plugin = await fx.js('alias.mjs', source, {
    name: 'alias-plugin',
    kind: 'js',
    requirements: NO_GRANTS([], ['alias.bin']),
  });
  await fx.trust(plugin);
  security = await fx.security();
});
afterAll(() => tmp.remove());

/** Every byte of `bytes` is `fill` (the first that isn't, else -1). */
function firstOther(bytes: Uint8Array, fill: number): number {
  return bytes.findIndex((b) => b !== fill);
}

describe('what the host holds after a call stays what it was', () => {
  for (const tier of ['worker', 'process', 'sandbox'] as IsolationTier[]) {
    it(`${tier} tier: a 64 KiB answer, an echo of the input and a binary context value`, async (t) => {
      if (tier === 'sandbox' && sandbox === undefined) {
        t.skip(`no sandbox here: ${reason}`);
        return;
      }
      const registry = new PluginRegistry({ security, sandbox, defaultTier: tier, log: () => {} });
      try {
        await registry.loadPlugin(plugin, 'trusted');
        const answer = await registry.hooks.execute('alias.answer', enc.encode(''));
        const input = new Uint8Array(SIZE).fill(0x31);
        const echoed = await registry.hooks.execute('alias.echo', input);
        await registry.hooks.execute('alias.ctx', Uint8Array.of(0x51));
        const stored = registry.context.get('alias.bin') as Uint8Array;
        expect(stored.byteLength).toBe(SIZE);
        // More large frames both ways, through the same channel, while the plugin rewrites what it kept.
        for (let i = 0; i < 40; i++) {
          await registry.hooks.execute('alias.answer', enc.encode(''));
          await registry.hooks.execute('alias.echo', new Uint8Array(SIZE).fill(0x60 + (i % 16)));
          if (i % 8 === 0) await registry.hooks.execute('alias.ctx', Uint8Array.of(0x70 + i));
        }
        await new Promise((r) => setTimeout(r, 20));
        expect(answer.byteLength).toBe(SIZE);
        expect(firstOther(answer, 1), 'the first answer changed').toBe(-1);
        expect(echoed.byteLength).toBe(SIZE);
        expect(firstOther(echoed, 0x31), 'the echoed input changed').toBe(-1);
        expect(firstOther(input, 0x31), "the caller's input changed").toBe(-1);
        expect(stored.byteLength).toBe(SIZE);
        expect(firstOther(stored, 0x51), 'the first context value changed').toBe(-1);
      } finally {
        await registry.close();
      }
    }, 60_000);
  }
});
