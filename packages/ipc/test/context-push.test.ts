// ContextChanged: the host pushes context updates to a plugin process. What matters is the order (an update sent
// before a hook call is applied before that call runs), that a plugin may not send one, and that an update that can't
// be delivered ends the plugin instead of leaving it on a stale copy.
import {
  type ContextChangedRequest,
  DEFAULT_RESOURCE_LIMITS,
  type InitializeConfig,
  isPluginError,
  MINIMAL_REQUIREMENTS,
  type PluginContextApi,
  type PluginInstance,
} from '@plugward/types';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcChannel } from '../src/channel.js';
import { ipcFailureReason } from '../src/errors.js';
import { servePlugin } from '../src/plugin-server.js';
import { PluginProcessClient } from '../src/process-client.js';
import { socketPair } from './socket-pair.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

const enc = new TextEncoder();
const dec = new TextDecoder();

const config: InitializeConfig = {
  pluginName: 'pushed',
  kind: 'native',
  artifactPath: '/nowhere/pushed.so',
  tier: 'process',
  limits: { ...DEFAULT_RESOURCE_LIMITS },
  requirements: {
    network: { mode: 'isolated' },
    filesystem: { mode: 'none' },
    context: { read: ['greeting'], write: [] },
  },
};

const noContext: PluginContextApi = {
  get: () => undefined as never,
  set: () => undefined,
  remove: () => false,
  has: () => false,
  keys: () => [],
};

/** A plugin whose hook `read` answers from a local copy that only ContextChanged updates (like the runtime's). */
function plugin(): PluginInstance {
  return {
    name: 'pushed',
    version: '1.0.0',
    author: 't',
    description: undefined,
    kind: 'native',
    declaredLimits: {},
    requirements: MINIMAL_REQUIREMENTS,
    async init() {},
    async registerHooks(hooks) {
      await hooks.register('read', 100, () => enc.encode(String(copy.get('greeting') ?? '<absent>')));
    },
    async shutdown() {},
    async unload() {},
  };
}
const copy = new Map<string, unknown>();

async function setup(onContextChanged?: (change: ContextChangedRequest) => void) {
  copy.clear();
  const [a, b] = await socketPair();
  const host = new IpcChannel(a, { role: 'host' });
  const side = new IpcChannel(b, { role: 'plugin' });
  cleanup.push(
    () => host.destroy(),
    () => side.destroy(),
  );
  const logs: string[] = [];
  const client = new PluginProcessClient(host, {
    pluginName: 'pushed',
    hooks: { register() {} },
    context: noContext,
    log: (level, message) => logs.push(`${level}: ${message}`),
  });
  const served = servePlugin(side, plugin(), onContextChanged ? { onContextChanged } : {});
  await client.initialize(config);
  return { host, side, client, logs, served };
}

const apply = (change: ContextChangedRequest): void => {
  if (change.removed) copy.delete(change.key);
  else copy.set(change.key, change.value);
};

describe('ContextChanged', () => {
  it('is applied before a hook call sent after it, in every interleaving', async () => {
    const { client } = await setup(apply);
    // Not awaited in between: the only thing ordering update and call is the one stream.
    const calls: Promise<Uint8Array>[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 500; i++) {
      if (i % 7 === 3) {
        client.pushContext('greeting', { removed: true });
        expected.push('<absent>');
      } else {
        client.pushContext('greeting', { removed: false, value: `v${i}` });
        expected.push(`v${i}`);
      }
      calls.push(client.executeHook('read', new Uint8Array()));
    }
    expect((await Promise.all(calls)).map((d) => dec.decode(d))).toEqual(expected);
  });

  it('carries null and structured values unchanged', async () => {
    const seen: ContextChangedRequest[] = [];
    const { client } = await setup((c) => seen.push(c));
    client.pushContext('greeting', { removed: false, value: null });
    client.pushContext('greeting', { removed: false, value: { a: [1, 'b'], c: new Uint8Array([3]) } });
    client.pushContext('greeting', { removed: true });
    await client.executeHook('read', new Uint8Array());
    expect(seen).toEqual([
      { kind: 'ContextChanged', key: 'greeting', removed: false, value: null },
      {
        kind: 'ContextChanged',
        key: 'greeting',
        removed: false,
        value: { a: [1, 'b'], c: new Uint8Array([3]) },
      },
      { kind: 'ContextChanged', key: 'greeting', removed: true },
    ]);
  });

  it('is acknowledged and ignored by a plugin server without a sink', async () => {
    const { client, host } = await setup();
    client.pushContext('greeting', { removed: false, value: 'x' });
    expect(dec.decode(await client.executeHook('read', new Uint8Array()))).toBe('<absent>');
    expect(host.isClosed).toBe(false);
  });

  it('may not be sent by a plugin: the host ends the channel', async () => {
    const { side, host } = await setup(apply);
    await side.sendRequest({ kind: 'ContextChanged', key: 'greeting', removed: true }).catch(() => undefined);
    const reason = await host.closed;
    expect(ipcFailureReason(reason)).toBe('UnexpectedKind');
  });

  it('ends the plugin when the update cannot be encoded, instead of leaving its copy stale', async () => {
    const { client, logs } = await setup(apply);
    client.pushContext('greeting', { removed: false, value: () => 'not data' });
    const exit = await client.exited;
    expect(ipcFailureReason(exit.error)).toBe('SendRefused');
    expect(exit.error.message).toMatch(/greeting/);
    expect(exit.crashed).toBe(true);
    expect(logs.join('\n')).toMatch(/error: context key "greeting" changed/);
    // A hook call after that fails; it is never answered from the stale copy.
    const after = await client.executeHook('read', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(after, 'IpcError')).toBe(true);
  });

  it('ends the plugin when it refuses an update', async () => {
    const { client } = await setup(() => {
      throw new Error('copy is read-only');
    });
    client.pushContext('greeting', { removed: false, value: 'x' });
    const exit = await client.exited;
    expect(exit.error.message).toMatch(/copy is read-only/);
  });

  it('does nothing once the plugin is gone', async () => {
    const { client, logs } = await setup(apply);
    await client.shutdown();
    expect(() => client.pushContext('greeting', { removed: false, value: 'late' })).not.toThrow();
    expect(logs).toEqual([]);
  });
});
