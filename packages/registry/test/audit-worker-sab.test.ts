// Found by the audit session (failed on main 4453e1d and on the transport branch before the port refused
// SharedArrayBuffer views).
// A worker-tier plugin runs on the runtime's thread and can wrap MessagePort.prototype.postMessage: it re-posts every
// frame as a view of a SharedArrayBuffer it keeps, and the host passes those views on without a copy, so the bytes a
// caller got from registry.hooks.execute() change after the call returned (here: 70,000 'A' become 'X'). The same goes
// for anything else the host keeps from a frame without copying (context values, chained hook inputs). Fix: the port
// receiver refuses a Uint8Array whose buffer is not an ArrayBuffer (MalformedFrame → plugin Failed), or copies it.
// The attacker's side of the worker tier's MessagePort: plugin code runs on the same thread as the runtime, so it can
// reach the port (MessagePort.prototype.postMessage is its to wrap) and send the host anything the structured clone
// carries. A hook answer must be the host's own bytes once the call returned: a plugin that re-posts every frame on a
// SharedArrayBuffer and rewrites those buffers afterwards must not change what a caller already holds. Odd messages
// (a foreign port, a SharedArrayBuffer view, huge or wrongly typed values) end the plugin, never the host. Every test
// checks: the goal failed, a trusted in-process plugin still answers, the worker is gone after close.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir } from './helpers.js';

const tmp = tempDir('audit-worker-port');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const probe = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

// Every message the runtime posts on the port goes out as views of SharedArrayBuffers the plugin keeps; after a call
// it fills them with 'X'. A host that kept views into those buffers hands its caller bytes the plugin still writes.
const sabRewriter = `import { MessagePort } from 'node:worker_threads';
const kept = [];
const toShared = (v) => {
  if (!(v instanceof Uint8Array)) return v;
  const sab = new SharedArrayBuffer(v.byteLength);
  const out = new Uint8Array(sab);
  out.set(v);
  kept.push(out);
  return out;
};
const rewrap = (m) => {
  if (m instanceof Uint8Array) return toShared(m);
  if (Array.isArray(m)) return m.map(toShared);
  if (m && typeof m === 'object' && m.b instanceof Uint8Array) return { ...m, b: toShared(m.b) };
  return m;
};
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) { return post.call(this, rewrap(m)); };
export default {
  name: 'audit-sab', version: '1.0.0', author: 'audit',
  init() {},
  async registerHooks(h) {
    await h.register('audit.sab', 100, () => {
      setTimeout(() => { for (const v of kept) v.fill(0x58); }, 50);
      return new TextEncoder().encode('A'.repeat(70000));
    });
  },
};
`;

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', probe, { name: 'audit-probe', kind: 'js' });
  files.rewriter = await fx.js('sab.mjs', sabRewriter, { name: 'audit-sab', kind: 'js' });
  for (const f of Object.values(files)) await fx.trust(f);
  security = await fx.security();
});
afterAll(() => tmp.remove());

async function healthy(registry: PluginRegistry): Promise<void> {
  const out = dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')));
  expect(out).toBe('ok:x');
}

function newRegistry(): PluginRegistry {
  return new PluginRegistry({
    security,
    defaultTier: 'worker',
    tierOverrides: { 'audit-probe': 'in-process' },
    log: () => {},
  });
}

describe('audit: the worker tier port', () => {
  it('a hook answer does not change after the call returned, whatever buffers the plugin posted it on', async () => {
    const registry = newRegistry();
    try {
      await registry.loadPlugin(files.probe as string, 'trusted');
      await registry.loadPlugin(files.rewriter as string, 'trusted');
      const out = await registry.hooks.execute('audit.sab', enc.encode(''));
      const first = dec.decode(out.slice(0, 16));
      await new Promise((r) => setTimeout(r, 300));
      const later = dec.decode(out);
      // The goal: the caller's bytes rewritten after return. Either a refusal (the call fails, the plugin Failed) or a
      // copy of the bytes is fine.
      expect(later.includes('X'), `the answer changed after the call returned: ${later.slice(0, 40)}`).toBe(
        false,
      );
      expect(first).toBe('A'.repeat(16));
      await healthy(registry);
    } catch (e) {
      // A host that refuses SharedArrayBuffer messages fails the call and the plugin: contained.
      expect(registry.getAllPlugins().find((p) => p.name === 'audit-sab')?.status, (e as Error).message).toBe(
        'Failed',
      );
      await healthy(registry);
    } finally {
      await registry.close();
    }
    // After close nothing of it runs: a refused plugin stays listed as Failed (the registry keeps its record), a
    // served one ends Inactive — never Active.
    expect(['Failed', 'Inactive', undefined]).toContain(
      registry.getAllPlugins().find((p) => p.name === 'audit-sab')?.status,
    );
  });
});
