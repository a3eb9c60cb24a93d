import { DEFAULT_TMPFS_BYTES, defaultSandboxConfig } from '@plugward/sandbox-linux';
import {
  type BindMount,
  type PluginRequirements,
  type ResourceLimits,
  type SandboxConfig,
  withRuntimeAllowance,
} from '@plugward/types';

/**
 * The sandbox of one plugin, from what it declared and its (host-capped) limits: the strict default of
 * @plugward/sandbox-linux, plus exactly the filesystem and network grants the plugin asked for, and a cgroup sized
 * from its memory and thread limits plus the runtime allowance (`withRuntimeAllowance`).
 */
export function sandboxConfigFor(req: PluginRequirements, limits: ResourceLimits): SandboxConfig {
  const fsReq = req.filesystem;
  const binds: BindMount[] =
    fsReq.mode === 'none'
      ? []
      : fsReq.paths.map((source) => ({
          source,
          mode: fsReq.mode === 'readWrite' ? ('rw' as const) : ('ro' as const),
        }));
  const base = defaultSandboxConfig();
  const sized = withRuntimeAllowance(limits);
  return defaultSandboxConfig({
    // Full network means the host's network namespace (bwrap refuses `full` with a private one); isolated and
    // restricted (brokered fetch) keep their own empty namespace.
    namespaces: { ...base.namespaces, net: req.network.mode !== 'full' },
    filesystem: { binds, tmpfsBytes: DEFAULT_TMPFS_BYTES, maskPaths: [] },
    network: req.network,
    cgroup: {
      memoryBytes: sized.maxHeapBytes,
      swapBytes: 0,
      pidsMax: sized.maxThreads,
    },
  });
}
