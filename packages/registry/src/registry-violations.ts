// The registry's violations seam: recording a violation and the automatic unmount it may start; unmount behaviours.
// Internal to @plugward/registry: src/index.ts exports none of it.
import { autoUnmountReason, resolveUnmountBehavior } from '@plugward/limits';
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
 * Records a violation on the entry's tracker, announces it, and starts the automatic unmount when the one unmount
 * decision (`autoUnmountReason`: the tracker says so and `autoUnmount` is on) holds for an Active plugin and
 * `mayUnmount`. Returns the tracker's `shouldUnmount`. The monitor's readings take the same decision inside its
 * `ResourceMonitor` and land in {@link announceViolation} and {@link startAutoUnmount}.
 */
export function noteViolation(
  s: RegistryState,
  entry: Entry,
  violation: ViolationType,
  mayUnmount = true,
): boolean {
  entry.tracker.recordViolation(violation);
  const decided = autoUnmountReason(entry.tracker, unmountBehaviorOf(s, entry.info.name)) !== undefined;
  const willUnmount = mayUnmount && decided && mayStartUnmount(entry);
  announceViolation(s, entry, violation, willUnmount);
  if (willUnmount) startAutoUnmount(s, entry);
  return entry.tracker.shouldUnmount();
}

/** Whether an automatic unmount may start now: the plugin is Active and none is under way. */
export function mayStartUnmount(entry: Entry): boolean {
  return entry.info.status === 'Active' && !entry.unmounting;
}

/** Logs (when the behaviour's `logViolations` holds) and emits a recorded violation. */
export function announceViolation(
  s: RegistryState,
  entry: Entry,
  violation: ViolationType,
  willUnmount: boolean,
): void {
  const name = entry.info.name;
  if (unmountBehaviorOf(s, name).logViolations) {
    s.log(name, 'warn', `violation ${JSON.stringify(violation)}${willUnmount ? ' → unmounting' : ''}`);
  }
  emit(s, 'violation', { name, violation, count: entry.tracker.violationCount(), willUnmount });
}

/**
 * Starts the automatic unmount of `entry` (`unloadPlugin` with reason `violations`: its grace period, shutdown rule
 * and teardown), unless it is not Active or one is under way; `entry.unmounting` holds it until it ends.
 */
export function startAutoUnmount(s: RegistryState, entry: Entry): void {
  if (!mayStartUnmount(entry)) return;
  const name = entry.info.name;
  const unmounting: Promise<void> = unloadPlugin(s, name, 'violations')
    .catch((e: unknown) => s.log(name, 'error', `auto-unmount failed: ${(e as Error).message}`))
    .finally(() => {
      if (entry.unmounting === unmounting) entry.unmounting = undefined;
    });
  entry.unmounting = unmounting;
}
