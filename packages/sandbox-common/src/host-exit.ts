// The host tag lives in @plugward/host-state (limits names cgroups with it too); re-exported for this package's users.
export {
  type HostOwner,
  hostGone,
  hostTag,
  parseHostTag,
  pidAlive,
} from '@plugward/host-state';

const pending = new Set<() => void>();
const killers = new Set<() => void>();
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.once('exit', () => {
    // Every sandbox is killed first, then each one's cleanup waits for its own: the kills run in parallel.
    for (const group of [killers, pending]) {
      for (const c of [...group]) {
        try {
          c();
        } catch {
          // Swept by the next host.
        }
      }
    }
  });
}

/**
 * Runs `cleanup` when this host process exits normally (a host that never awaited its sandboxes still removes their
 * directories and leases), unless the returned function is called first — once the cleanup ran on its own. `kill`,
 * when given, runs before every registered cleanup (of this and other sandboxes): what a cleanup waits on was
 * signalled already. A host killed with SIGKILL runs nothing: its sandboxes die with it (parent-death signal), and the
 * next host's sweeps remove what it left.
 */
export function onHostExit(cleanup: () => void, kill?: () => void): () => void {
  pending.add(cleanup);
  if (kill !== undefined) killers.add(kill);
  install();
  return () => {
    pending.delete(cleanup);
    if (kill !== undefined) killers.delete(kill);
  };
}
