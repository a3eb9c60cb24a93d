// Bounded and charged, from the attacker's side: plugins that fill the context, flood the log, break the IPC protocol
// and spin in init. Each test asserts the goal failed (coded error / violation), the host still serves (a trusted
// in-process plugin answers, the host's own context.set works) and nothing is left behind (process, entries).
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_RESOURCE_LIMITS,
  type IsolationTier,
  isPluginError,
  type LinuxSandbox,
  type PluginError,
  PluginRegistry,
  type PluginRegistryOptions,
  type PluginSecurity,
  type RegistryEvents,
} from '../dist/index.js';
import {
  dec,
  enc,
  FAST_UNMOUNT,
  Fixtures,
  NO_GRANTS,
  pidAlive,
  sandboxOrReason,
  tempDir,
  until,
} from './helpers.js';

const bystander = `
const enc = new TextEncoder();
const dec = new TextDecoder();
export default {
  name: 'bystander', version: '1.0.0', author: 'registry tests',
  init() {},
  registerHooks(h) { h.register('echo', 100, (d) => enc.encode(dec.decode(d) + '+bystander')); },
};
`;

/** A plugin with an 'attack' hook running `body` (async, may await ctx / runtime). */
const attacker = (name: string, body: string, init = '') => `
const enc = new TextEncoder();
let ctx, rt;
export default {
  name: '${name}', version: '1.0.0', author: 'registry tests',
  async init(c, r) { ctx = c; rt = r; ${init} },
  async registerHooks(h) {
    await h.register('attack', 100, async (input) => { ${body} });
  },
};
`;

const fillContext = attacker(
  'ctx-filler',
  `let i = 0;
   try { for (; i < 20000; i++) await ctx.set('fill.' + i, 'x'.repeat(100)); return enc.encode('filled ' + i); }
   catch (e) { return enc.encode((e.code ?? 'none') + ' after ' + i); }`,
);

// A trusted plugin is held to its log budget, whatever it sends (an untrusted one that keeps on past 5000 dropped
// lines is ended: audit-log-flood.test.ts, ipc's serve.test.ts).
const floodLog = attacker(
  'log-flood',
  `for (let i = 0; i < 20000; i++) rt.log('info', 'spam line ' + i + ' ' + 'z'.repeat(100));
   return enc.encode('sent');`,
);

/** Writes `bytesExpr` on the plugin's end of the channel: fd 3 in a process, the MessagePort in a worker. */
const writeRaw = (name: string, bytesExpr: string) =>
  attacker(
    name,
    `const bytes = ${bytesExpr};
     const wt = await import('node:worker_threads');
     if (!wt.isMainThread) { wt.workerData.port.postMessage(bytes); }
     else { (await import('node:fs')).writeSync(3, bytes); }
     await new Promise((r) => setTimeout(r, 60000));
     return enc.encode('survived');`,
  );

const floodFetch = attacker(
  'fetch-flood',
  `const url = new TextDecoder().decode(input);
   const all = await Promise.allSettled(Array.from({ length: 48 }, () => rt.fetch({ url, method: 'GET', headers: {} })));
   const codes = {};
   for (const r of all) { const k = r.status === 'fulfilled' ? 'ok' : (r.reason?.code ?? 'other'); codes[k] = (codes[k] ?? 0) + 1; }
   return enc.encode(JSON.stringify(codes));`,
);

const spinInit = attacker('init-spinner', 'return enc.encode("never");', 'for (;;) {}');

// Init hangs past its budget, then registers late and writes the context late (in process).
const lateInit = `
let ctx;
export default {
  name: 'late-init', version: '1.0.0', author: 'registry tests',
  async init(c) { ctx = c; await new Promise((r) => setTimeout(r, 800)); },
  registerHooks(h) {
    try { h.register('echo', 1, (d) => new TextEncoder().encode('hijacked')); } catch {}
    ctx.set('late.key', 1);
  },
};
`;

const tmp = tempDir('quotas');
const fx = new Fixtures(tmp.dir);
let security: PluginSecurity;
let sandbox: LinuxSandbox | undefined;
const paths: Record<string, string> = {};

beforeAll(async () => {
  paths.bystander = await fx.js('bystander.mjs', bystander, { name: 'bystander', kind: 'js' });
  paths.filler = await fx.js('filler.mjs', fillContext, {
    name: 'ctx-filler',
    kind: 'js',
    requirements: NO_GRANTS(['*'], ['*']),
  });
  paths.flood = await fx.js('flood.mjs', floodLog, { name: 'log-flood', kind: 'js' });
  paths.oversize = await fx.js(
    'oversize.mjs',
    writeRaw('oversize', 'new Uint8Array([0xff, 0xff, 0xff, 0x7f, 1, 2, 3])'),
    { name: 'oversize', kind: 'js' },
  );
  paths.garbage = await fx.js(
    'garbage.mjs',
    // A frame of a plausible length whose type byte is garbage.
    writeRaw(
      'garbage',
      'new Uint8Array([16, 0, 0, 0, 0xee, 0xee, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])',
    ),
    { name: 'garbage', kind: 'js' },
  );
  paths.half = await fx.js('half.mjs', writeRaw('half', 'new Uint8Array([100, 0, 0, 0, 1, 1, 1, 0, 0, 0])'), {
    name: 'half',
    kind: 'js',
  });
  paths.late = await fx.js('late.mjs', lateInit, {
    name: 'late-init',
    kind: 'js',
    requirements: NO_GRANTS([], ['late.key']),
  });
  paths.spin = await fx.js('spin.mjs', spinInit, {
    name: 'init-spinner',
    kind: 'js',
    limits: { maxCpuTimeMs: 300 },
  });
  for (const p of Object.values(paths)) await fx.trust(p);
  security = await fx.security();
  sandbox = (await sandboxOrReason()).sandbox;
});
afterAll(() => tmp.remove());

async function hostWithBystander(tier: IsolationTier, extra: Partial<PluginRegistryOptions> = {}) {
  const logs: string[] = [];
  const registry = new PluginRegistry({
    security,
    defaultTier: tier,
    tierOverrides: { bystander: 'in-process' },
    unmountBehavior: { ...FAST_UNMOUNT, autoUnmount: false },
    // The floods below (thousands of log lines, 256 context writes, 48 brokered fetches in one call) take longer than
    // the default 1 s call budget on a loaded machine; what these tests bound is the quota, not the time.
    hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 5000 },
    log: (plugin, level, message) => logs.push(`${plugin} ${level} ${message}`),
    ...(tier === 'sandbox' && sandbox ? { sandbox } : {}),
    ...extra,
  });
  await registry.loadPlugin(paths.bystander!, 'trusted');
  const violations: RegistryEvents['violation'][] = [];
  registry.on('violation', (v) => violations.push(v));
  return { registry, logs, violations };
}

/** Live plugin-runtime processes this test process started (its children: process tier, bwrap). */
function pluginProcesses(): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]) !== process.pid) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes('runtime.cjs') && pidAlive(Number(pid))) out.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

async function hostServes(registry: PluginRegistry): Promise<void> {
  expect(dec.decode(await registry.hooks.execute('echo', enc.encode('ping')))).toBe('ping+bystander');
  registry.context.set('host.own', Date.now());
  expect(registry.context.has('host.own')).toBe(true);
}

describe('context quota through the registry', () => {
  for (const tier of ['in-process', 'process'] as const) {
    it(`a plugin filling the context at the ${tier} tier gets QuotaExceeded; unload releases its entries`, async () => {
      const { registry, violations } = await hostWithBystander(tier);
      try {
        await registry.loadPlugin(paths.filler!, 'trusted');
        const out = dec.decode(await registry.hooks.execute('attack', new Uint8Array()));
        // The goal failed: stopped at its quota (256 entries by default), with the coded error.
        expect(out).toBe('QuotaExceeded after 256');
        expect(registry.context.usageOf('ctx-filler').entries).toBe(256);
        expect(violations.map((v) => v.violation)).toContainEqual(
          expect.objectContaining({ type: 'Quota', resource: 'context-entries', limit: 256 }),
        );
        await hostServes(registry);
        // Nothing left behind.
        await registry.unloadPlugin('ctx-filler');
        expect(registry.context.usageOf('ctx-filler')).toEqual({ entries: 0, bytes: 0 });
        expect(registry.context.keys().filter((k) => k.startsWith('fill.'))).toEqual([]);
      } finally {
        await registry.close();
      }
    }, 30_000);
  }
});

describe('context entries of a crashed plugin', () => {
  it('are released when its process dies', async () => {
    const { registry } = await hostWithBystander('process');
    try {
      await registry.loadPlugin(paths.filler!, 'trusted');
      await registry.hooks.execute('attack', new Uint8Array());
      expect(registry.context.usageOf('ctx-filler').entries).toBe(256);
      process.kill(registry.getPluginInfo('ctx-filler')!.pid!, 'SIGKILL');
      await until(() => registry.getPluginInfo('ctx-filler')?.status === 'Failed', 10_000, 'Failed');
      expect(registry.context.usageOf('ctx-filler')).toEqual({ entries: 0, bytes: 0 });
      expect(registry.context.keys().filter((k) => k.startsWith('fill.'))).toEqual([]);
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  }, 30_000);
});

describe('log budget through the registry', () => {
  it('a plugin flooding its log at the process tier is held to its budget with one notice', async () => {
    const { registry, logs, violations } = await hostWithBystander('process');
    try {
      await registry.loadPlugin(paths.flood!, 'trusted');
      expect(dec.decode(await registry.hooks.execute('attack', new Uint8Array()))).toBe('sent');
      await until(() => logs.some((l) => l.includes('log budget exceeded')), 10_000, 'notice');
      await new Promise((r) => setTimeout(r, 500));
      const spam = logs.filter((l) => l.includes('spam line'));
      expect(spam.length).toBeGreaterThan(0);
      expect(spam.length).toBeLessThan(2600); // the burst (2000) plus what refills during the flood
      expect(logs.filter((l) => l.includes('log budget exceeded'))).toHaveLength(1);
      expect(violations.map((v) => v.violation)).toContainEqual(
        expect.objectContaining({ type: 'Quota', resource: 'log-lines' }),
      );
      expect(registry.isLoaded('log-flood')).toBe(true);
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  }, 30_000);
});

describe('a protocol-breaking plugin ends (12.6)', () => {
  const cases = [
    ['oversize', 'FrameTooLarge'],
    ['garbage', 'UnknownFrameType'],
    ['half', 'StalledFrame'],
  ] as const;
  for (const tier of ['process', 'worker', 'sandbox'] as const) {
    for (const [attack, reason] of cases) {
      it(`${attack} frame at the ${tier} tier: process ended, Failed with ProtocolViolation, hooks gone`, async (t) => {
        if (tier === 'sandbox' && !sandbox) {
          t.skip();
          return;
        }
        const { registry, violations } = await hostWithBystander(tier, { quotas: { stallTimeoutMs: 300 } });
        const crashed: RegistryEvents['crashed'][] = [];
        registry.on('crashed', (c) => crashed.push(c));
        try {
          await registry.loadPlugin(paths[attack]!, 'trusted');
          const pid = registry.getPluginInfo(attack)?.pid;
          const err = await registry.hooks.execute('attack', new Uint8Array()).catch((e: unknown) => e);
          expect(isPluginError(err)).toBe(true);
          await until(() => registry.getPluginInfo(attack)?.status === 'Failed', 10_000, 'Failed');
          const info = registry.getPluginInfo(attack)!;
          expect(info.error).toMatch(new RegExp(`ProtocolViolation.*${reason}`));
          expect(crashed[0]).toMatchObject({ name: attack, protocolViolation: reason });
          expect(violations.map((v) => v.violation)).toContainEqual({ type: 'ProtocolViolation', reason });
          expect(registry.hooks.getHooks('attack')).toHaveLength(0);
          if (pid !== undefined) expect(pidAlive(pid)).toBe(false);
          await hostServes(registry);
        } finally {
          await registry.close();
        }
      }, 30_000);
    }
  }
});

describe('fetch broker quota through the registry', () => {
  it('48 concurrent 7 MiB brokered fetches from a sandboxed plugin: at most maxConnections run', async (t) => {
    if (!sandbox) {
      t.skip();
      return;
    }
    let open = 0;
    let maxOpen = 0;
    const body = Buffer.alloc(7 * 1024 * 1024, 7);
    const server = http.createServer((_q, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      res.on('close', () => open--);
      setTimeout(() => res.end(body), 50);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const artifact = await fx.js('fetch-flood.mjs', floodFetch, {
      name: 'fetch-flood',
      kind: 'js',
      limits: { maxConnections: 4 },
      requirements: {
        network: { mode: 'restricted', allowedTargets: [{ host: '127.0.0.1', ports: [port] }] },
        filesystem: { mode: 'none' },
        context: { read: [], write: [] },
      },
    });
    await fx.trust(artifact);
    const { registry, violations } = await hostWithBystander('sandbox', { security: await fx.security() });
    try {
      await registry.loadPlugin(artifact, 'trusted');
      const before = process.memoryUsage().rss;
      const out = JSON.parse(
        dec.decode(await registry.hooks.execute('attack', enc.encode(`http://127.0.0.1:${port}/`))),
      ) as Record<string, number>;
      const grew = process.memoryUsage().rss - before;
      // The goal failed: at most 4 requests ran at once, the rest were refused with the coded error.
      expect(maxOpen).toBeLessThanOrEqual(4);
      expect(out.QuotaExceeded).toBeGreaterThanOrEqual(40);
      expect((out.ok ?? 0) + (out.QuotaExceeded ?? 0)).toBe(48);
      expect(grew).toBeLessThan(300 * 1024 * 1024);
      expect(violations.map((v) => v.violation)).toContainEqual(
        expect.objectContaining({ type: 'Quota', resource: 'fetch-requests', limit: 4 }),
      );
      await hostServes(registry);
      console.log(`fetch flood: ${JSON.stringify(out)}, host RSS +${Math.round(grew / 1048576)} MiB`);
    } finally {
      await registry.close();
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
    }
  }, 60_000);
});

describe('whole hook call budget', () => {
  it('a chain of handlers each within budget still ends at hookCallTimeoutMs', async () => {
    const { registry } = await hostWithBystander('in-process', { quotas: { hookCallTimeoutMs: 300 } });
    try {
      for (let i = 0; i < 40; i++) {
        registry.hooks.register('long-chain', i, async (d) => {
          await new Promise((r) => setTimeout(r, 50));
          return d;
        });
      }
      const started = performance.now();
      const err = await registry.hooks.execute('long-chain', new Uint8Array()).catch((e: unknown) => e);
      expect(isPluginError(err, 'HookTimeout')).toBe(true);
      expect(performance.now() - started).toBeLessThan(1000);
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  });
});

describe('whole hook call budget, growing with the chain', () => {
  // Host budget 10 ms per handler: a whole call gets 40 ms, or 1 ms per handler past 40, at most 600 ms.
  const hostLimits = { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 10 };
  // Synchronous handlers that hold the thread for `ms` of wall time: no timer lag on a loaded machine.
  const spin = (ms: number) => (d: Uint8Array) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {}
    return d;
  };

  it('a long chain of quick handlers is not cut off for its length', async () => {
    // 300 ms per handler: 1200 ms for a short chain, 30 ms more per handler, at most 60 × 300 ms.
    const { registry } = await hostWithBystander('in-process', {
      hostLimits: { ...DEFAULT_RESOURCE_LIMITS, maxCpuTimeMs: 300 },
    });
    try {
      // 600 handlers of 2.2 ms: ≥ 1320 ms, past the 1200 ms of a short chain, within the 18 s this one gets (600 × 30 ms,
      // at the 60 × 300 ms ceiling). The wall time is the handlers' CPU stretched by the machine's load: 18 s leaves
      // 13.6× (it was 10× with 100 ms handlers and 500 chained spins of 1 ms; that failed at load ≈ 25 on 2 cores).
      for (let i = 0; i < 600; i++) registry.hooks.register('long-chain', i, spin(2.2));
      expect(await registry.hooks.execute('long-chain', new Uint8Array([5]))).toEqual(new Uint8Array([5]));
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  });

  it('a chain of hostile handlers, however long, still ends at the ceiling (60 × maxCpuTimeMs)', async () => {
    const { registry } = await hostWithBystander('in-process', { hostLimits });
    try {
      let ran = 0;
      for (let i = 0; i < 2000; i++) {
        registry.hooks.register('hostile-chain', i, (d) => {
          ran++;
          return spin(0.5)(d);
        });
      }
      const err = await registry.hooks.execute('hostile-chain', new Uint8Array()).catch((e: unknown) => e);
      expect(isPluginError(err, 'HookTimeout')).toBe(true);
      expect((err as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 600 });
      expect(ran).toBeLessThanOrEqual(1201); // 600 ms of 0.5 ms handlers, not 1000 ms of them
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  });

  it('a hookCallTimeoutMs set alone stays fixed; a ceiling without growth is refused', async () => {
    const { registry } = await hostWithBystander('in-process', {
      hostLimits,
      quotas: { hookCallTimeoutMs: 40 },
    });
    try {
      for (let i = 0; i < 100; i++) registry.hooks.register('long-chain', i, spin(0.5));
      const err = await registry.hooks.execute('long-chain', new Uint8Array()).catch((e: unknown) => e);
      expect((err as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 40 });
    } finally {
      await registry.close();
    }
    expect(
      () => new PluginRegistry({ security, quotas: { hookCallTimeoutMs: 40, hookCallTimeoutMaxMs: 100 } }),
    ).toThrow(/hookCallTimeoutPerHandlerMs/);
  });
});

describe('init budget', () => {
  it('an in-process init past its budget fails the load; its late registrations and writes are refused', async () => {
    const { registry } = await hostWithBystander('in-process', { quotas: { initTimeoutMs: 200 } });
    try {
      const err = await registry.loadPlugin(paths.late!, 'trusted').catch((e: unknown) => e);
      expect(isPluginError(err)).toBe(true);
      expect(String(err)).toMatch(/initTimeoutMs/);
      await new Promise((r) => setTimeout(r, 1200));
      expect(registry.hooks.getHooks('echo').map((h) => h.owner)).toEqual(['bystander']);
      expect(registry.context.has('late.key')).toBe(false);
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  });

  it('an init that spins is ended after the budget derived from its limits (2 × 300 ms → 5 s floor)', async () => {
    const { registry } = await hostWithBystander('process');
    try {
      const started = performance.now();
      const err = await registry.loadPlugin(paths.spin!, 'trusted').catch((e: unknown) => e);
      const took = performance.now() - started;
      expect(isPluginError(err, 'Timeout')).toBe(true);
      expect(took).toBeLessThan(10_000); // far below the 30 s ceiling
      const info = registry.getPluginInfo('init-spinner')!;
      expect(info.status).toBe('Failed');
      expect(info.pid).toBeUndefined();
      await until(() => pluginProcesses().length === 0, 5000, 'no plugin process left');
      await hostServes(registry);
    } finally {
      await registry.close();
    }
  }, 30_000);
});
