import type net from 'node:net';
import {
  createContextKey,
  DEFAULT_RESOURCE_LIMITS,
  type HookRegistrar,
  type InitializeConfig,
  isPluginError,
  MINIMAL_REQUIREMENTS,
  type PluginContextApi,
  type PluginError,
  type PluginInstance,
  type PluginRuntimeApi,
} from '@plugward/types';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcChannel } from '../src/channel.js';
import { ContextProxy } from '../src/context-proxy.js';
import { ipcFailureReason } from '../src/errors.js';
import { servePlugin } from '../src/plugin-server.js';
import { DEFAULT_DROPPED_LOG_RATE, PluginProcessClient } from '../src/process-client.js';
import { delay, socketPair } from './socket-pair.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

const config: InitializeConfig = {
  pluginName: 'unit',
  kind: 'js',
  artifactPath: '/nowhere/unit.mjs',
  tier: 'worker',
  limits: { ...DEFAULT_RESOURCE_LIMITS },
  requirements: {
    network: { mode: 'isolated' },
    filesystem: { mode: 'none' },
    context: { read: [...MINIMAL_REQUIREMENTS.context.read], write: [] },
  },
};

interface Calls {
  init: number;
  shutdown: number;
  unload: number;
  context?: PluginContextApi;
  runtime?: PluginRuntimeApi;
}

/** A host context with nothing in it, for clients whose plugins never touch the context. */
const EMPTY_CONTEXT = {
  get: () => undefined as never,
  set: () => undefined,
  remove: () => false,
  has: () => false,
  keys: (): string[] => [],
};

function instance(calls: Calls, register: (hooks: HookRegistrar) => void | Promise<void>): PluginInstance {
  return {
    name: 'unit',
    version: '1.0.0',
    author: 't',
    description: undefined,
    kind: 'js',
    declaredLimits: {},
    requirements: MINIMAL_REQUIREMENTS,
    async init(context, runtime) {
      calls.init++;
      calls.context = context;
      calls.runtime = runtime;
    },
    async registerHooks(hooks) {
      await register(hooks);
    },
    async shutdown() {
      calls.shutdown++;
    },
    async unload() {
      calls.unload++;
    },
  };
}

async function pair(register: (hooks: HookRegistrar) => void | Promise<void>) {
  const [a, b] = await socketPair();
  const host = new IpcChannel(a, { role: 'host' });
  const plugin = new IpcChannel(b, { role: 'plugin' });
  cleanup.push(
    () => host.destroy(),
    () => plugin.destroy(),
  );
  const calls: Calls = { init: 0, shutdown: 0, unload: 0 };
  const registered: { name: string; priority: number }[] = [];
  const values = new Map<string, unknown>();
  const context: PluginContextApi = {
    get: (k) => values.get(String(k)) as never,
    set: (k, v) => {
      values.set(String(k), v);
    },
    remove: (k) => values.delete(String(k)),
    has: (k) => values.has(String(k)),
    keys: () => [...values.keys()],
  };
  const client = new PluginProcessClient(host, {
    pluginName: 'unit',
    hooks: {
      register(name, priority) {
        registered.push({ name, priority });
      },
    },
    context,
    log: () => undefined,
  });
  const served = servePlugin(plugin, instance(calls, register));
  return { host, plugin, client, calls, registered, values, served };
}

describe('servePlugin', () => {
  it('refuses hooks before Initialize and a plugin of another name', async () => {
    const { client } = await pair((h) => {
      h.register('x', 1, (d) => d);
    });
    const early = await client.executeHook('x', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(early, 'HookError')).toBe(true);
    const wrong = await client.initialize({ ...config, pluginName: 'other' }).catch((e: unknown) => e);
    expect(isPluginError(wrong, 'InitializationError')).toBe(true);
    await client.initialize(config);
    const twice = await client.initialize(config).catch((e: unknown) => e);
    expect(isPluginError(twice, 'InitializationError')).toBe(true);
  });

  it('reports a handler that returns something other than bytes, and an unknown hook', async () => {
    const { client } = await pair((h) => {
      h.register('bad', 1, () => 'text' as unknown as Uint8Array);
    });
    await client.initialize(config);
    const bad = await client.executeHook('bad', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(bad, 'HookError')).toBe(true);
    const none = await client.executeHook('nope', new Uint8Array()).catch((e: unknown) => e);
    expect((none as Error).message).toMatch(/no handler/);
  });

  it('waits for every registration before answering Initialize', async () => {
    const { client, registered, calls } = await pair(async (h) => {
      h.register('a', 10, (d) => d);
      await delay(5);
      h.register('b', 20, (d) => d);
    });
    await client.initialize(config);
    expect(registered).toEqual([
      { name: 'a', priority: 10 },
      { name: 'b', priority: 20 },
    ]);
    expect(calls.runtime?.tier).toBe('worker');
  });

  it('gives the plugin a context proxy that reaches the host and checks typed keys', async () => {
    const { client, calls, values } = await pair(() => undefined);
    await client.initialize(config);
    const ctx = calls.context as PluginContextApi;
    expect(ctx).toBeInstanceOf(ContextProxy);
    await ctx.set('bytes', new Uint8Array([1, 2]));
    expect(values.get('bytes')).toEqual(new Uint8Array([1, 2]));
    expect(await ctx.get('bytes')).toEqual(new Uint8Array([1, 2]));
    expect(await ctx.has('bytes')).toBe(true);
    expect(await ctx.keys()).toEqual(['bytes']);
    expect(await ctx.remove('bytes')).toBe(true);
    expect(await ctx.has('bytes')).toBe(false);
    values.set('Configuration', { port: 'not a number' });
    const Config = createContextKey<{ port: number }>(
      'Configuration',
      (v): v is { port: number } => typeof (v as { port?: unknown })?.port === 'number',
    );
    const invalid = await Promise.resolve(ctx.get(Config)).catch((e: unknown) => e);
    expect(isPluginError(invalid, 'ContextError')).toBe(true);
  });

  it('Shutdown runs shutdown and unload once, closes the channel and resolves serve', async () => {
    const { client, calls, served } = await pair(() => undefined);
    await client.initialize(config);
    await client.shutdown();
    const result = await served;
    expect(result.shutdown).toBe(true);
    expect(calls).toMatchObject({ shutdown: 1, unload: 1 });
    expect((await client.exited).crashed).toBe(false);
  });

  it('the host vanishing unloads the plugin and resolves serve with PeerClosed', async () => {
    const { host, calls, served, client } = await pair(() => undefined);
    await client.initialize(config);
    host.destroy();
    const result = await served;
    expect(result.shutdown).toBe(false);
    expect(ipcFailureReason(result.reason)).toBe('PeerClosed');
    expect(calls).toMatchObject({ shutdown: 1, unload: 1 });
  });
});

describe('write backpressure', () => {
  it('refuses sends once maxQueuedBytes wait for a peer that does not read', async () => {
    const [a, b] = await socketPair();
    cleanup.push(() => b.destroy());
    b.pause(); // the peer never reads
    const channel = new IpcChannel(a, { maxQueuedBytes: 4 * 1024 * 1024, requestTimeoutMs: 0 });
    cleanup.push(() => channel.destroy());
    const payload = new Uint8Array(256 * 1024);
    let refused: unknown;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const p = channel.sendRequest({ kind: 'ExecuteHook', hookName: 'h', data: payload });
      p.catch((e: unknown) => {
        refused ??= e;
      });
      sent.push(p.catch(() => undefined));
      await delay(1);
    }
    expect(ipcFailureReason(refused)).toBe('SendRefused');
    expect((refused as Error).message).toMatch(/not reading/);
    // What the host holds stays bounded: its queue, and the stream's own buffer (one batch past its high-water mark).
    expect(channel.queuedWriteBytes).toBeLessThanOrEqual(4 * 1024 * 1024 + payload.length + 64);
    expect(channel.queuedWriteBytes).toBeGreaterThan(0);
    expect((a as net.Socket).writableLength).toBeLessThan(2 * 1024 * 1024);
    expect(channel.isClosed).toBe(false);
    channel.destroy();
    await Promise.all(sent);
  });
});

describe('PluginProcessClient serving the plugin', () => {
  async function hostAndRawPlugin(options: { maxHooks?: number; withFetch?: boolean } = {}) {
    const [a, b] = await socketPair();
    const host = new IpcChannel(a, { role: 'host' });
    const plugin = new IpcChannel(b, { role: 'plugin' });
    cleanup.push(
      () => host.destroy(),
      () => plugin.destroy(),
    );
    const registered: string[] = [];
    const client = new PluginProcessClient(host, {
      pluginName: 'raw',
      hooks: {
        register(name) {
          registered.push(name);
        },
      },
      context: EMPTY_CONTEXT,
      ...(options.maxHooks === undefined ? {} : { maxHooks: options.maxHooks }),
      ...(options.withFetch
        ? {
            fetch: async (req) => ({
              status: 201,
              headers: { 'x-url': req.url },
              body: new TextEncoder().encode(req.method),
            }),
          }
        : {}),
    });
    return { client, plugin, registered };
  }

  it('caps the hooks a plugin may register', async () => {
    const { plugin, registered } = await hostAndRawPlugin({ maxHooks: 2 });
    const results = await Promise.all(
      ['a', 'b', 'c'].map((name) => plugin.sendRequest({ kind: 'RegisterHook', name, priority: 1 })),
    );
    expect(results.map((r) => r.kind)).toEqual(['Success', 'Success', 'Error']);
    expect(registered).toEqual(['a', 'b']);
  });

  it('brokers Fetch when the host provides a broker, and refuses it otherwise', async () => {
    const request = { url: 'https://api.example.test/x', method: 'POST', headers: {} };
    const withBroker = await hostAndRawPlugin({ withFetch: true });
    expect(await withBroker.plugin.sendRequest({ kind: 'Fetch', request })).toEqual({
      kind: 'FetchResult',
      response: { status: 201, headers: { 'x-url': request.url }, body: new TextEncoder().encode('POST') },
    });
    const without = await hostAndRawPlugin();
    expect(await without.plugin.sendRequest({ kind: 'Fetch', request })).toMatchObject({
      kind: 'Error',
      code: 'PermissionDenied',
    });
  });

  it('reports a process that had already exited when the client was made', async () => {
    const [a, b] = await socketPair();
    cleanup.push(() => b.destroy());
    const channel = new IpcChannel(a, { role: 'host' });
    const client = new PluginProcessClient(channel, {
      pluginName: 'gone',
      hooks: { register: () => undefined },
      context: EMPTY_CONTEXT,
      process: { pid: 1, exitCode: null, signalCode: 'SIGKILL', once: () => undefined },
    });
    const exit = await client.exited;
    expect(exit).toMatchObject({ signal: 'SIGKILL', crashed: true });
    expect(ipcFailureReason(exit.error)).toBe('PeerClosed');
  });

  it('ends a plugin that keeps logging past its budget: dropped lines are host work too (TooManyRequests)', async () => {
    const [a, b] = await socketPair();
    const host = new IpcChannel(a, { role: 'host' });
    const plugin = new IpcChannel(b, { role: 'plugin' });
    cleanup.push(
      () => host.destroy(),
      () => plugin.destroy(),
    );
    new PluginProcessClient(host, {
      pluginName: 'flooder',
      hooks: { register: () => undefined },
      context: EMPTY_CONTEXT,
      log: () => undefined,
      logBudget: { burstLines: 100, linesPerSecond: 10, burstBytes: 64 * 1024, bytesPerSecond: 1024 },
      droppedLogRate: DEFAULT_DROPPED_LOG_RATE,
    });
    // 100 printed, then 5000 dropped at once are tolerated (a burst), the rest of a sustained flood is not.
    const started = performance.now();
    for (let round = 0; round < 80 && !host.isClosed; round++) {
      await Promise.allSettled(
        Array.from({ length: 1000 }, () => plugin.sendRequest({ kind: 'Log', level: 'info', message: 'x' })),
      );
    }
    expect(ipcFailureReason(await host.closed)).toBe('TooManyRequests');
    expect((await host.closed).message).toMatch(/keeps logging past its log budget/);
    // Well before 80 000 lines at the rate they came.
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('counts a dropped line by its size: a few dozen megabyte-long lines past the budget end the plugin', async () => {
    const [a, b] = await socketPair();
    const host = new IpcChannel(a, { role: 'host' });
    const plugin = new IpcChannel(b, { role: 'plugin' });
    cleanup.push(
      () => host.destroy(),
      () => plugin.destroy(),
    );
    new PluginProcessClient(host, {
      pluginName: 'wordy',
      hooks: { register: () => undefined },
      context: EMPTY_CONTEXT,
      log: () => undefined,
      logBudget: { burstLines: 100, linesPerSecond: 10, burstBytes: 64 * 1024, bytesPerSecond: 1024 },
      droppedLogRate: DEFAULT_DROPPED_LOG_RATE,
    });
    // One line of 1 Mi code units counts as 256 dropped lines: the 5000 of burst are ≈ 20 of them, where 5000 lines of
    // one character each are tolerated (the case above). Sent one after another, far below 256 lines a second.
    const big = 'x'.repeat(1024 * 1024);
    let sent = 0;
    while (sent < 200 && !host.isClosed) {
      await plugin.sendRequest({ kind: 'Log', level: 'info', message: big }).catch(() => undefined);
      sent++;
    }
    expect(ipcFailureReason(await host.closed)).toBe('TooManyRequests');
    expect(sent).toBeLessThan(40);
  });

  it('holds a plugin flooding its log to the budget: lines dropped, one notice, one quota report', async () => {
    const [a, b] = await socketPair();
    const host = new IpcChannel(a, { role: 'host' });
    const plugin = new IpcChannel(b, { role: 'plugin' });
    cleanup.push(
      () => host.destroy(),
      () => plugin.destroy(),
    );
    const lines: string[] = [];
    const quota: PluginError[] = [];
    new PluginProcessClient(host, {
      pluginName: 'chatty',
      hooks: { register: () => undefined },
      context: EMPTY_CONTEXT,
      log: (_level, message) => lines.push(message),
      logBudget: { burstLines: 100, linesPerSecond: 10, burstBytes: 64 * 1024, bytesPerSecond: 1024 },
      onQuotaExceeded: (e) => quota.push(e),
    });
    const sent = Array.from({ length: 5000 }, () =>
      plugin.sendRequest({ kind: 'Log', level: 'info', message: 'x'.repeat(100) }),
    );
    const results = await Promise.all(sent);
    const ok = results.filter((r) => r.kind === 'Success').length;
    expect(ok).toBeGreaterThanOrEqual(100);
    expect(ok).toBeLessThan(200);
    expect(results.filter((r) => r.kind === 'Error' && r.code === 'QuotaExceeded').length).toBe(5000 - ok);
    expect(quota).toHaveLength(1);
    expect(quota[0]?.code).toBe('QuotaExceeded');
    expect(lines.filter((l) => l.includes('suppressed'))).toHaveLength(1);
    // A single huge line is refused by bytes.
    await delay(150);
    expect(
      await plugin.sendRequest({ kind: 'Log', level: 'info', message: 'y'.repeat(200_000) }),
    ).toMatchObject({
      kind: 'Error',
      code: 'QuotaExceeded',
    });
    expect(host.isClosed).toBe(false);
  });
});
