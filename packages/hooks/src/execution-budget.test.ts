import { isPluginError, PluginError } from '@plugward/types';
import { expect, it } from 'vitest';
import { ExecutionTimeout } from './hook-errors.js';
import { HookRegistry } from './hook-registry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it('bounds a whole execution: many handlers each within their own budget still end at the execution budget', async () => {
  // Each handler's own budget (1 s) is far above its 45 ms, so a loaded machine's late timers can't make one of them
  // overrun before the execution's 200 ms do.
  const hooks = new HookRegistry({ defaultTimeoutMs: 1000, executionTimeoutMs: 200 });
  const reasons: unknown[] = [];
  let ran = 0;
  for (let i = 0; i < 50; i++) {
    hooks.register('slow', i, async (d, info) => {
      ran++;
      info.signal?.addEventListener('abort', () => reasons.push(info.signal?.reason));
      // 45 ms, not a divisor of the 200 ms budget: the deadline falls inside a handler (180–225 ms), never on the
      // boundary between two, where it would be seen by the between-handlers check with no running handler to tell.
      await sleep(45);
      return d;
    });
  }
  const started = performance.now();
  const err = await hooks.execute('slow', new Uint8Array()).catch((e: unknown) => e);
  const took = performance.now() - started;
  expect(isPluginError(err, 'HookTimeout')).toBe(true);
  expect((err as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 200 });
  expect(took).toBeLessThan(1000); // all 50 in turn: 2250 ms
  expect(ran).toBeLessThan(10);
  // Whether a handler was running when the deadline passed depends on the timers' order on a loaded machine (a late
  // sleep and the deadline can expire in one wake-up, and the chain then ends between two handlers): what the running
  // handler is told is the next test's.
  expect(reasons.every((r) => r instanceof ExecutionTimeout)).toBe(true);
  await sleep(60);
  expect(ran).toBeLessThan(10); // nothing ran after the budget
});

it('tells the handler running at the execution deadline why it was stopped: not its own overrun', async () => {
  const hooks = new HookRegistry({ defaultTimeoutMs: 1000, executionTimeoutMs: 200 });
  const reasons: unknown[] = [];
  // It runs until it is stopped (at most its own 1 s budget): the 200 ms deadline always falls inside it.
  hooks.register('waits', 1, async (d, info) => {
    await new Promise<void>((resolve) => {
      info.signal?.addEventListener('abort', () => {
        reasons.push(info.signal?.reason);
        resolve();
      });
    });
    return d;
  });
  const err = await hooks.execute('waits', new Uint8Array()).catch((e: unknown) => e);
  expect(isPluginError(err, 'HookTimeout')).toBe(true);
  expect((err as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 200 });
  expect(reasons).toHaveLength(1);
  expect(reasons[0]).toBeInstanceOf(ExecutionTimeout);
});

it('takes a per-call budget, detects a synchronous overrun when it returns, and keeps Aborted for the caller', async () => {
  const hooks = new HookRegistry();
  hooks.register('busy', 1, (d) => {
    const end = performance.now() + 30;
    while (performance.now() < end) {}
    return d;
  });
  expect(await hooks.execute('busy', new Uint8Array([1]))).toEqual(new Uint8Array([1]));
  const err = await hooks.execute('busy', new Uint8Array(), { timeoutMs: 5 }).catch((e: unknown) => e);
  expect(isPluginError(err, 'HookTimeout')).toBe(true);
  hooks.register('wait', 1, async (d) => {
    await sleep(50);
    return d;
  });
  const ac = new AbortController();
  const pending = hooks.execute('wait', new Uint8Array(), { signal: ac.signal, timeoutMs: 1000 });
  ac.abort();
  expect(isPluginError(await pending.catch((e: unknown) => e), 'Aborted')).toBe(true);
  await expect(hooks.execute('wait', new Uint8Array(), { timeoutMs: -1 })).rejects.toThrow(PluginError);
  expect(() => new HookRegistry({ executionTimeoutMs: 0 })).toThrow(PluginError);
});

it('makes a handler signal only when asked, and one asked for after the budget fired is already aborted', async () => {
  const hooks = new HookRegistry({ defaultTimeoutMs: 30 });
  let late: AbortSignal | undefined;
  let lateRead!: () => void;
  const readLate = new Promise<void>((r) => {
    lateRead = r;
  });
  hooks.register('late', 1, async (d, info) => {
    await sleep(80); // past its 30 ms budget, without having looked at its signal
    late = info.signal;
    lateRead();
    return d;
  });
  const err = await hooks.execute('late', new Uint8Array()).catch((e: unknown) => e);
  expect(isPluginError(err, 'HookTimeout')).toBe(true);
  await readLate;
  expect(late?.aborted).toBe(true);
  // A synchronous handler that reads its signal gets a live one, linked to the execution's.
  const ac = new AbortController();
  let seen: AbortSignal | undefined;
  hooks.register('sync', 1, (d, info) => {
    seen = info.signal;
    return d;
  });
  await hooks.execute('sync', new Uint8Array([1]), { signal: ac.signal });
  expect(seen?.aborted).toBe(false);
});

it('grows a whole-execution budget with the chain, up to its ceiling', async () => {
  const hooks = new HookRegistry({
    executionTimeoutMs: 60,
    executionTimeoutPerHandlerMs: 50,
    executionTimeoutMaxMs: 250,
  });
  let ran = 0;
  const step = async (d: Uint8Array) => {
    ran++;
    await sleep(10);
    return d;
  };
  // 10 handlers of ≥ 10 ms each: past the 60 ms floor, within 10 × 50 ms.
  for (let i = 0; i < 10; i++) hooks.register('ten', i, step);
  expect(await hooks.execute('ten', new Uint8Array([3]))).toEqual(new Uint8Array([3]));
  // 40 of them: 40 × 50 ms is past the 250 ms ceiling, which bounds the chain.
  for (let i = 0; i < 40; i++) hooks.register('forty', i, step);
  ran = 0;
  const err = await hooks.execute('forty', new Uint8Array()).catch((e: unknown) => e);
  expect(isPluginError(err, 'HookTimeout')).toBe(true);
  expect((err as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 250 });
  expect(ran).toBeLessThan(26); // cut off at 250 ms: at most 25 steps of ≥ 10 ms ran
  // A per-call budget is what the caller said, whatever the chain's length.
  const fixed = await hooks.execute('ten', new Uint8Array(), { timeoutMs: 30 }).catch((e: unknown) => e);
  expect((fixed as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 30 });
  // A short synchronous chain keeps the floor.
  const sync = new HookRegistry({ executionTimeoutMs: 5, executionTimeoutPerHandlerMs: 1 });
  sync.register('spin', 1, (d) => {
    const end = performance.now() + 8;
    while (performance.now() < end) {}
    return d;
  });
  expect(
    isPluginError(await sync.execute('spin', new Uint8Array()).catch((e: unknown) => e), 'HookTimeout'),
  ).toBe(true);
});

it('refuses a ceiling without growth, or below the floor', () => {
  expect(() => new HookRegistry({ executionTimeoutMaxMs: 100 })).toThrow(/executionTimeoutPerHandlerMs/);
  expect(
    () =>
      new HookRegistry({
        executionTimeoutMs: 100,
        executionTimeoutPerHandlerMs: 1,
        executionTimeoutMaxMs: 50,
      }),
  ).toThrow(PluginError);
  expect(() => new HookRegistry({ executionTimeoutPerHandlerMs: 0 })).toThrow(PluginError);
});

it('adds each handler’s budgetShareMs to the whole-execution budget, for as long as it is registered', async () => {
  const hooks = new HookRegistry({ executionTimeoutMs: 40 });
  const share1 = hooks.register('shared', 1, (d) => d, { budgetShareMs: 30 });
  hooks.register('shared', 2, (d) => d, { budgetShareMs: 20 });
  // The last handler never settles: the execution ends at its whole budget, which the error names.
  hooks.register('shared', 3, () => new Promise<Uint8Array>(() => {}));
  const budgetOf = async (options?: { timeoutMs: number }) => {
    const err = await hooks.execute('shared', new Uint8Array(), options).catch((e: unknown) => e);
    expect(isPluginError(err, 'HookTimeout')).toBe(true);
    return (err as PluginError).details?.timeoutMs;
  };
  expect(await budgetOf()).toBe(40 + 30 + 20);
  share1.unregister();
  expect(await budgetOf()).toBe(40 + 20);
  // An execution's own budget is the caller's bound: not extended by shares.
  expect(await budgetOf({ timeoutMs: 25 })).toBe(25);
  // Without a whole-execution budget there is nothing to extend: a share alone sets none.
  const unbounded = new HookRegistry();
  unbounded.register('h', 1, (d) => d, { budgetShareMs: 10 });
  await expect(unbounded.execute('h', new Uint8Array([1]))).resolves.toEqual(new Uint8Array([1]));
  expect(() => hooks.register('shared', 4, (d) => d, { budgetShareMs: -1 })).toThrow(
    expect.objectContaining({ code: 'InvalidArgument' }),
  );
});
