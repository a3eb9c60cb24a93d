// A worker plugin that posts on its port itself, ignoring the credit window (issue 17): the port's queue is the
// host's memory, so what the host receives between two credits it gave is bounded by what an honest writer may have
// in flight; past it the plugin ends with a protocol violation (`WindowExceeded`) and the host keeps serving. The
// flood is valid bytes (cancel frames of unknown ids, which a channel ignores): only the amount breaks the protocol.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity, type RegistryEvents } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir, until } from './helpers.js';

const tmp = tempDir('worker-port-window');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const probe = `export default {
  name: 'window-probe', version: '1.0.0', author: 'test',
  init() {},
  registerHooks(h) { h.register('window.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};
`;

// Learns the runtime's port from its first post, then posts 40 MiB of cancel frames at once, without waiting.
const flooder = `import { MessagePort } from 'node:worker_threads';
let port;
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) {
  port = this;
  return post.call(this, m, transfer);
};
export default {
  name: 'window-flood', version: '1.0.0', author: 'test',
  init() {},
  async registerHooks(h) {
    await h.register('window.flood', 100, () => {
      setTimeout(() => {
        for (let i = 0; i < 640; i++) {
          const chunk = new Uint8Array(64 * 1024 - 6);
          const view = new DataView(chunk.buffer);
          for (let at = 0; at + 10 <= chunk.length; at += 10) {
            view.setUint32(at, 6, true);
            chunk[at + 4] = 3;
          }
          try { post.call(port, chunk, [chunk.buffer]); } catch { return; }
        }
      }, 0);
      return new TextEncoder().encode('flooding');
    });
  },
};
`;

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', probe, { name: 'window-probe', kind: 'js' });
  files.flood = await fx.js('flood.mjs', flooder, { name: 'window-flood', kind: 'js' });
  for (const f of Object.values(files)) await fx.trust(f);
  security = await fx.security();
});
afterAll(() => tmp.remove());

describe('the worker port credit window', () => {
  it('a plugin posting past its window ends with WindowExceeded; the host keeps serving', async () => {
    const registry = new PluginRegistry({
      security,
      defaultTier: 'worker',
      tierOverrides: { 'window-probe': 'in-process' },
      log: () => {},
    });
    const crashed: RegistryEvents['crashed'][] = [];
    registry.on('crashed', (c) => crashed.push(c));
    try {
      await registry.loadPlugin(files.probe as string, 'trusted');
      await registry.loadPlugin(files.flood as string, 'trusted');
      expect(dec.decode(await registry.hooks.execute('window.flood', enc.encode('')))).toBe('flooding');
      await until(() => registry.getPluginInfo('window-flood')?.status === 'Failed', 10_000, 'Failed');
      // The frames are cancels of an id the host never sent, which the host's channel refuses at the first one
      // (UnknownRequestId) when it decodes them before the window runs out; past the window unread, WindowExceeded
      // (ipc's transport tests hold the window itself). Either way a protocol violation that ends the plugin.
      expect(registry.getPluginInfo('window-flood')?.error).toMatch(
        /ProtocolViolation.*(WindowExceeded|UnknownRequestId)/,
      );
      expect(crashed[0]?.name).toBe('window-flood');
      expect(['WindowExceeded', 'UnknownRequestId']).toContain(crashed[0]?.protocolViolation);
      expect(registry.hooks.getHooks('window.flood')).toHaveLength(0);
      expect(dec.decode(await registry.hooks.execute('window.health', enc.encode('x')))).toBe('ok:x');
    } finally {
      await registry.close();
    }
  }, 30_000);
});
