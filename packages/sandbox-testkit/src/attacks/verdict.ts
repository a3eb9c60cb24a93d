import type { GoalVerdict } from '../attack.js';
import type { LoadOutcome } from '../scene.js';

/** The goal failed because the registry refused the plugin (a coded error is a fine answer to an attack). */
export function refusedAtLoad(load: LoadOutcome & { loaded: false }): GoalVerdict {
  return {
    escaped: false,
    evidence: `load refused: ${load.error.code}: ${load.error.message.slice(0, 160)}`,
  };
}

/** `key=value` pairs of a report, for evidence lines. */
export function pairs(reports: Record<string, string>, keys: readonly string[]): string {
  return keys.map((k) => `${k}=${reports[k] ?? '∅'}`).join(' ');
}

/** A report value that says the step succeeded (the JS `attempt` helper's 'ok' or a non-error value). */
export function succeeded(value: string | undefined): boolean {
  return value !== undefined && !value.startsWith('ERR');
}

/**
 * The goal can't be judged: the plugin loaded but never reported (its `done` comes at the end of init whatever the
 * attack's steps did), so its log lines did not reach the host's log sink. Never a silent pass: the result is `error`.
 */
export function noReport(what: string, reports: Record<string, string>): never {
  throw new Error(
    `the plugin loaded but never reported ${what} (${Object.keys(reports).length} report lines): its log lines do not reach the host's log sink, so the kit cannot judge this attack`,
  );
}
