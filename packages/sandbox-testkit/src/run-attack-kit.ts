import type { Duplex } from 'node:stream';
import { PluginRegistry } from '@plugward/registry';
import type { SandboxBackend } from '@plugward/types';
import type { AttackDefinition, AttackInfo, AttackResult, CheckResult } from './attack.js';
import { ATTACKS } from './attacks/index.js';
import { AttackSkipped, type RegistryFactory, Scene, withTimeout } from './scene.js';

/** Options of {@link runAttackKit}. */
export interface RunAttackKitOptions {
  /** The backend under test; the registry runs every untrusted plugin in it. */
  backend: SandboxBackend<Duplex>;
  /** Builds each attack's registry from the kit's options (see {@link RegistryFactory}). */
  registryFactory?: RegistryFactory;
  /** Run only these attack ids (or classes); empty or absent: all. */
  only?: readonly string[];
  /** Leave these attack ids (or classes) out. */
  skip?: readonly string[];
  /** Attacks run at once (default 2; attacks marked `exclusive` always run alone, after the others). */
  concurrency?: number;
  /** Longest time one attack may take, setup to leftover check (default 120 s). */
  attackTimeoutMs?: number;
  /** Called with each result as it is known (progress output). */
  onResult?: (result: AttackResult) => void;
}

/** The attacks of the kit: id, class, title and what each tries. */
export const attacks: readonly AttackInfo[] = Object.freeze(
  ATTACKS.map(({ id, class: c, title, tries, native, exclusive }) =>
    Object.freeze({
      id,
      class: c,
      title,
      tries,
      ...(native ? { native } : {}),
      ...(exclusive ? { exclusive } : {}),
    }),
  ),
);

function selected(a: AttackDefinition, opts: RunAttackKitOptions): boolean {
  const named = (list: readonly string[] | undefined) =>
    list?.some((x) => x === a.id || x === a.class) ?? false;
  if (opts.only?.length && !named(opts.only)) return false;
  return !named(opts.skip);
}

const NOT_RUN: CheckResult = { ok: true, evidence: 'not checked' };

async function runOne(a: AttackDefinition, opts: RunAttackKitOptions): Promise<AttackResult> {
  const t0 = performance.now();
  const base = { id: a.id, class: a.class, title: a.title };
  const scene = new Scene(opts.backend, opts.registryFactory ?? ((o) => new PluginRegistry(o)), a.id);
  let goal: CheckResult = NOT_RUN;
  let health: CheckResult = NOT_RUN;
  let leftovers: CheckResult = NOT_RUN;
  let outcome: AttackResult['outcome'];
  let evidence: string;
  try {
    try {
      const verdict = await withTimeout(a.run(scene), opts.attackTimeoutMs ?? 120_000, `attack ${a.id}`);
      goal = { ok: !verdict.escaped, evidence: verdict.evidence };
    } catch (e) {
      if (e instanceof AttackSkipped) {
        await scene.close();
        return { ...base, outcome: 'skipped', evidence: e.message, goal, health, leftovers, durationMs: 0 };
      }
      throw e;
    }
    health = scene.healthBeforeClose
      ? scene.healthBeforeClose
      : scene.started
        ? await scene.checkHealth()
        : { ok: false, evidence: 'the attack never started a registry' };
    await scene.close();
    leftovers = await scene.checkLeftovers();
    const failed = [goal, health, leftovers].find((c) => !c.ok);
    outcome = failed ? 'escaped' : 'contained';
    evidence = failed ? failed.evidence : goal.evidence;
  } catch (e) {
    outcome = 'error';
    evidence = `the kit could not run this attack: ${(e as Error).message}`;
    await scene.close();
    leftovers = await scene.checkLeftovers();
  } finally {
    scene.dispose();
  }
  return {
    ...base,
    outcome,
    evidence,
    goal,
    health,
    leftovers,
    durationMs: Math.round(performance.now() - t0),
  };
}

/**
 * Runs the attack kit against a sandbox backend: every attack in a fresh registry (a pinned publisher, a stranger's
 * untrusted plugin, `policy: { onlyTrusted: false }`, the backend as `sandbox`). Each result says whether the attack
 * was contained — its goal failed, the host stayed healthy, nothing was left behind — with the evidence line.
 * Independent attacks run `concurrency` at a time; results come back in the order of {@link attacks}.
 */
export async function runAttackKit(opts: RunAttackKitOptions): Promise<AttackResult[]> {
  const chosen = ATTACKS.filter((a) => selected(a, opts));
  const results = new Map<string, AttackResult>();
  const support = await opts.backend.checkSupport();
  if (!support.supported) {
    const missing = support.features
      .filter((f) => !f.available)
      .map((f) => `${f.feature}: ${f.detail}`)
      .join('; ');
    return chosen.map((a) => ({
      id: a.id,
      class: a.class,
      title: a.title,
      outcome: 'skipped',
      evidence: `backend ${opts.backend.name} is not supported on this machine (${missing})`,
      goal: NOT_RUN,
      health: NOT_RUN,
      leftovers: NOT_RUN,
      durationMs: 0,
    }));
  }
  // The control: a harmless untrusted plugin must load and report. Without it every "load refused" verdict below
  // would read as containment even if the backend can't run any plugin at all (a broken install, a missing library).
  const control = await runControl(opts);
  if (control !== undefined) {
    return chosen.map((a) => ({
      id: a.id,
      class: a.class,
      title: a.title,
      outcome: 'error',
      evidence: `control failed, no verdict is meaningful: ${control}`,
      goal: NOT_RUN,
      health: NOT_RUN,
      leftovers: NOT_RUN,
      durationMs: 0,
    }));
  }
  const record = (r: AttackResult) => {
    results.set(r.id, r);
    opts.onResult?.(r);
  };
  const shared = chosen.filter((a) => !a.exclusive);
  let next = 0;
  const worker = async () => {
    while (next < shared.length) {
      const a = shared[next++]!;
      record(await runOne(a, opts));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, worker));
  for (const a of chosen.filter((x) => x.exclusive)) record(await runOne(a, opts));
  return chosen.map((a) => results.get(a.id)!);
}

/** Loads a harmless untrusted plugin through the kit's scene; returns why it failed, or undefined when it ran. */
async function runControl(opts: RunAttackKitOptions): Promise<string | undefined> {
  const scene = new Scene(opts.backend, opts.registryFactory ?? ((o) => new PluginRegistry(o)), 'control');
  try {
    await scene.start();
    const name = scene.pluginName('control');
    const { load, reports } = await scene.attack(
      await scene.jsPlugin({ name, init: `report('alive', 'yes');` }),
      20_000,
    );
    if (!load.loaded)
      return `a harmless untrusted plugin was refused: ${load.error.code}: ${load.error.message}`;
    if (reports.alive !== 'yes') return 'a harmless untrusted plugin loaded but never reported';
    const health = await scene.checkHealth();
    return health.ok ? undefined : `the host is unhealthy with only a harmless plugin: ${health.evidence}`;
  } catch (e) {
    return `the control could not run: ${(e as Error).message}`;
  } finally {
    await scene.close().catch(() => undefined);
  }
}

/** One line per result: `contained|ESCAPED  id  evidence`. */
export function formatResult(r: AttackResult): string {
  const tag = { contained: 'contained', escaped: 'ESCAPED  ', skipped: 'skipped  ', error: 'ERROR    ' }[
    r.outcome
  ];
  return `${tag} ${r.id.padEnd(40)} ${r.evidence}`;
}
