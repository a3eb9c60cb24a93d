// The registry's violations seam: recording a violation and the automatic unmount it may start; unmount behaviours.
// Internal to @plugward/registry: src/index.ts exports none of it.
import { resolveUnmountBehavior } from '@plugward/limits';
import { PluginError, type UnmountBehavior, type ViolationType } from '@plugward/types';
import { unloadPlugin } from './registry-lifecycle.js';
import { type Entry, emit, type RegistryState, unmountBehaviorOf } from './registry-state.js';

/** `PluginRegistry.setUnmountBehavior`: the default behaviour, or one plugin's (validated). */
export function setUnmountBehavior(
  s: RegistryState,
  first: string | Partial<UnmountBehavior>,
  second?: Partial<UnmountBehavior>,
): void {
  if (typeof first === 'string') {
    if (first === '') throw new PluginError('InvalidArgument', 'plugin name must be a non-empty string');
    if (second === undefined) {
      throw new PluginError('InvalidArgument', `setUnmountBehavior(${first}, …) needs a behaviour`, {
        plugin: first,
      });
    }
    s.unmountByName.set(first, resolveUnmountBehavior(second));
    return;
  }
  s.unmount = resolveUnmountBehavior(first);
}

/**
 * Records a violation on the entry's tracker, logs and emits it, and starts the automatic unmount when the
 * threshold is reached (`autoUnmount` on, plugin Active, `mayUnmount`). Returns the tracker's `shouldUnmount`.
 */
export function noteViolation(
  s: RegistryState,
  entry: Entry,
  violation: ViolationType,
  mayUnmount = true,
): boolean {
  entry.tracker.recordViolation(violation);
  const should = entry.tracker.shouldUnmount();
  const name = entry.info.name;
  const b = unmountBehaviorOf(s, name);
  const willUnmount =
    mayUnmount && should && b.autoUnmount && entry.info.status === 'Active' && !entry.unmounting;
  if (b.logViolations) {
    s.log(name, 'warn', `violation ${JSON.stringify(violation)}${willUnmount ? ' → unmounting' : ''}`);
  }
  emit(s, 'violation', { name, violation, count: entry.tracker.violationCount(), willUnmount });
  if (willUnmount) {
    const unmounting: Promise<void> = unloadPlugin(s, name, 'violations')
      .catch((e: unknown) => s.log(name, 'error', `auto-unmount failed: ${(e as Error).message}`))
      .finally(() => {
        if (entry.unmounting === unmounting) entry.unmounting = undefined;
      });
    entry.unmounting = unmounting;
  }
  return should;
}
