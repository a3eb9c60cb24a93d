// The host's side of receive-buffer reuse, for structured values: a context value a plugin sets out of process is
// decoded from MessagePack, whose binary fields decode as views of the frame they came in (msgpackr's default). If the
// frame's bytes were a reused (pooled) receive buffer, a `Uint8Array` nested in an object or an array — not only a
// top-level one — would be rewritten by the plugin's next frames after the host stored (and charged, and validated) the
// value. Checked at the worker, process and sandbox tiers: nested binary fields of many sizes, held across later frames
// of the same plugin (answers and other context values of the same sizes and shapes, filled with other bytes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type IsolationTier, PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, NO_GRANTS, pidAlive, sandboxOrReason, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-rxnested');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: Awaited<ReturnType<typeof sandboxOrReason>>['sandbox'];
let reason: string | undefined;
let probe = '';
let setter = '';

const probeSource = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

const SIZES = [1, 16, 1000, 4096, 16 * 1024, 64 * 1024, 65_536 + 7, 200_000];

// 'audit.setn' stores, under the key named by input[0] ('n' or 'm'), a value whose every binary field is filled with
// input[1]; 'audit.fill' answers 64 KiB + 7 of input[1]. Every buffer is fresh.
const setterSource = `let CTX;
const SIZES = ${JSON.stringify(SIZES)};
const shape = (b) => ({
  blob: new Uint8Array(65536).fill(b),
  list: SIZES.map((n) => new Uint8Array(n).fill(b)),
  deep: { x: [{ y: new Uint8Array(70000).fill(b), tag: 'v' + b }], z: [[new Uint8Array(3).fill(b)]] },
});
export default {
  name: 'audit-setter', version: '1.0.0', author: 'audit',
  init(ctx) { CTX = ctx; },
  async registerHooks(h) {
    await h.register('audit.setn', 100, async (d) => {
      await CTX.set(d[0] === 0x6e ? 'audit.n' : 'audit.m', shape(d[1]));
      return new Uint8Array([1]);
    });
    await h.register('audit.fill', 100, (d) => new Uint8Array(65536 + 7).fill(d[1]));
  },
};
`;

/** The binary fields of a stored value, each with its expected size, or a reason it has the wrong shape. */
function fields(v: unknown): Array<[Uint8Array, number]> | string {
  const o = v as {
    blob?: unknown;
    list?: unknown[];
    deep?: { x?: Array<{ y?: unknown }>; z?: unknown[][] };
  };
  const out: Array<[unknown, number]> = [
    [o?.blob, 65536],
    ...SIZES.map((n, i) => [o?.list?.[i], n] as [unknown, number]),
    [o?.deep?.x?.[0]?.y, 70000],
    [o?.deep?.z?.[0]?.[0], 3],
  ];
  for (const [b] of out)
    if (!(b instanceof Uint8Array)) return `not the stored shape: ${JSON.stringify(v)?.slice(0, 80)}`;
  return out as Array<[Uint8Array, number]>;
}

/** Why the value stored under `key` is not all `byte`s in its binary fields (undefined: intact). */
function damaged(registry: PluginRegistry, key: string, byte: number, held?: unknown): string | undefined {
  const f = fields(held ?? registry.context.get(key));
  if (typeof f === 'string') return f;
  for (const [b, size] of f) {
    if (b.byteLength !== size) return `a ${size}-byte field of ${key} now has ${b.byteLength} bytes`;
    const at = b.findIndex((x) => x !== byte);
    if (at >= 0)
      return `a ${size}-byte field of ${key} changed at byte ${at}: 0x${b[at]?.toString(16)} (was 0x${byte.toString(16)})`;
  }
  return undefined;
}

beforeAll(async () => {
  ({ sandbox, reason } = await sandboxOrReason());
  probe = await fx.js('probe.mjs', probeSource, { name: 'audit-probe', kind: 'js' });
  setter = await fx.js('setter.mjs', setterSource, {
    name: 'audit-setter',
    kind: 'js',
    requirements: NO_GRANTS([], ['audit.n', 'audit.m']),
  });
  await fx.trust(probe);
  await fx.trust(setter);
  security = await fx.security();
});
afterAll(() => tmp.remove());

describe('audit: binary fields nested in a context value a plugin set stay the host’s after later frames', () => {
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
        await registry.loadPlugin(setter, 'trusted');
        pid = registry.getPluginInfo('audit-setter')?.pid;
        await registry.hooks.execute('audit.setn', new Uint8Array([0x6e, 0x41]));
        const held = registry.context.get('audit.n');
        // Later frames of the same plugin: other values of the same shape, answers of the same sizes — sequential,
        // then concurrent (several frames in one read).
        for (let i = 0; i < 4; i++) {
          await registry.hooks.execute('audit.setn', new Uint8Array([0x6d, 0x50 + i]));
          await registry.hooks.execute('audit.fill', new Uint8Array([0, 0x60 + i]));
        }
        await Promise.all(
          [0, 1, 2, 3].flatMap((i) => [
            registry.hooks.execute('audit.fill', new Uint8Array([0, 0x70 + i])),
            registry.hooks.execute('audit.setn', new Uint8Array([0x6d, 0x78 + i])),
          ]),
        );
        expect(damaged(registry, 'audit.n', 0x41, held), 'the value the host held').toBeUndefined();
        expect(damaged(registry, 'audit.n', 0x41), 'the value the context stores').toBeUndefined();
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
