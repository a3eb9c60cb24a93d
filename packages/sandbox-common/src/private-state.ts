import { privateDirectoryProblem, privateLocationProblem } from '@plugward/host-state';
import { PluginError } from '@plugward/types';

/**
 * Refuses a place where the host keeps what decides uid leases or what a sandbox sees (lease files, per-sandbox and
 * warm folders, private copies, a seccomp filter on its way to bwrap) when another local user could swap it: whoever
 * can write a directory above it can rename it away and put their own in its place, so the check covers every
 * ancestor (`privateDirectoryProblem` / `privateLocationProblem` of @plugward/host-state).
 * - `'directory'`: `target` itself (when it exists) is this user's own real directory, not group/world-writable, and
 *   every directory above it is owned by this user or root and not group/world-writable unless sticky.
 * - `'location'`: only the directories holding `target` are judged (a sticky one like /tmp is fine: there only an
 *   entry's owner may rename it).
 * @throws PluginError `SandboxUnavailable` naming the path at fault (`details.path`, `details.problem`).
 */
export function assertPrivateHostState(target: string, place: 'directory' | 'location', what: string): void {
  let found: ReturnType<typeof privateDirectoryProblem>;
  try {
    found = place === 'directory' ? privateDirectoryProblem(target) : privateLocationProblem(target);
  } catch (cause) {
    throw new PluginError('SandboxUnavailable', `cannot inspect ${what} ${target}`, { cause });
  }
  if (found === undefined) return;
  throw new PluginError(
    'SandboxUnavailable',
    `${what} ${target} must be a place only this user (and root) can change — another user could swap it: ${found.message}`,
    {
      details: {
        path: found.path,
        problem: found.reason,
        hint: 'use a directory owned by this user (or root) that others cannot write, under directories others cannot write (or sticky, like /tmp)',
      },
    },
  );
}
