// The host's side of zero-copy transports: what the host sends a plugin out of process (a hook's input, a context value
// pushed to the plugin's copy) and what it got back (a hook's answer) stay the host's. A transport that moves
// (transfers) a buffer the host still references would detach it: the caller's input or the host's stored context
// value (sent in answer to the plugin's context get) would read as empty afterwards — and on the plugin's side, an
// answer it keeps and returns again (a cached buffer). Checked at the worker and process tiers; a trusted in-process plugin answers
// throughout.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, tempDir } from './helpers.js';

const tmp = tempDir('audit-detach');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let probe = '';
let echo = '';

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

const echoSource = `let CTX;
const CACHED = new Uint8Array(100000).fill(0x44);
export default {
  name: 'audit-echo', version: '1.0.0', author: 'audit',
  requirements: () => ({ network: { mode: 'isolated' }, filesystem: { mode: 'none' }, context: { read: ['audit.big'], write: [] } }),
  init(ctx) { CTX = ctx; },
  async registerHooks(h) {
    await h.register('audit.echo', 100, (d) => d);
    // The same buffer every call (a cached answer): the plugin still holds it after answering.
    await h.register('audit.cached', 100, () => CACHED);
    await h.register('audit.ctx', 100, async () => {
      const v = await CTX.get('audit.big');
      return new TextEncoder().encode(String(v?.byteLength ?? v?.length ?? 'none'));
    });
  },
};
`;

beforeAll(async () => {
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  echo = await fx.js('echo.mjs', echoSource, {
    name: 'audit-echo',
    kind: 'js',
    requirements: NO_GRANTS(['audit.big']),
  });
  await fx.trust(probe);
  await fx.trust(echo);
  security = await fx.security();
});
afterAll(() => tmp.remove());

describe('audit: buffers the host keeps are never moved to a plugin', () => {
  it.each(['worker', 'process'] as IsolationTier[])('%s tier', async (tier) => {
    const registry = new PluginRegistry({
      security,
      defaultTier: tier,
      tierOverrides: { 'audit-probe': 'in-process' },
      log: () => {},
    });
    try {
      await registry.loadPlugin(probe, 'trusted');
      await registry.loadPlugin(echo, 'trusted');
      // A hook input that is its whole ArrayBuffer (what a transport could move without a copy).
      for (const size of [16, 64 * 1024, 200_000]) {
        const input = new Uint8Array(size).fill(0x41);
        const out = await registry.hooks.execute('audit.echo', input);
        expect(input.byteLength, `the caller's ${size}-byte input after the call`).toBe(size);
        expect(input[size - 1]).toBe(0x41);
        expect(out.byteLength).toBe(size);
        const again = await registry.hooks.execute('audit.echo', new Uint8Array(size).fill(0x42));
        expect(again[0]).toBe(0x42);
        // The first answer is still what it was after a second call.
        expect(out.byteLength).toBe(size);
        expect(out[size - 1]).toBe(0x41);
      }
      // The plugin's side: an answer it keeps and returns again is not moved away from it either.
      for (let i = 0; i < 3; i++) {
        const cached = await registry.hooks.execute('audit.cached', enc.encode(''));
        expect(cached.byteLength, `cached answer, call ${i + 1}`).toBe(100_000);
        expect(cached[99_999]).toBe(0x44);
      }
      // A context value the host stores and pushes to the plugin's copy.
      const big = new Uint8Array(300_000).fill(0x43);
      registry.context.set('audit.big', big);
      let seen = '';
      for (let i = 0; i < 100 && seen !== '300000'; i++) {
        try {
          seen = dec.decode(await registry.hooks.execute('audit.ctx', enc.encode('')));
        } catch (e) {
          seen = `ERR:${(e as Error).message}`;
        }
        if (seen !== '300000') await new Promise((r) => setTimeout(r, 50));
      }
      expect(seen, "the plugin's copy of audit.big").toBe('300000');
      expect(big.byteLength, "the host's buffer after the push").toBe(300_000);
      const stored = registry.context.get('audit.big') as Uint8Array;
      expect(stored.byteLength, "the host's stored context value after the push").toBe(300_000);
      expect(stored[299_999]).toBe(0x43);
      expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    } finally {
      await registry.close();
    }
  });
});
