// Attacker (found by the audit helper, session 5) on the worker port's credit window.
// The worker port counts every bytes message against the window (+ MESSAGE_COST_BYTES each, "a flood of tiny messages
// is bounded too"), but a bare credit (a number) is not counted: it is only checked against the host's #inFlight.
// Each host call of S bytes lets the plugin post S + 256 credits of 1 — one cross-thread message each, processed one
// by one on the host's main thread. Here: a 1 MiB hook input, answered honestly, then the plugin posts one credit of 1
// for every byte the host has in flight (the runtime's own credits are withheld so the lie is never detected).
// Goal of the attacker: stall the host's event loop / grow its port queue far beyond one message per frame.
// Since the fix: credits count in the window (a bare credit costs MESSAGE_COST_BYTES like any message), so the
// flood ends with WindowExceeded after ≈ 4 k messages; the host's loop is never blocked long; the host keeps serving.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, tempDir, until } from './helpers.js';

const tmp = tempDir('audit-credit-flood');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

const probe = `export default {
  name: 'audit-probe', version: '1.0.0', author: 'audit',
  init() {},
  registerHooks(h) { h.register('audit.health', 100, (d) => new TextEncoder().encode('ok:' + new TextDecoder().decode(d))); },
};`;

// Withholds the runtime's credits (bare numbers, and numbers riding in chunk lists) and pays them back later as a
// stream of 1s, one message per byte.
const flooder = `import { MessagePort } from 'node:worker_threads';
let port;
let owed = 0;
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) {
  port = this;
  if (typeof m === 'number') { owed += m; return; }
  if (Array.isArray(m)) {
    const kept = m.filter((x) => typeof x !== 'number');
    for (const x of m) if (typeof x === 'number') owed += x;
    return post.call(this, kept.length === 1 ? kept[0] : kept, transfer);
  }
  return post.call(this, m, transfer);
};
export default {
  name: 'audit-credit', version: '1.0.0', author: 'audit',
  init() {},
  async registerHooks(h) {
    await h.register('audit.credit', 100, () => {
      setTimeout(() => { const n = owed; owed = 0; for (let i = 0; i < n; i++) post.call(port, 1); }, 20);
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

describe('audit: the worker port window counts credits too', () => {
  it('a stream of 1-byte credits is bounded like any other message flood', async () => {
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
      // One call with a 1 MiB input: the host has ≈ 1 MiB in flight, the plugin owes that much credit.
      await registry.hooks.execute('audit.credit', new Uint8Array(1024 * 1024));
      await new Promise((r) => setTimeout(r, 4000));
      const cpu = process.cpuUsage(cpu0);
      delay.disable();
      const maxBlockMs = delay.max / 1e6;
      const cpuMs = (cpu.user + cpu.system) / 1000;
      // Before the fix: ≈ 1 M credit messages, the host's event loop blocked ≈ 0.9–1.1 s and ≈ 1.3 s of host CPU for one call.
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
