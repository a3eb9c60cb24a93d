import { spawnSync } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { LandlockSandbox, type LandlockSandboxOptions } from '@plugward/sandbox-landlock';
import { findBwrap, LinuxSandbox, type LinuxSandboxOptions } from '@plugward/sandbox-linux';
import { PluginError, type SandboxBackend, type SandboxSupportReport } from '@plugward/types';

/** Which sandbox backend a host wants: the strongest that works (`auto`), or one by name (never another). */
export type SandboxPreference = 'auto' | 'bwrap' | 'landlock';

/** The sandbox backends, strongest first: bubblewrap has pid/mount/net namespaces, Landlock has none. */
export const SANDBOX_BACKENDS = ['bwrap', 'landlock'] as const;

/** One backend as found on this machine. */
export interface BackendProbe {
  id: (typeof SANDBOX_BACKENDS)[number];
  /** Its `checkSupport()` report. */
  report: SandboxSupportReport;
  /** A real start-up attempt where the report can't tell (bwrap creating its namespaces): ok, or the error. */
  trial?: { ok: boolean; detail: string };
}

/** What {@link decideSandboxBackend} chose, and why. */
export interface BackendDecision {
  /** The backend to use; `undefined` when none works (untrusted plugins are then refused). */
  id: BackendProbe['id'] | undefined;
  reason: string;
}

function whyNot(p: BackendProbe): string {
  if (p.trial !== undefined && !p.trial.ok) return p.trial.detail;
  const missing = p.report.features.filter((f) => !f.available && f.installHint !== undefined);
  return missing.length === 0 ? 'not supported' : missing.map((f) => `${f.feature}: ${f.detail}`).join('; ');
}

function works(p: BackendProbe | undefined): p is BackendProbe {
  return p?.report.supported === true && (p.trial === undefined || p.trial.ok);
}

/**
 * The backend choice as a pure function: `auto` takes the strongest that works — bwrap, then
 * Landlock — and says why the stronger one was passed over; a forced choice is that backend or none, never a
 * fallback the host did not ask for.
 */
export function decideSandboxBackend(
  prefer: SandboxPreference,
  probes: readonly BackendProbe[],
): BackendDecision {
  const byId = new Map(probes.map((p) => [p.id, p]));
  const describe = (p: BackendProbe): string => {
    const detail = p.report.features.find(
      (f) => f.feature === (p.id === 'bwrap' ? 'bubblewrap' : 'landlock'),
    )?.detail;
    return detail === undefined ? p.id : `${p.id} (${detail})`;
  };
  if (prefer !== 'auto') {
    const p = byId.get(prefer);
    if (works(p)) return { id: prefer, reason: `${describe(p)}: forced by the host` };
    return {
      id: undefined,
      reason: `${prefer} was forced but can't run here: ${p === undefined ? 'not probed' : whyNot(p)}`,
    };
  }
  const passed: string[] = [];
  for (const id of SANDBOX_BACKENDS) {
    const p = byId.get(id);
    if (p === undefined) continue;
    if (works(p)) {
      const strongest = passed.length === 0 ? 'the strongest backend, available' : passed.join('; ');
      return { id, reason: `${describe(p)}: ${strongest}` };
    }
    passed.push(`${id} unavailable: ${whyNot(p)}`);
  }
  return { id: undefined, reason: `no sandbox backend works here: ${passed.join('; ')}` };
}

/**
 * Tries what `checkSupport()` can't see: whether bwrap can create its namespaces here (a container's seccomp profile
 * denies it: "No permissions to create new namespace"). Returns the first line bwrap printed when it can't.
 */
export function trialBwrap(bwrapPath?: string): { ok: boolean; detail: string } {
  let bwrap: string;
  try {
    bwrap = findBwrap(bwrapPath).path;
  } catch (e) {
    return { ok: false, detail: e instanceof Error ? e.message : String(e) };
  }
  const args = ['--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--die-with-parent'];
  const r = spawnSync(bwrap, [...args, '--ro-bind', '/', '/', '/bin/true'], {
    encoding: 'utf8',
    env: {},
    timeout: 5000,
  });
  if (r.status === 0) return { ok: true, detail: 'namespaces created' };
  const line =
    `${r.stderr ?? ''}`.split('\n').find((l) => l.trim() !== '') ?? r.error?.message ?? `exit ${r.status}`;
  return { ok: false, detail: `bwrap can't create namespaces here: ${line.trim()}` };
}

/** Options of {@link chooseSandboxBackend}. */
export interface ChooseSandboxOptions {
  /** Default `auto`. */
  prefer?: SandboxPreference;
  linux?: LinuxSandboxOptions;
  landlock?: LandlockSandboxOptions;
  /** Probe every backend the preference allows, even past the first that works (for reports). Default false. */
  probeAll?: boolean;
}

/** The chosen backend (or none), why, and every probe for a report such as `plugward doctor`. */
export interface SandboxChoice {
  backend: SandboxBackend<Duplex> | undefined;
  id: BackendDecision['id'];
  reason: string;
  probes: BackendProbe[];
}

/**
 * Probes the sandbox backends on this machine and picks one: bwrap when it can create its namespaces, else Landlock
 * (containers), else none — `reason` says which and why. `prefer` forces one.
 *
 * @example
 * ```ts
 * const { backend, reason } = await chooseSandboxBackend();
 * console.log(reason); // "bwrap (/usr/bin/bwrap 0.8.0): the strongest backend, available"
 * const registry = new PluginRegistry({ security, sandbox: backend });
 * ```
 */
export async function chooseSandboxBackend(options: ChooseSandboxOptions = {}): Promise<SandboxChoice> {
  const prefer = options.prefer ?? 'auto';
  if (!['auto', ...SANDBOX_BACKENDS].includes(prefer)) {
    throw new PluginError(
      'InvalidArgument',
      `sandbox must be auto, bwrap or landlock, got ${String(prefer)}`,
    );
  }
  const linux = new LinuxSandbox(options.linux);
  const landlock = new LandlockSandbox(options.landlock);
  const probes: BackendProbe[] = [];
  if (prefer !== 'landlock') {
    const report = await linux.checkSupport();
    probes.push({
      id: 'bwrap',
      report,
      trial: report.supported ? trialBwrap(options.linux?.bwrapPath) : undefined,
    });
  }
  const bwrapWorks = probes[0] !== undefined && works(probes[0]);
  if (prefer === 'landlock' || (prefer === 'auto' && (!bwrapWorks || options.probeAll === true))) {
    probes.push({ id: 'landlock', report: await landlock.checkSupport() });
  }
  const decision = decideSandboxBackend(prefer, probes);
  const backend = decision.id === 'bwrap' ? linux : decision.id === 'landlock' ? landlock : undefined;
  return { backend, id: decision.id, reason: decision.reason, probes };
}
