// What the host got from a plugin out of process is memory of its own: the `ArrayBuffer` behind a hook answer (and
// behind a binary field of a context value the plugin set) holds that frame's bytes, never another plugin's answers
// or the host's own data. A decoder that copies small frames into Node's shared allocation pool
// (`Buffer.allocUnsafe` under 4 KiB) hands out views of an 8 KiB slab that also holds whatever else the process put
// there: another plugin's answer, a string the host turned into bytes. Anyone the host hands `answer.buffer` to (a
// `postMessage`, a socket write of the buffer, an in-process plugin in the same chain) then reads them.
// Process and sandbox tiers: two plugins answering at once, the host making small buffers of a secret meanwhile.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { Fixtures, NO_GRANTS, sandboxOrReason, tempDir } from './helpers.js';

const tmp = tempDir('audit-answer-memory');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
const files: Record<string, string> = {};

// `<name>.x` answers 100 bytes of its letter; `<name>.set` stores { b: 100 bytes of its letter } under `<name>.v`.
const plugin = (name: string, letter: string) => `let CTX;
export default {
  name: '${name}', version: '1.0.0', author: 'audit',
  init(ctx) { CTX = ctx; },
  async registerHooks(h) {
    await h.register('${name}.x', 100, () => new TextEncoder().encode('${letter}'.repeat(100)));
    await h.register('${name}.set', 100, async () => {
      await CTX.set('${name}.v', { b: new TextEncoder().encode('${letter}'.repeat(100)) });
      return new Uint8Array([1]);
    });
  },
};`;

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  for (const [name, letter] of [
    ['audit-ma', 'Q'],
    ['audit-mb', 'Z'],
  ] as const) {
    files[name] = await fx.js(`${name}.mjs`, plugin(name, letter), {
      name,
      kind: 'js',
      requirements: NO_GRANTS([], [`${name}.v`]),
    });
    await fx.trust(files[name] as string);
  }
  security = await fx.security();
});
afterAll(() => tmp.remove());

/** What of `marker`s the whole ArrayBuffer behind `view` holds. */
function foreign(view: Uint8Array, markers: string[]): string[] {
  const all = Buffer.from(view.buffer).toString('latin1');
  return markers.filter((m) => all.includes(m));
}

describe('audit: a plugin’s answer and context bytes share no memory with other data', () => {
  it.each(['process', 'sandbox'] as IsolationTier[])(
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
        log: () => {},
      });
      const found = new Set<string>();
      const keep: Buffer[] = [];
      try {
        await registry.loadPlugin(files['audit-ma'] as string, 'trusted');
        await registry.loadPlugin(files['audit-mb'] as string, 'trusted');
        for (let i = 0; i < 20; i++) {
          keep.push(Buffer.from(`HOST-SECRET-${i}-${'s'.repeat(30)}`));
          const [a, b] = await Promise.all([
            registry.hooks.execute('audit-ma.x', new Uint8Array()),
            registry.hooks.execute('audit-mb.x', new Uint8Array()),
            registry.hooks.execute('audit-ma.set', new Uint8Array()),
            registry.hooks.execute('audit-mb.set', new Uint8Array()),
          ]);
          keep.push(Buffer.from(`HOST-SECRET-after-${i}-${'t'.repeat(30)}`));
          const va = (registry.context.get('audit-ma.v') as { b: Uint8Array }).b;
          for (const m of foreign(a as Uint8Array, ['ZZZZZZZZ', 'HOST-SECRET']))
            found.add(`audit-ma's answer: ${m}`);
          for (const m of foreign(b as Uint8Array, ['QQQQQQQQ', 'HOST-SECRET']))
            found.add(`audit-mb's answer: ${m}`);
          for (const m of foreign(va, ['ZZZZZZZZ', 'HOST-SECRET']))
            found.add(`audit-ma's context bytes: ${m}`);
        }
      } finally {
        await registry.close();
      }
      expect(
        [...found],
        `the ArrayBuffer behind what a plugin sent also holds: ${[...found].join('; ')}`,
      ).toEqual([]);
    },
    120_000,
  );
});
