import { type ChildProcess, spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  type AnyContextKey,
  contextKeyName,
  DEFAULT_RESOURCE_LIMITS,
  type HookHandler,
  type InitializeConfig,
  isPluginError,
  MINIMAL_REQUIREMENTS,
  type PluginContextApi,
  PluginError,
} from '@plugward/types';
import { afterEach, describe, expect, it } from 'vitest';
import { IpcChannel } from '../src/channel.js';
import { ipcFailureReason } from '../src/errors.js';
import { PluginProcessClient } from '../src/process-client.js';

const CHILD = fileURLToPath(new URL('./fixtures/plugin-child.mjs', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A host-side registrar standing in for the hooks package: keeps handlers in registration order. */
class TestRegistrar {
  readonly entries: { name: string; priority: number; handler: HookHandler; active: boolean }[] = [];
  register(name: string, priority: number, handler: HookHandler) {
    const entry = { name, priority, handler, active: true };
    this.entries.push(entry);
    return {
      id: this.entries.length,
      unregister: () => {
        entry.active = false;
        return true;
      },
    };
  }
  async run(name: string, data: Uint8Array, index = 0, signal?: AbortSignal): Promise<Uint8Array> {
    const entry = this.entries.filter((e) => e.name === name)[index];
    if (entry === undefined) throw new Error(`no hook ${name}`);
    return entry.handler(data, signal === undefined ? { hookName: name } : { hookName: name, signal });
  }
}

/** A context view with one forbidden key, like `PluginContext.forPlugin` would give. */
class TestContext implements PluginContextApi {
  readonly values = new Map<string, unknown>([['Configuration', { mode: 'test', retries: 3 }]]);
  get<T>(key: AnyContextKey<T>): T {
    const name = contextKeyName(key);
    if (name === 'Secret') throw new PluginError('PermissionDenied', 'plugin echo may not read Secret');
    return this.values.get(name) as T;
  }
  set<T>(key: AnyContextKey<T>, value: T): void {
    this.values.set(contextKeyName(key), value);
  }
  remove(key: AnyContextKey): boolean {
    return this.values.delete(contextKeyName(key));
  }
  has(key: AnyContextKey): boolean {
    return this.values.has(contextKeyName(key));
  }
  keys(): string[] {
    return [...this.values.keys()];
  }
}

const config: InitializeConfig = {
  pluginName: 'echo',
  kind: 'js',
  artifactPath: CHILD,
  tier: 'process',
  limits: { ...DEFAULT_RESOURCE_LIMITS },
  requirements: {
    network: { mode: 'isolated' },
    filesystem: { mode: 'none' },
    context: { read: [...MINIMAL_REQUIREMENTS.context.read], write: [] },
  },
};

function start(mode = 'normal') {
  const child = spawn(process.execPath, [CHILD, mode], { stdio: ['ignore', 'inherit', 'inherit', 'pipe'] });
  children.push(child);
  const socket = child.stdio[3] as Duplex;
  const channel = new IpcChannel(socket, { role: 'host', label: 'echo' });
  const hooks = new TestRegistrar();
  const context = new TestContext();
  const logs: string[] = [];
  const client = new PluginProcessClient(channel, {
    pluginName: 'echo',
    hooks,
    context,
    process: child,
    log: (level, message) => logs.push(`${level}:${message}`),
  });
  return { child, channel, hooks, context, logs, client };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

describe('a real plugin process on fd 3', () => {
  it('initializes, registers hooks, runs them and proxies context and logs', async () => {
    const { hooks, context, logs, client, child } = start();
    await client.initialize(config);
    expect(hooks.entries.map((e) => `${e.name}@${e.priority}`)).toEqual([
      'echo@200',
      'transform@100',
      'transform@300',
      'config@200',
      'secret@200',
      'slow@200',
      'crash@200',
    ]);
    expect(logs).toContain('info:init at tier process');
    expect(context.values.get('startedBy')).toEqual({ pid: child.pid, at: new Date(0) });
    expect(dec.decode(await hooks.run('echo', enc.encode('hi')))).toBe('hi');
    expect(dec.decode(await hooks.run('transform', enc.encode('x'), 0))).toBe('first:x');
    expect(dec.decode(await hooks.run('transform', enc.encode('x'), 1))).toBe('second:x');
    expect(JSON.parse(dec.decode(await hooks.run('config', new Uint8Array())))).toEqual({
      mode: 'test',
      retries: 3,
    });
    // The host's permission error travels to the plugin, whose hook fails with it, which travels back.
    const denied = await hooks.run('secret', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(denied)).toBe(true);
    expect((denied as PluginError).message).toMatch(/may not read Secret/);
    const metrics = await client.getMetrics();
    expect(metrics.pid).toBe(child.pid);
    expect(metrics.memoryBytes).toBeGreaterThan(0);
    await client.shutdown();
    const exit = await client.exited;
    expect(exit).toMatchObject({ exitCode: 0, signal: null, crashed: false });
    expect(hooks.entries.every((e) => !e.active)).toBe(true);
  });

  it('keeps 5000 calls in flight on one socket', async () => {
    const { hooks, client } = start();
    await client.initialize(config);
    const calls = Array.from({ length: 5000 }, (_, i) =>
      hooks.run('echo', enc.encode(`call-${i}`)).then((out) => expect(dec.decode(out)).toBe(`call-${i}`)),
    );
    await Promise.all(calls);
    await client.shutdown();
    expect((await client.exited).crashed).toBe(false);
  });

  it('cancels a slow hook at the plugin when the host aborts it', async () => {
    const { hooks, client } = start();
    await client.initialize(config);
    const ac = new AbortController();
    const slow = hooks.run('slow', new Uint8Array([1]), 0, ac.signal).catch((e: unknown) => e);
    setTimeout(() => ac.abort(), 20);
    expect(isPluginError(await slow, 'Aborted')).toBe(true);
    expect(dec.decode(await hooks.run('echo', enc.encode('still alive')))).toBe('still alive');
    await client.shutdown();
  });

  it("a busy host still reads the process's last answer and log lines when it learns of the exit first", async () => {
    // Whatever order the host learns of the child's exit (SIGCHLD) and of the last bytes on its socket in, the
    // Shutdown answer and the lines logged during shutdown are not lost (on Linux the socket's bytes come first here;
    // a worker's port is where the exit overtakes them — worker.test.ts).
    for (let round = 0; round < 3; round++) {
      const { client, logs, child } = start();
      await client.initialize(config);
      const answered = client.shutdown().then(
        () => 'answered',
        (e: unknown) => `failed: ${(e as Error).message}`,
      );
      await new Promise((r) => setImmediate(r)); // the Shutdown frame leaves
      const until = Date.now() + 300;
      while (Date.now() < until) {
        // busy: the child answers, logs, closes and exits meanwhile
      }
      expect(await answered).toBe('answered');
      expect(logs.filter((l) => l.startsWith('info:goodbye'))).toHaveLength(20);
      expect((await client.exited).crashed).toBe(false);
      expect(child.exitCode).toBe(0);
    }
  });

  it('a crash fails every pending request with IpcError and reports the signal', async () => {
    const { hooks, client } = start();
    await client.initialize(config);
    const slow = Array.from({ length: 3 }, () =>
      hooks.run('slow', new Uint8Array()).catch((e: unknown) => e),
    );
    const crash = hooks.run('crash', new Uint8Array()).catch((e: unknown) => e);
    for (const err of [await crash, ...(await Promise.all(slow))]) {
      expect(isPluginError(err, 'IpcError')).toBe(true);
      expect(ipcFailureReason(err)).toBe('PeerClosed');
    }
    const exit = await client.exited;
    expect(exit.signal).toBe('SIGSEGV');
    expect(exit.crashed).toBe(true);
    expect(hooks.entries.every((e) => !e.active)).toBe(true);
    const after = await hooks.run('echo', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(after, 'IpcError')).toBe(true);
  });

  it('the child exits when the host end closes (no orphan)', async () => {
    const { client, child } = start();
    await client.initialize(config);
    await client.close();
    const exit = await client.exited;
    expect(exit.exitCode).toBe(3); // served, then left because the host went away
    expect(exit.crashed).toBe(true);
    expect(child.exitCode).toBe(3);
  });

  it('the child exits when the host end closes before Initialize', async () => {
    const { client } = start();
    await client.close();
    expect((await client.exited).exitCode).toBe(3);
  });

  it('connectToHost refuses a process started without the fd-3 socket', async () => {
    const child = spawn(process.execPath, [CHILD, 'no-fd'], { stdio: ['ignore', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(42);
    expect(stderr).toMatch(/fd 3 is not the host's socket/);
  });

  it('a child that sends garbage ends its channel with a specific IpcError', async () => {
    const { channel, client, child } = start('garbage');
    const pending = client.getMetrics().catch((e: unknown) => e);
    const reason = await channel.closed;
    expect(ipcFailureReason(reason)).toBe('FrameTooLarge');
    expect(await pending).toBe(reason);
    child.kill('SIGKILL'); // what the registry does with a hostile plugin
    const exit = await client.exited;
    expect(exit.signal).toBe('SIGKILL');
  });
});
