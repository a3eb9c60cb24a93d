/**
 * @plugward/sandbox-testkit — the sandbox attack suite as a kit. Hostile plugins (JS, and native `.so` files compiled
 * at test time that call `syscall()` directly), loaded untrusted through a `PluginRegistry` over the backend under
 * test; each attack asserts its goal failed, the host stayed healthy and nothing was left behind.
 * @packageDocumentation
 */

export type { AttackClass, AttackInfo, AttackResult, CheckResult, GoalVerdict } from './attack.js';
export { cgroupsMatching, processesMatching } from './leftovers.js';
export { attacks, formatResult, type RunAttackKitOptions, runAttackKit } from './run-attack-kit.js';
export type { RegistryFactory } from './scene.js';
