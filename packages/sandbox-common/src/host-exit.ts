// The host tag lives in @plugward/host-state (limits names cgroups with it too); re-exported for this package's users.
export {
  type HostOwner,
  hostGone,
  hostTag,
  parseHostTag,
  pidAlive,
} from '@plugward/host-state';

const pending = new Set<() => void>();
let installed = false;

/**
 * Runs `cleanup` when this host process exits normally (a host that never awaited its sandboxes still removes their
 * directories and leases), unless the returned function is called first — once the cleanup ran on its own. A host
 * killed with SIGKILL runs nothing: the next host's sweeps remove what it left.
 */
export function onHostExit(cleanup: () => void): () => void {
  pending.add(cleanup);
  if (!installed) {
    installed = true;
    process.once('exit', () => {
      for (const c of [...pending]) {
        try {
          c();
        } catch {
          // Swept by the next host.
        }
      }
    });
  }
  return () => {
    pending.delete(cleanup);
  };
}
