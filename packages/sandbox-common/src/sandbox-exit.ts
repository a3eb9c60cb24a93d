import type { ChildProcess } from 'node:child_process';
import type { SandboxExit } from '@plugward/types';

/** Resolves when `stream` has ended or closed (at once when there is none or it already has), or after `timeoutMs`. */
function streamEnded(stream: NodeJS.ReadableStream | null, timeoutMs: number): Promise<void> {
  const s = stream as (NodeJS.ReadableStream & { readableEnded?: boolean; destroyed?: boolean }) | null;
  if (s === null || s.readableEnded === true || s.destroyed === true) return Promise.resolve();
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      s.off('end', finish);
      s.off('close', finish);
      resolve();
    };
    // At the bound, one more turn of the event loop's poll phase first: output already waiting in the pipe (a loaded
    // host can reach this timer before the read that was ready with it) is read before `exit` settles.
    const timer = setTimeout(() => setImmediate(finish), timeoutMs);
    timer.unref();
    s.once('end', finish);
    s.once('close', finish);
  });
}

/** What {@link sandboxExit} needs of a process's cgroup (a `CgroupHandle` of @plugward/limits is one). */
export interface ExitCgroup {
  /** OOM kills recorded in the group. */
  oomKills(): Promise<number>;
  /** Kills what is left and removes the group. */
  remove(): Promise<void>;
}

/** What {@link sandboxExit} tells the backend's cleanup. */
export interface SandboxCleanupInfo {
  /**
   * True when the process had a cgroup and it was removed: nothing the sandbox started is left. False without a cgroup
   * or when its removal failed — then something may still run as the sandbox's uid, and a backend gives its uid lease
   * back only once nothing does (`uidInUse`).
   */
  contained: boolean;
}

function warn(prefix: string, e: unknown): void {
  process.emitWarning(`plugward: ${prefix}${e instanceof Error ? e.message : String(e)}`);
}

/**
 * The `exit` of a sandboxed process, for every backend the same way: once `child` exited (also when it did before this
 * was called — a fast command can be gone before `spawn()` returns), `onExited` runs, the cgroup's OOM-kill count is
 * read and the cgroup removed (a failure is a warning: the process itself is gone), the backend's `cleanup` runs (and
 * is awaited when it returns a promise: its directory removal runs off the event loop), and the promise settles after
 * that and after the piped stdout/stderr ended (bounded, 2 s), so a caller that reads them on `exit` sees everything
 * the command wrote and finds nothing of the sandbox left.
 */
export function sandboxExit(
  child: ChildProcess,
  cgroup: ExitCgroup | undefined,
  cleanup: (info: SandboxCleanupInfo) => void | Promise<void>,
  onExited: () => void,
): Promise<SandboxExit> {
  return new Promise<SandboxExit>((resolve) => {
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      onExited();
      let oomKilled = false;
      let contained = false;
      const done = (): void => {
        const cleaned = Promise.resolve()
          .then(() => cleanup({ contained }))
          .catch((e: unknown) => warn('sandbox cleanup failed: ', e));
        const streams = [child.stdout, child.stderr].map((s) => streamEnded(s, 2000));
        void Promise.all([cleaned, ...streams]).then(() => resolve({ code, signal, oomKilled }));
      };
      if (cgroup === undefined) done();
      else
        cgroup
          .oomKills()
          .then(
            (kills) => {
              oomKilled = kills > 0;
            },
            () => undefined,
          )
          .then(() => cgroup.remove())
          .then(() => {
            contained = true;
          })
          .then(done, (e: unknown) => {
            warn('', e);
            done();
          });
    };
    if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
    else child.once('exit', onExit);
  });
}
