import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import type { Duplex, Readable } from 'node:stream';
import { PluginError, type PluginMetrics, type SandboxExit, type SandboxedProcess } from '@plugward/types';
import { type ExitCgroup, type SandboxCleanupInfo, sandboxExit } from './sandbox-exit.js';

/** What {@link SandboxedChild} needs of a process's cgroup (a `CgroupHandle` of @plugward/limits is one). */
export interface ChildCgroup extends ExitCgroup {
  readonly version: 1 | 2;
  /** Controller → directory. */
  readonly paths: Readonly<Record<string, string>>;
  /** The `cgroup.procs` files of the group. */
  readonly procsFiles: readonly string[];
  /** One reading of the group. */
  metrics(): Promise<PluginMetrics>;
}

/** How a backend's process differs from the common one (see {@link SandboxedChild}). */
export interface SandboxedChildOptions {
  /** The started launcher: fd 3 is the IPC socket, stdout/stderr the plugin's (pipes or the host's). */
  child: ChildProcess;
  /** Its cgroup, when it has one (removed after exit). */
  cgroup: ChildCgroup | undefined;
  /** The host uid plugin code runs as. */
  uid: number;
  /**
   * The backend's cleanup after exit (its directory, its uid lease); `exit` settles after it, also when it returns a
   * promise (a removal off the event loop). `info.contained` says whether the cgroup was removed (see
   * {@link SandboxCleanupInfo}).
   */
  cleanup: (info: SandboxCleanupInfo) => void | Promise<void>;
  /**
   * `kill` signals every process of the cgroup before the child itself: where the child is only a supervisor (bwrap)
   * and the plugin runs below it. Default false (the child is the plugin process).
   */
  signalCgroup?: boolean;
  /** A reading without a cgroup (default: the pid and nothing measured). */
  metricsWithoutCgroup?: (pid: number) => PluginMetrics;
}

/**
 * A process started by a sandbox backend, the same way for every backend: the IPC socket on fd 3, the piped
 * stdout/stderr, `exit` through {@link sandboxExit} (cgroup removed, backend cleanup run), `kill` that refuses unknown
 * signal names and does nothing once the process is gone, `metrics` from its cgroup.
 */
export class SandboxedChild implements SandboxedProcess<Duplex> {
  readonly pid: number;
  readonly ipc: Duplex;
  readonly cgroupPaths: Readonly<Record<string, string>>;
  readonly exit: Promise<SandboxExit>;
  /** The child's stdout when the sandbox pipes it. */
  readonly stdout: Readable | null;
  /** The child's stderr when the sandbox pipes it. */
  readonly stderr: Readable | null;
  /** The host uid (= gid) plugin code runs as. */
  readonly uid: number;
  readonly #child: ChildProcess;
  readonly #cgroup: ChildCgroup | undefined;
  readonly #signalCgroup: boolean;
  readonly #metricsWithoutCgroup: ((pid: number) => PluginMetrics) | undefined;
  #exited = false;

  constructor(options: SandboxedChildOptions) {
    const { child, cgroup } = options;
    this.#child = child;
    this.#cgroup = cgroup;
    this.#signalCgroup = options.signalCgroup === true;
    this.#metricsWithoutCgroup = options.metricsWithoutCgroup;
    this.uid = options.uid;
    this.pid = child.pid ?? -1;
    const ipc = child.stdio[3];
    if (ipc === null || ipc === undefined)
      throw new PluginError('SandboxError', 'the IPC socket was not created');
    this.ipc = ipc as Duplex;
    this.stdout = child.stdout;
    this.stderr = child.stderr;
    this.cgroupPaths = Object.freeze({ ...(cgroup?.paths ?? {}) });
    this.exit = sandboxExit(child, cgroup, options.cleanup, () => {
      this.#exited = true;
    });
  }

  /** Host pids of every process in its cgroup (empty without a cgroup). */
  pids(): number[] {
    const file = this.#cgroup?.procsFiles[0];
    if (file === undefined) return [];
    try {
      return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Sends `signal` (a name, default `SIGKILL`); nothing once the process has exited. */
  kill(signal: string = 'SIGKILL'): void {
    if (!Object.hasOwn(os.constants.signals, signal)) {
      throw new PluginError('InvalidArgument', `unknown signal ${JSON.stringify(signal)}`);
    }
    if (this.#exited) return;
    if (this.#signalCgroup) {
      // Signal everything in the cgroup directly (the plugin itself, not only its supervisor), then the child.
      for (const pid of this.pids()) {
        try {
          process.kill(pid, signal as NodeJS.Signals);
        } catch {
          // Gone already.
        }
      }
    }
    this.#child.kill(signal as NodeJS.Signals);
  }

  /** One reading: from the cgroup, else the backend's fallback; `{ exited: true }` once it has exited. */
  async metrics(): Promise<PluginMetrics> {
    if (this.#exited) {
      const source =
        this.#cgroup === undefined ? 'procfs' : this.#cgroup.version === 1 ? 'cgroup-v1' : 'cgroup-v2';
      return { timestamp: Date.now(), source, exited: true };
    }
    if (this.#cgroup === undefined) {
      return (
        this.#metricsWithoutCgroup?.(this.pid) ?? { timestamp: Date.now(), source: 'procfs', pid: this.pid }
      );
    }
    return { ...(await this.#cgroup.metrics()), pid: this.pid };
  }
}
