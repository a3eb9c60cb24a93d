import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

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
