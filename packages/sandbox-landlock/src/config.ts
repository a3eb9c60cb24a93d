import type { SandboxConfig } from '@plugward/types';
import { DEFAULT_SCRATCH_BYTES } from './landlock-sandbox.js';

/**
 * The default config for {@link LandlockSandbox}: the same shape as sandbox-linux's (so a host can hand either backend
 * the same config): strict seccomp, no capabilities, `isolated` network, a 16 MiB scratch, swap off. `namespaces` is
 * ignored by this backend (it has none; see the README for what stands in for each).
 */
export function defaultLandlockConfig(overrides: Partial<SandboxConfig> = {}): SandboxConfig {
  return {
    namespaces: { pid: true, net: true, mount: true, ipc: true, uts: true, user: true, cgroup: true },
    seccomp: { mode: 'strict' },
    capabilities: { dropAll: true, allowedCaps: [], noNewPrivs: true },
    filesystem: { binds: [], tmpfsBytes: DEFAULT_SCRATCH_BYTES, maskPaths: [] },
    network: { mode: 'isolated' },
    cgroup: { swapBytes: 0 },
    env: { NODE_ENV: 'production' },
    ...overrides,
  };
}
