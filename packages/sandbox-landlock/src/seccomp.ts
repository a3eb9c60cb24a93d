import { type LibSeccomp, loadLibSeccomp, loadSeccompProfile } from '@plugward/sandbox-common';
import type { SeccompRule } from '@plugward/types';

/**
 * Builds a default-allow filter from `rules` and loads it on the **calling thread only** (no TSYNC): the launcher
 * calls it on its main thread right before `execveat`, and the new image inherits it whole. Sets no_new_privs.
 * Syscall names unknown on this architecture are skipped.
 */
export function loadThreadFilter(rules: readonly SeccompRule[], lib: LibSeccomp = loadLibSeccomp()): void {
  loadSeccompProfile(lib, { defaultAction: { action: 'allow' }, rules }, { allThreads: false });
}
