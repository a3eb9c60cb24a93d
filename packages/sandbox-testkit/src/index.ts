/**
 * @plugward/sandbox-testkit — the sandbox attack suite as a kit. Hostile plugins (JS, and native `.so` files compiled
 * at test time that call `syscall()` directly), loaded untrusted through a `PluginRegistry` over the backend under
 * test; each attack asserts its goal failed, the host stayed healthy and nothing was left behind.
 * @packageDocumentation
 */

export type {
  AttackClass,
  AttackDefinition,
  AttackInfo,
  AttackResult,
  CheckResult,
  GoalVerdict,
} from './attack.js';
export { cgroupsMatching, privateCopiesMatching, processesMatching } from './leftovers.js';
export { attacks, formatResult, type RunAttackKitOptions, runAttackKit } from './run-attack-kit.js';
export {
  AttackSkipped,
  type LoadOutcome,
  type LogLine,
  type PluginFileOptions,
  PROBE_HOOKS,
  type RegistryFactory,
  Scene,
  type StartOptions,
} from './scene.js';
/** Layer of this package in the Plugward dependency direction (DESIGN.md section 1: beside the registry, above it). */
export const LAYER = 4;
