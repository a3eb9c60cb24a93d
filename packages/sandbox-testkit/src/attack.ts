import type { Scene } from './scene.js';

/**
 * The attack classes of the kit: the properties a sandbox and the registry must hold for an untrusted plugin
 * (see the package README for what each checks).
 */
export type AttackClass =
  | 'identity'
  | 'procfs'
  | 'per-user-limits'
  | 'grants'
  | 'host-fds'
  | 'display'
  | 'quotas'
  | 'name-shadowing'
  | 'protocol'
  | 'cpu'
  | 'exec'
  | 'namespaces'
  | 'hooks'
  | 'cleanup'
  | 'flow-control'
  | 'ipc'
  | 'supply-chain';

/** What an attack saw of its own goal: whether the plugin got what it came for, and the line that shows it. */
export interface GoalVerdict {
  /** True when the attack reached its goal (the host file changed, the secret was read, the connection was made…). */
  escaped: boolean;
  /** One line a person can check: what the plugin did and what it got (or the error that stopped it). */
  evidence: string;
}

/** One named attack: run by {@link runAttackKit} inside a fresh {@link Scene} (its own registry, keys and plugins). */
export interface AttackDefinition {
  /** Stable id, e.g. `procfs.sysctl-write`; what `only`/`skip` and expected-escape lists name. */
  readonly id: string;
  readonly class: AttackClass;
  readonly title: string;
  /** What the hostile plugin tries, in a sentence. */
  readonly tries: string;
  /** Needs a C compiler (a native `.so` plugin calling `syscall()` directly). */
  readonly native?: boolean;
  /** Runs alone (it measures something other attacks would disturb: host RSS, per-user kernel limits). */
  readonly exclusive?: boolean;
  /** Performs the attack through the scene and judges its goal. */
  run(scene: Scene): Promise<GoalVerdict>;
}

/** The public description of an attack (the {@link attacks} list). */
export type AttackInfo = Pick<AttackDefinition, 'id' | 'class' | 'title' | 'tries' | 'native' | 'exclusive'>;

/** One of the three checks of an attack's result. */
export interface CheckResult {
  ok: boolean;
  evidence: string;
}

/**
 * The result of one attack. `contained` means all three held: the goal failed, the host stayed healthy (a trusted
 * in-process plugin still answers a hook and the host's own context writes work) and nothing was left behind (no
 * plugin process, no cgroup) after `registry.close()`. `escaped` means at least one failed. `skipped` (with the reason
 * in `evidence`) only when the machine lacks something the attack needs (no C compiler); `error` when the kit itself
 * could not run the attack.
 */
export interface AttackResult {
  id: string;
  class: AttackClass;
  title: string;
  outcome: 'contained' | 'escaped' | 'skipped' | 'error';
  /** The deciding line: the goal's evidence, or the failed check's. */
  evidence: string;
  /** (1) the attack's goal failed (`ok`) or was reached. */
  goal: CheckResult;
  /** (2) the host stayed healthy. */
  health: CheckResult;
  /** (3) no plugin process or cgroup of this attack is left after `registry.close()`. */
  leftovers: CheckResult;
  durationMs: number;
}
