import {
  DEFAULT_TMPFS_BYTES,
  defaultSandboxConfig,
  RUNTIME_MEMORY_HEADROOM_BYTES,
} from '@plugward/sandbox-linux';
import {
  type BindMount,
  MIN_THREADS_FOR_NODE,
  type PluginRequirements,
  type ResourceLimits,
  type SandboxConfig,
} from '@plugward/types';

/**
 * The sandbox of one plugin, from what it declared and its (host-capped) limits: the strict default of
 * @plugward/sandbox-linux, plus exactly the filesystem and network grants the plugin asked for, and a cgroup sized
 * from its memory and thread limits.
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
  return defaultSandboxConfig({
    // Full network means the host's network namespace (bwrap refuses `full` with a private one); isolated and
    // restricted (brokered fetch) keep their own empty namespace.
    namespaces: { ...base.namespaces, net: req.network.mode !== 'full' },
    filesystem: { binds, tmpfsBytes: DEFAULT_TMPFS_BYTES, maskPaths: [] },
    network: req.network,
    cgroup: {
      memoryBytes: limits.maxHeapBytes + RUNTIME_MEMORY_HEADROOM_BYTES,
      swapBytes: 0,
      pidsMax: MIN_THREADS_FOR_NODE + limits.maxThreads,
    },
  });
}
