import { HandlerTimeout, HookRegistry } from '@plugward/hooks';
import type { HookCallInfo } from '@plugward/types';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CallBudget } from './call-budget.js';
import { type IsolatedFailure, isolatedHandler } from './isolated-handler.js';

const input = new Uint8Array([1, 2, 3]);
const info: HookCallInfo = { hookName: 'h' };

describe('isolatedHandler', () => {
  it('passes a good result through', async () => {
    const out = new Uint8Array([9]);
    expect(
      await isolatedHandler(
        () => out,
        100,
        () => {},
      )(input, info),
    ).toBe(out);
  });

  it('a throw, a bad return or an overrun gives back the input and says why', async () => {
    const seen: IsolatedFailure[] = [];
    const record = (_e: unknown, kind: IsolatedFailure) => seen.push(kind);
    expect(
      await isolatedHandler(
        () => {
          throw new Error('boom');
        },
        100,
        record,
      )(input, info),
    ).toBe(input);
    expect(await isolatedHandler(() => 'nope' as never, 100, record)(input, info)).toBe(input);
    let signal: AbortSignal | undefined;
    const started = performance.now();
    const hung = isolatedHandler(
      (_d, i) => {
        signal = i.signal;
        return new Promise<Uint8Array>(() => {});
      },
      50,
      record,
    );
    expect(await hung(input, info)).toBe(input);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(HandlerTimeout);
    expect(seen).toEqual(['error', 'bad-return', 'timeout']);
  });

  it("the host's own abort is not swallowed", async () => {
    const ctl = new AbortController();
    const h = isolatedHandler(
      (_d, i) =>
        new Promise<Uint8Array>((_, reject) =>
          i.signal?.addEventListener('abort', () => reject(i.signal?.reason)),
        ),
      1000,
      () => {},
    );
    const p = h(input, { hookName: 'h', signal: ctl.signal });
    ctl.abort(new Error('host cancelled'));
    await expect(p).rejects.toThrow('host cancelled');
  });

  it('a call the host cancelled before it started does not reach the handler', async () => {
    const ctl = new AbortController();
    ctl.abort(new Error('host cancelled'));
    let called = false;
    const seen: IsolatedFailure[] = [];
    const h = isolatedHandler(
      (d) => {
        called = true;
        return d;
      },
      1000,
      (_e, kind) => seen.push(kind),
    );
    await expect(h(input, { hookName: 'h', signal: ctl.signal })).rejects.toThrow('host cancelled');
    expect(called).toBe(false);
    expect(seen).toEqual([]);
  });

  it('a thenable whose then getter throws is an isolated error', async () => {
    const seen: IsolatedFailure[] = [];
    const hostile = {
      // biome-ignore lint/suspicious/noThenProperty: a hostile thenable on purpose
      get then() {
        throw new Error('hostile then');
      },
    };
    const h = isolatedHandler(
      () => hostile as never,
      1000,
      (_e, kind) => seen.push(kind),
    );
    expect(await h(input, info)).toBe(input);
    expect(seen).toEqual(['error']);
  });

  it("a plugin's handlers share one budget per execution: 4 handlers just under it can't hold a call for 4 budgets", async () => {
    const hooks = new HookRegistry();
    const budget = new CallBudget(200);
    const seen: IsolatedFailure[] = [];
    const nap = (d: Uint8Array) => new Promise<Uint8Array>((r) => setTimeout(() => r(d), 150));
    for (let i = 0; i < 4; i++) {
      const h = isolatedHandler(nap, 200, (_e, kind) => seen.push(kind), budget);
      hooks.register('h', 300 + i, h, { owner: 'slow', timeoutMs: 1200 });
    }
    // Two executions at once: each has its own budget, neither eats the other's.
    const started = performance.now();
    const outs = await Promise.all([hooks.execute('h', input), hooks.execute('h', input)]);
    const ms = performance.now() - started;
    expect(outs).toEqual([input, input]);
    expect(ms).toBeLessThan(400);
    expect(ms).toBeGreaterThanOrEqual(195);
    // Per execution: the first handler ran (150 ms), the second overran what was left (50 ms), the rest got nothing.
    expect(seen.filter((k) => k === 'timeout')).toHaveLength(6);
  });

  it('with isolate: false (failuresFailCall) the shared budget holds and the overrun fails the call', async () => {
    const hooks = new HookRegistry();
    const budget = new CallBudget(200);
    const nap = (d: Uint8Array) => new Promise<Uint8Array>((r) => setTimeout(() => r(d), 150));
    for (let i = 0; i < 4; i++) {
      const h = isolatedHandler(nap, 200, () => {}, budget, { isolate: false });
      hooks.register('h', 300 + i, h, { owner: 'slow', timeoutMs: 1200 });
    }
    const started = performance.now();
    const err = (await hooks.execute('h', input).catch((e: unknown) => e)) as { code?: string };
    expect(err.code).toBe('HookTimeout');
    expect(performance.now() - started).toBeLessThan(400);
    const thrower = isolatedHandler(
      () => {
        throw new Error('boom');
      },
      200,
      () => {},
      undefined,
      { isolate: false },
    );
    await expect(thrower(input, info)).rejects.toThrow('boom');
  });

  describe('a budget costs nothing until it fires (issue 17)', () => {
    const RealController = globalThis.AbortController;
    afterEach(() => {
      globalThis.AbortController = RealController;
      vi.restoreAllMocks();
    });

    it('calls that answer in time make no timer and no AbortController; the budget waits in the registry queue', async () => {
      const hooks = new HookRegistry();
      const budget = new CallBudget(500);
      const wrapped = isolatedHandler(
        (d) => new Promise<Uint8Array>((r) => setImmediate(() => r(d))),
        500,
        () => {},
        budget,
        { deadlines: hooks.deadlines },
      );
      hooks.register('h', 300, wrapped, { owner: 'untrusted', timeoutMs: 1500, budgetShareMs: 500 });
      await hooks.execute('h', input); // the registry's queue arms its one timer
      let controllers = 0;
      globalThis.AbortController = class extends RealController {
        constructor() {
          super();
          controllers++;
        }
      };
      const timers = vi.spyOn(globalThis, 'setTimeout');
      const pending = hooks.execute('h', input);
      // While it runs: the registry's own race and this call's budget, both in the registry's one queue.
      expect(hooks.deadlines.size).toBe(2);
      await pending;
      for (let i = 0; i < 200; i++) await hooks.execute('h', input);
      expect(hooks.deadlines.size).toBe(0);
      expect(controllers).toBe(0);
      expect(timers).not.toHaveBeenCalled();
    });

    /** A registry with one isolated handler that reads its signal and never answers. */
    function hungReader(budgetMs: number) {
      const hooks = new HookRegistry();
      const seen: IsolatedFailure[] = [];
      const got: { signal?: AbortSignal } = {};
      const wrapped = isolatedHandler(
        (_d, i) => {
          got.signal = i.signal;
          return new Promise<Uint8Array>(() => {});
        },
        budgetMs,
        (_e, kind) => seen.push(kind),
        undefined,
        { deadlines: hooks.deadlines },
      );
      hooks.register('h', 300, wrapped, { owner: 'untrusted', timeoutMs: budgetMs + 5000 });
      return { hooks, seen, got };
    }

    it('a handler that asks for its signal gets one, aborted with HandlerTimeout when the budget fires', async () => {
      const { hooks, seen, got } = hungReader(60);
      const started = performance.now();
      expect(await hooks.execute('h', input)).toEqual(input);
      expect(performance.now() - started).toBeLessThan(2000);
      expect(got.signal?.aborted).toBe(true);
      expect(got.signal?.reason).toBeInstanceOf(HandlerTimeout);
      expect(seen).toEqual(['timeout']);
    });

    it("the host's cancellation reaches a handler that asked for its signal, and is not the plugin's failure", async () => {
      const { hooks, seen, got } = hungReader(5000);
      const ctl = new AbortController();
      const p = hooks.execute('h', input, { signal: ctl.signal });
      ctl.abort(new Error('host cancelled'));
      await expect(p).rejects.toMatchObject({ code: 'Aborted' });
      expect(got.signal?.aborted).toBe(true);
      expect(got.signal?.reason).toMatchObject({ message: 'host cancelled' });
      // The wrapped call settled too (its budget left the queue), without a failure of the plugin.
      await new Promise((r) => setImmediate(r));
      expect(hooks.deadlines.size).toBe(0);
      expect(seen).toEqual([]);
    });
  });
});
