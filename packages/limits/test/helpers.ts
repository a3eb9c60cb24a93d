import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'child.mjs');

/** A forked fixture child with a request/answer channel. */
export interface Child {
  proc: ChildProcess;
  pid: number;
  send(msg: Record<string, unknown>): Promise<Record<string, unknown>>;
  kill(): Promise<void>;
}

let nextId = 1;

/** Forks test/fixtures/child.mjs and waits for it to be ready. */
export async function startChild(): Promise<Child> {
  const proc = fork(CHILD, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [first] = (await once(proc, 'message')) as [{ ready?: boolean }];
  if (!first.ready) throw new Error('child did not start');
  const pid = proc.pid as number;
  return {
    proc,
    pid,
    send(msg) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        const onMsg = (m: { id?: number; ok?: boolean; error?: string }): void => {
          if (m.id !== id) return;
          proc.off('message', onMsg);
          if (m.ok) resolve(m as Record<string, unknown>);
          else reject(new Error(m.error));
        };
        proc.on('message', onMsg);
        proc.send({ ...msg, id });
      });
    },
    async kill() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Makes the child spin until it has itself consumed at least `cpuMs` of CPU time (or 20 s of wall time pass), then
 * stops it. A wall-clock burn gets an unpredictable CPU share on a loaded 2-core machine; a CPU-time target doesn't.
 */
export async function burnCpu(c: Child, cpuMs: number): Promise<void> {
  const start = ((await c.send({ cmd: 'usage' })) as { cpuMs: number }).cpuMs;
  await c.send({ cmd: 'burn' });
  const deadline = Date.now() + 20_000;
  for (;;) {
    await sleep(50);
    const now = ((await c.send({ cmd: 'usage' })) as { cpuMs: number }).cpuMs;
    if (now - start >= cpuMs || Date.now() > deadline) break;
  }
  await c.send({ cmd: 'stop-burn' });
  await sleep(80); // let the last slice finish
}

/**
 * A TCP server on 127.0.0.1 for the tests of one file (started before them, closed with the connections it accepted
 * after them): children connect to `port` to hold connections; `accepted` holds the server's ends.
 */
export function useLocalServer(): { readonly port: number; readonly accepted: readonly net.Socket[] } {
  let server: net.Server | undefined;
  const accepted: net.Socket[] = [];
  const handle = { port: 0, accepted };
  beforeAll(async () => {
    server = net.createServer((s) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    handle.port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => {
    for (const s of accepted) s.destroy();
    server?.close();
  });
  return handle;
}
