// The attacker's side of handler budgets: many executions in flight at once, each handler quick, hanging or cancelled,
// with budgets in random order. A budget must fire for its own handler, not early (a cancelled deadline must not fire
// for someone else's handler), not much late, and never for a handler that answered in time; after thousands of
// cancellations the registry still times out a lone hang (its deadline machinery is not left disarmed). Guards any
// deadline mechanism (per-call timers or one shared queue).
import { isPluginError } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { HookRegistry } from './hook-registry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = new Promise<Uint8Array>(() => {});
// A loaded 2-core machine delays timers; a budget firing early is what must never happen.
const LATE_SLACK_MS = 400;
const EARLY_SLACK_MS = 2;

type Kind = 'quick' | 'hang' | 'abort';
interface Case {
  kind: Kind;
  timeoutMs: number;
  delayMs: number;
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('audit: handler budgets under many concurrent executions', () => {
  it('each fires for its own handler, on time; answered and cancelled ones never time out', async () => {
    const hooks = new HookRegistry();
    const rand = seeded(17);
    const cases: Case[] = [];
    for (let i = 0; i < 300; i++) {
      const kind: Kind = (['quick', 'hang', 'abort'] as const)[Math.floor(rand() * 3)] as Kind;
      const timeoutMs = 20 + Math.floor(rand() * 120);
      // Quick ones answer well inside their budget; aborts come before the budget.
      const delayMs =
        kind === 'quick' ? Math.floor(rand() * timeoutMs * 0.3) : Math.floor(rand() * timeoutMs * 0.5);
      cases.push({ kind, timeoutMs, delayMs });
      hooks.register(
        `h${i}`,
        100,
        async (d) => {
          if (kind !== 'quick') return never;
          // Answered within the same turn (a timer could be delayed past the budget on a loaded machine).
          await null;
          return d;
        },
        { timeoutMs },
      );
    }
    const outcomes = await Promise.all(
      cases.map(async (c, i) => {
        const ac = c.kind === 'abort' ? new AbortController() : undefined;
        const started = performance.now();
        let abortedAt = Number.POSITIVE_INFINITY;
        if (ac)
          setTimeout(() => {
            abortedAt = performance.now() - started;
            ac.abort();
          }, c.delayMs);
        try {
          const out = await hooks.execute(
            `h${i}`,
            new Uint8Array([i & 0xff]),
            ac ? { signal: ac.signal } : {},
          );
          return { i, c, took: performance.now() - started, abortedAt, result: `ok:${out[0]}` };
        } catch (e) {
          return {
            i,
            c,
            took: performance.now() - started,
            abortedAt,
            result: isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`,
          };
        }
      }),
    );
    const wrong: string[] = [];
    for (const { i, c, took, abortedAt, result } of outcomes) {
      // An abort the loaded event loop delayed past the budget may fairly lose to the budget.
      const allowed =
        c.kind === 'quick'
          ? [`ok:${i & 0xff}`]
          : c.kind === 'hang'
            ? ['HookTimeout']
            : abortedAt < c.timeoutMs
              ? ['Aborted']
              : ['Aborted', 'HookTimeout'];
      if (!allowed.includes(result))
        wrong.push(`#${i} ${c.kind} (${c.timeoutMs} ms): ${result} after ${took.toFixed(1)} ms`);
      if (c.kind === 'hang' && took < c.timeoutMs - EARLY_SLACK_MS)
        wrong.push(`#${i} hang timed out early: ${took.toFixed(1)} ms < ${c.timeoutMs} ms`);
      if (c.kind === 'hang' && took > c.timeoutMs + LATE_SLACK_MS)
        wrong.push(`#${i} hang timed out late: ${took.toFixed(1)} ms for ${c.timeoutMs} ms`);
    }
    expect(wrong).toEqual([]);
    // Idle, then one lone hang: its budget still fires.
    await sleep(50);
    hooks.register('lone', 100, () => never, { timeoutMs: 30 });
    const started = performance.now();
    const err = await hooks.execute('lone', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(err, 'HookTimeout')).toBe(true);
    expect(performance.now() - started).toBeLessThan(30 + LATE_SLACK_MS);
  }, 30_000);

  it('an early deadline cancelled while a later one waits: the later one fires at its own time, not before', async () => {
    const hooks = new HookRegistry();
    hooks.register('fast', 100, async (d) => d, { timeoutMs: 10 });
    hooks.register('slowhang', 100, () => never, { timeoutMs: 150 });
    const started = performance.now();
    const hang = hooks.execute('slowhang', new Uint8Array()).catch((e: unknown) => e);
    // Many short deadlines made and cancelled meanwhile (each answered at once).
    for (let i = 0; i < 2000; i++) await hooks.execute('fast', new Uint8Array([1]));
    const err = await hang;
    const took = performance.now() - started;
    expect(isPluginError(err, 'HookTimeout')).toBe(true);
    expect(took).toBeGreaterThanOrEqual(150 - EARLY_SLACK_MS);
    expect(took).toBeLessThan(150 + LATE_SLACK_MS);
  }, 30_000);

  it('a whole-execution budget fires for a chain of hangs whose own budgets are longer', async () => {
    const hooks = new HookRegistry();
    for (let i = 0; i < 5; i++) hooks.register('chain', i, () => never, { timeoutMs: 10_000 });
    const started = performance.now();
    const err = await hooks.execute('chain', new Uint8Array(), { timeoutMs: 80 }).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(isPluginError(err, 'HookTimeout')).toBe(true);
    expect(took).toBeGreaterThanOrEqual(80 - EARLY_SLACK_MS);
    expect(took).toBeLessThan(80 + LATE_SLACK_MS);
  });
});
