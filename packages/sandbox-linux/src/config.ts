import { RUNTIME_ALLOWANCE, type SandboxConfig } from '@plugward/types';

/**
 * Memory beyond `maxHeapBytes` a Node process needs (code, stacks, buffers) when the cgroup limit is derived: the
 * `RUNTIME_ALLOWANCE` of @plugward/types.
 */
export const RUNTIME_MEMORY_HEADROOM_BYTES = RUNTIME_ALLOWANCE.heapBytes;

/** Default size of the sandbox's private `/tmp`: 16 MiB. */
export const DEFAULT_TMPFS_BYTES = 16 * 1024 * 1024;

export { DEFAULT_CPU_PERIOD_US } from '@plugward/sandbox-common';

/**
 * Fewest file descriptors a sandboxed Node process is allowed (Node, libuv and bwrap use ~20 at start): the
 * `RUNTIME_ALLOWANCE` of @plugward/types.
 */
export const MIN_FILE_DESCRIPTORS = RUNTIME_ALLOWANCE.fileDescriptors;

/**
 * The default sandbox: every namespace (a user namespace even as root: without one bwrap leaves the capability
 * bounding set of a root process intact), strict seccomp,
 * no capabilities, no network, a 16 MiB `/tmp`, swap off, and a cgroup whose memory (`maxHeapBytes` + 96 MiB) and pids
 * (`MIN_THREADS_FOR_NODE + maxThreads`) come from the plugin's limits at spawn time (the defaults when none are given).
 * Overriding `network` with `{ mode: 'full' }` also turns the network namespace off unless `namespaces` is given too.
 */
export function defaultSandboxConfig(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    namespaces: {
      pid: true,
      net: overrides.network?.mode !== 'full',
      mount: true,
      ipc: true,
      uts: true,
      user: true,
      cgroup: true,
    },
    seccomp: { mode: 'strict' },
    capabilities: { dropAll: true, allowedCaps: [], noNewPrivs: true },
    filesystem: { binds: [], tmpfsBytes: DEFAULT_TMPFS_BYTES, maskPaths: [] },
    network: { mode: 'isolated' },
    // Memory and pids are derived per spawn from the plugin's limits (see LinuxSandbox); swap is off.
    cgroup: { swapBytes: 0 },
    env: { NODE_ENV: 'production' },
    ...overrides,
  };
}
