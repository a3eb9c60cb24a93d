// Attacker (found by the audit helper, session 5) on the worker port's credit window.
// A message that is a list of chunks counts once (its bytes + MESSAGE_COST_BYTES) against the worker port's window,
// whatever the list's length: a list of 100 000 zero-length Uint8Arrays costs 256 bytes of window and 100 000
// deserialized objects + 100 000 `sink.data` calls on the host's main thread. Since the fix: each chunk costs
// MESSAGE_COST_BYTES (or empty chunks / lists longer than an honest writer sends are a protocol violation), so the
// flood ends with WindowExceeded; the host's loop is never blocked long; the host keeps serving.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-chunklist-flood');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const probe = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};`;

// Posts, on the runtime's port, messages that are lists of many zero-length chunks: each list counts as one message
// (MESSAGE_COST_BYTES) against the window, whatever its length, but the host deserializes every element.
const flooder = `import { MessagePort } from 'node:worker_threads';
let port;
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) { port = this; return post.call(this, m, transfer); };
export default {
  name: 'audit-credit', version: '1.0.0', author: 'audit',
  init() {},
  async registerHooks(h) {
    await h.register('audit.credit', 100, () => {
      let n = 0;
      const tick = () => {
        const list = [];
        for (let i = 0; i < 100000; i++) list.push(new Uint8Array(0));
        try { post.call(port, list); } catch { return; }
        if (++n < 40) setTimeout(tick, 0);
      };
      setTimeout(tick, 20);
      return new TextEncoder().encode('ok');
    });
  },
};`;

beforeAll(async () => {
  files.probe = await fx.js('probe.mjs', probe, { name: 'audit-probe', kind: 'js' });
  files.flood = await fx.js('flood.mjs', flooder, { name: 'audit-credit', kind: 'js' });
  for (const f of Object.values(files)) await fx.trust(f);
  security = await fx.security();
});
afterAll(() => tmp.remove());

describe('audit: the worker port window counts each chunk', () => {
  it('a flood of lists of empty chunks is bounded like any other message flood', async () => {
    const registry = new PluginRegistry({
      security,
      defaultTier: 'worker',
      tierOverrides: { 'audit-probe': 'in-process' },
      log: () => {},
    });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    try {
      await registry.loadPlugin(files.probe as string, 'trusted');
      await registry.loadPlugin(files.flood as string, 'trusted');
      delay.enable();
      const cpu0 = process.cpuUsage();
      await registry.hooks.execute('audit.credit', new Uint8Array(16));
      await new Promise((r) => setTimeout(r, 4000));
      const cpu = process.cpuUsage(cpu0);
      delay.disable();
      const maxBlockMs = delay.max / 1e6;
      const cpuMs = (cpu.user + cpu.system) / 1000;
      // Before the fix: the host CPU and longest event-loop block while 40 lists of 100 000 empty chunks arrive).
      expect(
        maxBlockMs,
        `host CPU ${cpuMs.toFixed(0)} ms, longest event-loop block ${maxBlockMs.toFixed(0)} ms, plugin ${registry.getPluginInfo('audit-credit')?.status}`,
      ).toBeLessThan(250);
      expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
    } finally {
      await registry.close();
    }
  }, 120_000);
});
