/**
 * The kit as a vitest suite: `defineAttackSuite({ backend })` in a backend package's test file gives one `it` per
 * attack. Import from `@plugward/sandbox-testkit/vitest` (vitest is an optional peer dependency).
 * @packageDocumentation
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { AttackResult } from './attack.js';
import { attacks, formatResult, type RunAttackKitOptions, runAttackKit } from './run-attack-kit.js';

/** Options of {@link defineAttackSuite}. */
export interface AttackSuiteOptions extends RunAttackKitOptions {
  /** Suite title (default `attack kit: <backend name>`). */
  name?: string;
  /**
   * Attack ids known to escape today. Each is still run and asserted to *escape* (so the day a fix contains it the
   * test fails and says to remove it from the list); printed at the start so nobody mistakes it for a pass.
   */
  expectedToEscape?: readonly string[];
  /** Time for the whole kit (default 10 min). */
  timeoutMs?: number;
}

/**
 * Defines one vitest `describe` with one `it` per attack. The kit runs once (attacks concurrently) before the tests;
 * each `it` asserts its attack was contained (or, if listed in `expectedToEscape`, that it still escapes), and prints
 * the evidence line. An attack the machine can't run (no C compiler) is skipped with the reason printed.
 */
export function defineAttackSuite(options: AttackSuiteOptions): void {
  const expected = new Set(options.expectedToEscape ?? []);
  const unknown = [...expected].filter((id) => !attacks.some((a) => a.id === id));
  describe(options.name ?? `attack kit: ${options.backend.name}`, () => {
    const results = new Map<string, AttackResult>();
    beforeAll(async () => {
      if (expected.size > 0)
        console.warn(
          `\n*** attack kit: ${expected.size} attack(s) EXPECTED TO ESCAPE (asserted to escape, not skipped):\n    ${[...expected].join('\n    ')}\n`,
        );
      for (const r of await runAttackKit({
        ...options,
        onResult: (r) => {
          console.log(formatResult(r));
          options.onResult?.(r);
        },
      }))
        results.set(r.id, r);
      const c = [...results.values()];
      console.log(
        `attack kit: ${c.filter((r) => r.outcome === 'contained').length} contained, ${c.filter((r) => r.outcome === 'escaped').length} escaped, ${c.filter((r) => r.outcome === 'skipped').length} skipped, ${c.filter((r) => r.outcome === 'error').length} errors (of ${c.length})`,
      );
    }, options.timeoutMs ?? 600_000);

    it('names only known attacks in expectedToEscape', () => {
      expect(unknown).toEqual([]);
    });

    for (const a of attacks) {
      const selectedOnly = options.only?.length && !options.only.some((x) => x === a.id || x === a.class);
      const skipped = options.skip?.some((x) => x === a.id || x === a.class);
      if (selectedOnly || skipped) continue;
      it(`${a.id}: ${a.title}`, (ctx) => {
        const r = results.get(a.id);
        expect(r, `no result for ${a.id}`).toBeDefined();
        if (!r) return;
        if (r.outcome === 'skipped') {
          console.warn(`!!! SKIPPED ${a.id}: ${r.evidence}`);
          ctx.skip(r.evidence);
          return;
        }
        expect(r.outcome, `${a.id}: ${r.evidence}`).not.toBe('error');
        if (expected.has(a.id)) {
          expect(
            r.outcome,
            `${a.id} is now contained (${r.evidence}): remove it from the expected-to-escape list`,
          ).toBe('escaped');
        } else {
          expect(r.outcome, `${a.id} ESCAPED: ${r.evidence}`).toBe('contained');
        }
      });
    }
  });
}
