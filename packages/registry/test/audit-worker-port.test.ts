// The attacker's side of the worker tier's MessagePort: plugin code runs on the same thread as the runtime, so it can
// reach the port (MessagePort.prototype.postMessage is its to wrap) and send the host anything the structured clone
// carries. Odd messages (a foreign port, a SharedArrayBuffer view, huge or wrongly typed values) and well-formed
// messages carrying a bad frame (a 2 GiB length prefix, an unknown frame type) end the plugin, never the host: it is
// Failed and a trusted in-process plugin still answers. A hook answer is the host's own bytes once the call returned:
// a plugin that re-posts every frame on SharedArrayBuffers it keeps and rewrites them afterwards (found by the audit
// session: 70,000 'A' became 'X' in the caller's hands before the port refused such views) changes nothing.
//
// Found by the audit helper, session 5, on the worker port's credit window — bare credits:
// The worker port counts every bytes message against the window (+ MESSAGE_COST_BYTES each, "a flood of tiny messages
// is bounded too"), but a bare credit (a number) was not counted: it was only checked against the host's #inFlight.
// Each host call of S bytes let the plugin post S + 256 credits of 1 — one cross-thread message each, processed one
// by one on the host's main thread. Here: a 1 MiB hook input, answered honestly, then the plugin posts one credit of 1
// for every byte the host has in flight (the runtime's own credits are withheld so the lie is never detected).
// Goal of the attacker: stall the host's event loop / grow its port queue far beyond one message per frame.
// Since the fix: credits count in the window (a bare credit costs MESSAGE_COST_BYTES like any message), so the
// flood ends with WindowExceeded after ≈ 4 k messages; the host's loop is never blocked long; the host keeps serving.
//
// …and lists of chunks:
// A message that is a list of chunks counted once (its bytes + MESSAGE_COST_BYTES) against the worker port's window,
// whatever the list's length: a list of 100 000 zero-length Uint8Arrays costs 256 bytes of window and 100 000
// deserialized objects + 100 000 `sink.data` calls on the host's main thread. Since the fix: each chunk costs
// MESSAGE_COST_BYTES (or empty chunks / lists longer than an honest writer sends are a protocol violation), so the
// flood ends with WindowExceeded; the host's loop is never blocked long; the host keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PluginRegistry, type PluginSecurity } from '../dist/index.js';
import { dec, enc, Fixtures, HEALTH_PROBE, tempDir, until, watchLoopTurns } from './helpers.js';

const tmp = tempDir('audit-worker-port');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
const files: Record<string, string> = {};

// Posts odd messages on the runtime's port after init: a foreign MessagePort, a Float64Array, a huge number, a string.
const oddPoster = (kind: string) => `import { MessagePort, MessageChannel } from 'node:worker_threads';
let port;
let wrapped = false;
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) {
  port = this;
  // Bytes of the frame stream go as the runtime sends them: bare, or wrapped as { t: 'd', b }.
  if (m && typeof m === 'object' && !ArrayBuffer.isView(m) && !Array.isArray(m) && m.b instanceof Uint8Array) wrapped = true;
  return post.call(this, m, transfer);
};
const bytes = (a) => { const b = new Uint8Array(a); return wrapped ? { t: 'd', b } : b; };
export default {
  name: 'audit-odd-${kind}', version: '1.0.0', author: 'audit',
  init() {
    setTimeout(() => {
      try {
        const { port1 } = new MessageChannel();
        const odd = {
          port: [{ t: 'd', b: new Uint8Array(8), p: port1 }, [port1]],
          float: [new Float64Array(4)],
          huge: [2 ** 53 + 10],
          negative: [-1],
          text: ['plugward'],
          sab: [new Uint8Array(new SharedArrayBuffer(16))],
          // Well-formed messages carrying a bad frame: a 2 GiB length prefix; a frame of unknown type.
          oversize: [bytes([0xf0, 0xff, 0xff, 0x7f, 1, 2, 3, 4])],
          garbage: [bytes([16, 0, 0, 0, 0xee, 0xee, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])],
        }[${JSON.stringify(kind)}];
        post.call(port, ...odd);
      } catch {}
    }, 200);
  },
  registerHooks(h) { h.register('audit.odd.${kind}', 100, () => new TextEncoder().encode('still here')); },
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

const ODD = ['port', 'float', 'huge', 'negative', 'text', 'sab', 'oversize', 'garbage'] as const;

// Withholds the runtime's credits (bare numbers, and numbers riding in chunk lists) and pays them back later as a
// stream of 1s, one message per byte.
const creditFlooder = `import { MessagePort } from 'node:worker_threads';
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

// Posts, on the runtime's port, messages that are lists of many zero-length chunks: each list counts as one message
// (MESSAGE_COST_BYTES) against the window, whatever its length, but the host deserializes every element.
const chunkListFlooder = `import { MessagePort } from 'node:worker_threads';
let port;
const post = MessagePort.prototype.postMessage;
MessagePort.prototype.postMessage = function (m, transfer) { port = this; return post.call(this, m, transfer); };
export default {
  name: 'audit-chunks', version: '1.0.0', author: 'audit',
  init() {},
  async registerHooks(h) {
    await h.register('audit.chunks', 100, () => {
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
  files.probe = await fx.js('probe.mjs', HEALTH_PROBE, { name: 'audit-probe', kind: 'js' });
  for (const k of ODD)
    files[`odd-${k}`] = await fx.js(`odd-${k}.mjs`, oddPoster(k), { name: `audit-odd-${k}`, kind: 'js' });
  files.rewriter = await fx.js('sab.mjs', sabRewriter, { name: 'audit-sab', kind: 'js' });
  files.creditFlood = await fx.js('credit.mjs', creditFlooder, { name: 'audit-credit', kind: 'js' });
  files.chunkList = await fx.js('chunks.mjs', chunkListFlooder, { name: 'audit-chunks', kind: 'js' });
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
  it.each(ODD)('an odd message (%s) on the port ends the plugin, never the host', async (kind) => {
    const registry = newRegistry();
    try {
      await registry.loadPlugin(files.probe as string, 'trusted');
      await registry.loadPlugin(files[`odd-${kind}`] as string, 'trusted');
      await until(
        () => registry.getPluginInfo(`audit-odd-${kind}`)?.status === 'Failed',
        5000,
        `${kind}: Failed`,
      );
      await healthy(registry);
    } finally {
      await registry.close();
    }
  });

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

/**
 * Loads `file` (plugin `plugin`) at the worker tier beside the trusted in-process probe, calls `hook` once with `input`
 * (the flood starts from that call) and watches the host for 4 s: its longest event-loop block must stay short, and the
 * probe must still answer.
 */
async function floodStaysBounded(
  file: string,
  plugin: string,
  hook: string,
  input: Uint8Array,
): Promise<void> {
  const registry = new PluginRegistry({
    security,
    defaultTier: 'worker',
    tierOverrides: { 'audit-probe': 'in-process' },
    log: () => {},
  });
  try {
    await registry.loadPlugin(files.probe as string, 'trusted');
    await registry.loadPlugin(file, 'trusted');
    const turns = watchLoopTurns();
    const cpu0 = process.cpuUsage();
    await registry.hooks.execute(hook, input);
    await new Promise((r) => setTimeout(r, 4000));
    const cpu = process.cpuUsage(cpu0);
    const { longestWallMs, longestBusyMs } = turns.stop();
    const cpuMs = (cpu.user + cpu.system) / 1000;
    // The bound is on the CPU the host's thread spent in one turn of its loop: on a machine loaded by other tests the
    // same turn can take far longer in wall time while the host only waited for a core.
    expect(
      longestBusyMs,
      `host CPU ${cpuMs.toFixed(0)} ms, longest event-loop turn ${longestWallMs.toFixed(0)} ms (${longestBusyMs.toFixed(0)} ms of it busy), plugin ${registry.getPluginInfo(plugin)?.status}`,
    ).toBeLessThan(250);
    expect(dec.decode(await registry.hooks.execute('audit.health', enc.encode('x')))).toBe('ok:x');
  } finally {
    await registry.close();
  }
}

describe('the loop-turn watch the flood tests use', () => {
  it('sees a turn the host spends busy, whatever the load', async () => {
    const turns = watchLoopTurns();
    await new Promise((r) => setTimeout(r, 20));
    const start = process.cpuUsage();
    for (;;) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= 400_000) break; // 400 ms of this process's CPU, in one turn
    }
    await new Promise((r) => setTimeout(r, 20));
    const { longestWallMs, longestBusyMs } = turns.stop();
    expect(longestBusyMs).toBeGreaterThanOrEqual(300);
    expect(longestWallMs).toBeGreaterThanOrEqual(longestBusyMs - 10);
  });
});

describe('audit: the worker port window counts credits too', () => {
  it('a stream of 1-byte credits is bounded like any other message flood', async () => {
    // One call with a 1 MiB input: the host has ≈ 1 MiB in flight, the plugin owes that much credit. Before the fix:
    // ≈ 1 M credit messages, the host's event loop blocked ≈ 0.9–1.1 s and ≈ 1.3 s of host CPU for one call.
    await floodStaysBounded(
      files.creditFlood as string,
      'audit-credit',
      'audit.credit',
      new Uint8Array(1024 * 1024),
    );
  }, 120_000);
});

describe('audit: the worker port window counts each chunk', () => {
  it('a flood of lists of empty chunks is bounded like any other message flood', async () => {
    // Before the fix: 40 lists of 100 000 empty chunks blocked the host's event loop for seconds.
    await floodStaysBounded(files.chunkList as string, 'audit-chunks', 'audit.chunks', new Uint8Array(16));
  }, 120_000);
});
