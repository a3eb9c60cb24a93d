import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { onHostExit } from './host-exit.js';
import { type UidLease, uidInUse } from './uid-allocator.js';

/** What {@link guardSandboxLifetime} kills: a sandbox's cgroup (a `CgroupHandle` of @plugward/limits is one). */
export interface KillableCgroup {
  /** Controller → directory (directories may repeat). */
  readonly paths: Readonly<Record<string, string>>;
  /** Kills every member now and blocks at most `waitMs` until none is left; true once empty. */
  killSync(waitMs?: number): boolean;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Gives `lease` back once nothing runs as its uid: at once when `contained` (the sandbox's cgroup is gone, so nothing
 * it started is left), otherwise after a check of every process (waiting up to `waitMs`, blocking, for one still
 * exiting). A uid still in use keeps its lease: a later host takes it over once nothing runs as it. Two sandboxes
 * sharing a uid is what leases exist to prevent. Returns whether the lease was given back.
 */
export function releaseLeaseWhenUnused(lease: UidLease | undefined, contained: boolean, waitMs = 0): boolean {
  if (lease === undefined) return true;
  if (!contained) {
    const deadline = Date.now() + waitMs;
    while (uidInUse(lease.uid)) {
      if (Date.now() >= deadline) return false;
      Atomics.wait(sleeper, 0, 0, 10);
    }
  }
  lease.release();
  return true;
}

/** What {@link guardSandboxLifetime} watches. */
export interface SandboxLifetime {
  /** The launcher: the host's child; killed by pid while it has not exited (never reaped, so never a reused pid). */
  child: ChildProcess;
  /** Its cgroup, once created: everything in it is killed and waited for. */
  cgroup?: KillableCgroup;
  /** Its uid lease: given back only once nothing runs as the uid. */
  lease?: UidLease;
  /** Removes its files (directory, scratch) synchronously. */
  removeFiles: () => void;
}

/**
 * Registered from the moment a sandbox's launcher is spawned: if the host exits normally while the sandbox starts or
 * runs (it never awaited it), the launcher and everything in its cgroup are killed and waited for, its cgroup and files
 * removed, and its uid lease given back only once nothing runs as the uid ({@link releaseLeaseWhenUnused}). Returns
 * the function that unregisters it (call it once the sandbox's own cleanup ran).
 */
export function guardSandboxLifetime(sandbox: SandboxLifetime): () => void {
  const { child } = sandbox;
  let contained = false;
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (sandbox.cgroup !== undefined) contained = sandbox.cgroup.killSync(0);
  };
  return onHostExit(() => {
    const { cgroup } = sandbox;
    if (!contained && cgroup !== undefined) contained = cgroup.killSync(500);
    if (contained && cgroup !== undefined) {
      for (const dir of new Set(Object.values(cgroup.paths))) {
        try {
          fs.rmdirSync(dir);
        } catch {
          // The next host's sweep removes it.
        }
      }
    }
    sandbox.removeFiles();
    releaseLeaseWhenUnused(sandbox.lease, contained, 200);
  }, kill);
}

/** Resolves once `child` has exited (at once if it has). */
export function childGone(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
