import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type HookCallInfo, isPluginError, type PluginError } from '@plugward/types';
import { describe, expect, it, vi } from 'vitest';
import { ExecutionTimeout, HandlerTimeout } from './hook-errors.js';
import { HookRegistry } from './hook-registry.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const never = () => new Promise<Uint8Array>(() => {});

describe('time budgets of awaited handlers (one deadline queue per registry)', () => {
  it('1000 concurrent executions with mixed budgets time out in deadline order, each exactly once', async () => {
    const hooks = new HookRegistry();
    const started: number[] = [];
    const budget: number[] = [];
    const aborted: number[] = [];
    const abortedAt: number[] = [];
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 1000; i++) {
      budget.push(20 + ((i * 37) % 60));
      hooks.register(
        `h${i}`,
        1,
        (_d, info) => {
          started[i] = performance.now();
          info.signal?.addEventListener('abort', () => {
            aborted.push(i);
            abortedAt[i] = performance.now();
          });
          return never();
        },
        { timeoutMs: budget[i]! },
      );
    }
    // The registry reads its clock between `before[i]` and `started[i]`: the deadline it queues is in
    // [before + budget, started + budget], whatever preemption falls between the reads on a loaded machine.
    const before: number[] = [];
    for (let i = 0; i < 1000; i++) {
      before[i] = performance.now();
      pending.push(hooks.execute(`h${i}`, new Uint8Array([i & 255])));
    }
    const outcomes = await Promise.allSettled(pending);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      const err = (o as PromiseRejectedResult).reason as PluginError;
      expect(isPluginError(err, 'HookTimeout')).toBe(true);
      expect(err.cause).toBeInstanceOf(HandlerTimeout);
    }
    expect(aborted).toHaveLength(1000);
    expect(new Set(aborted).size).toBe(1000);
    // In order of deadline: whatever fired first had the earlier deadline, so its earliest possible one can't be
    // later than the next one's latest possible.
    for (let k = 1; k < aborted.length; k++) {
      const p = aborted[k - 1]!;
      const q = aborted[k]!;
      expect(before[p]! + budget[p]!).toBeLessThanOrEqual(started[q]! + budget[q]!);
    }
    // Never before its budget.
    for (let i = 0; i < 1000; i++) expect(abortedAt[i]! - before[i]!).toBeGreaterThanOrEqual(budget[i]!);
    await sleep(100);
    expect(aborted).toHaveLength(1000); // nothing fires twice
  });

  it('a deadline whose handler answered in time never fires', async () => {
    // Budgets far above the 2 ms the handlers take (a loaded machine can hold the loop for tens of ms), then a wait
    // past them: the deadlines were cancelled, not merely not reached.
    const hooks = new HookRegistry({ executionTimeoutMs: 400 });
    const signals: AbortSignal[] = [];
    hooks.register(
      'quick',
      1,
      async (d, info) => {
        signals.push(info.signal!);
        await sleep(2);
        return d;
      },
      { timeoutMs: 300 },
    );
    hooks.register('quick', 2, async (d) => d); // untimed, under the execution budget
    const runs = [];
    for (let i = 0; i < 200; i++) runs.push(hooks.execute('quick', new Uint8Array([1])));
    for (const out of await Promise.all(runs)) expect(out).toEqual(new Uint8Array([1]));
    await sleep(450);
    expect(signals).toHaveLength(200);
    expect(signals.some((s) => s.aborted)).toBe(false);
  });

  it('a handler that never settles still times out: its own budget, or the execution budget', async () => {
    const hooks = new HookRegistry();
    hooks.register('own', 1, never, { timeoutMs: 25 });
    const t0 = performance.now();
    const own = await hooks.execute('own', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(own, 'HookTimeout')).toBe(true);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(24);
    hooks.register('whole', 1, never); // no budget of its own
    const whole = await hooks.execute('whole', new Uint8Array(), { timeoutMs: 25 }).catch((e: unknown) => e);
    expect(isPluginError(whole, 'HookTimeout')).toBe(true);
    expect((whole as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 25 });
    expect((whole as PluginError).cause).toBeInstanceOf(ExecutionTimeout);
    // The execution's own signal still wins over a pending deadline.
    const ac = new AbortController();
    const p = hooks.execute('own', new Uint8Array(), { signal: ac.signal });
    ac.abort();
    expect(isPluginError(await p.catch((e: unknown) => e), 'Aborted')).toBe(true);
  });

  it('makes no timer per call: 1000 timed asynchronous calls arm at most a few', async () => {
    const hooks = new HookRegistry({ executionTimeoutMs: 5000 });
    hooks.register('echo', 1, async (d) => d, { owner: 'p', timeoutMs: 1000 });
    await hooks.execute('echo', new Uint8Array([1]));
    const set = vi.spyOn(globalThis, 'setTimeout');
    try {
      for (let i = 0; i < 1000; i++) await hooks.execute('echo', new Uint8Array([1]));
      expect(set.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      set.mockRestore();
    }
    expect(hooks.handlerStats('p')?.calls).toBe(1001);
  });

  it('holds the process open only while a deadline is pending', () => {
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const run = (body: string) =>
      spawnSync(
        process.execPath,
        ['--input-type=module', '-e', `import { HookRegistry } from ${JSON.stringify(dist)};\n${body}`],
        { encoding: 'utf8', timeout: 20_000 },
      );
    // Calls answered in time leave the timer armed but unref'd: the process exits at once, not after the budget.
    const t0 = performance.now();
    const idle = run(`const h = new HookRegistry({ executionTimeoutMs: 60000 });
      h.register('x', 1, async (d) => d, { timeoutMs: 60000 });
      for (let i = 0; i < 3; i++) await h.execute('x', new Uint8Array([1]));
      console.log('done');`);
    expect(idle.stdout.trim()).toBe('done');
    expect(idle.status).toBe(0);
    expect(performance.now() - t0).toBeLessThan(15_000);
    // A call that never settles keeps it open until its budget fires, and is answered.
    const hung = run(`const h = new HookRegistry();
      h.register('x', 1, () => new Promise(() => {}), { timeoutMs: 200 });
      await h.execute('x', new Uint8Array([1])).catch((e) => console.log(e.code));`);
    expect(hung.stdout.trim()).toBe('HookTimeout');
    expect(hung.status).toBe(0);
  });
});

describe('the last awaited handler of a budgeted execution', () => {
  it('fails, skips or answers as anywhere else in the chain', async () => {
    const hooks = new HookRegistry({ executionTimeoutMs: 1000 });
    const failures: unknown[] = [];
    hooks.onFailure((f) => failures.push(f.error.code));
    hooks.register('bad', 1, async () => 'nope' as unknown as Uint8Array, { owner: 'p', timeoutMs: 500 });
    const bad = await hooks.execute('bad', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(bad, 'HookError')).toBe(true);
    hooks.register('throws', 1, async () => {
      throw new Error('boom');
    });
    const thrown = await hooks.execute('throws', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(thrown, 'HookError')).toBe(true);
    expect((thrown as PluginError).message).toMatch(/boom/);
    // Isolated: the failing last handler is skipped, the previous output is the answer.
    hooks.configure('iso', { isolateFailures: true });
    hooks.register('iso', 1, (d) => new Uint8Array([...d, 1]));
    hooks.register('iso', 2, async () => {
      throw new Error('skipped');
    });
    expect(await hooks.execute('iso', new Uint8Array([0]))).toEqual(new Uint8Array([0, 1]));
    // Its own budget nearer than the execution's: a handler timeout, reported as the handler's.
    hooks.register('slow', 1, never, { owner: 'p', timeoutMs: 20 });
    const slow = await hooks.execute('slow', new Uint8Array()).catch((e: unknown) => e);
    expect(isPluginError(slow, 'HookTimeout')).toBe(true);
    expect((slow as PluginError).cause).toBeInstanceOf(HandlerTimeout);
    // The execution's nearer: the execution's timeout, not reported as the handler's failure.
    const before = failures.length;
    const whole = await hooks.execute('slow', new Uint8Array(), { timeoutMs: 10 }).catch((e: unknown) => e);
    expect((whole as PluginError).details).toMatchObject({ scope: 'execution', timeoutMs: 10 });
    expect(failures).toHaveLength(before);
    expect(failures).toEqual(['HookError', 'HookError', 'HookError', 'HookTimeout']);
  });
});

it("shares one execution object among an execution's timed calls, even past one that threw", async () => {
  const hooks = new HookRegistry();
  hooks.configure('share', { isolateFailures: true });
  const seen: object[] = [];
  hooks.register(
    'share',
    1,
    (_d, info) => {
      seen.push(info.execution!);
      throw new Error('first fails');
    },
    { owner: 'p', timeoutMs: 1000 },
  );
  hooks.register('share', 2, (d) => d); // untimed between them
  hooks.register(
    'share',
    3,
    async (d, info) => {
      seen.push(info.execution!);
      return d;
    },
    { owner: 'p', timeoutMs: 1000 },
  );
  await hooks.execute('share', new Uint8Array([1]));
  await hooks.execute('share', new Uint8Array([1]));
  expect(seen).toHaveLength(4);
  expect(seen[0]).toBe(seen[1]);
  expect(seen[2]).toBe(seen[3]);
  expect(seen[0]).not.toBe(seen[2]);
});

describe('the last timed handler settled by a reused record (issue 17)', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const text = (b: Uint8Array) => new TextDecoder().decode(b);

  it('a late answer of a timed-out call never settles a later call', async () => {
    const hooks = new HookRegistry({ executionTimeoutMs: 5_000 });
    const late: ((v: Uint8Array) => void)[] = [];
    const lateFail: ((e: unknown) => void)[] = [];
    let mode: 'hold' | 'echo' = 'hold';
    hooks.register(
      'h',
      1,
      (d) => {
        if (mode === 'echo') return Promise.resolve(d);
        return new Promise<Uint8Array>((resolve, reject) => {
          late.push(resolve);
          lateFail.push(reject);
        });
      },
      { timeoutMs: 20 },
    );
    // Many timed-out calls, their answers held back.
    const timedOut = await Promise.allSettled(
      Array.from({ length: 8 }, () => hooks.execute('h', bytes('x'))),
    );
    for (const o of timedOut) {
      expect(o.status).toBe('rejected');
      expect(isPluginError((o as PromiseRejectedResult).reason, 'HookTimeout')).toBe(true);
    }
    // New calls, still pending while the held-back answers (and failures) arrive.
    mode = 'echo';
    const slow = Array.from({ length: 8 }, (_, i) => {
      mode = i % 2 === 0 ? 'hold' : 'echo';
      return hooks.execute('h', bytes(`call ${i}`));
    });
    for (let i = 0; i < 8; i++) {
      if (i % 2 === 0) late[i]!(bytes('late answer'));
      else lateFail[i]!(new Error('late failure'));
    }
    // The held-back answers of the new (even) calls, answered now: each gets its own.
    for (let i = 8; i < late.length; i++) late[i]!(bytes(`own ${i}`));
    const outcomes = await Promise.allSettled(slow);
    outcomes.forEach((o, i) => {
      expect(o.status).toBe('fulfilled');
      expect(text((o as PromiseFulfilledResult<Uint8Array>).value)).toBe(
        i % 2 === 0 ? `own ${8 + i / 2}` : `call ${i}`,
      );
    });
    // And calls after all that answer normally.
    mode = 'echo';
    for (let i = 0; i < 200; i++) expect(text(await hooks.execute('h', bytes(`n${i}`)))).toBe(`n${i}`);
  });

  it('a thenable that calls back more than once settles the call once, and later calls are unaffected', async () => {
    const hooks = new HookRegistry();
    const failures: unknown[] = [];
    hooks.onFailure((f) => failures.push(f.error));
    let calls = 0;
    hooks.register(
      'h',
      1,
      (d) => {
        calls++;
        if (calls > 1) return Promise.resolve(d);
        // Answers, fails, answers again — synchronously inside `then` and later.
        return {
          // biome-ignore lint/suspicious/noThenProperty: a hostile thenable is what this test is about
          then(ok: (v: unknown) => void, fail: (e: unknown) => void) {
            ok(bytes('first'));
            fail(new Error('second'));
            setTimeout(() => ok(bytes('third')), 5);
          },
        } as unknown as Promise<Uint8Array>;
      },
      { timeoutMs: 1_000 },
    );
    expect(text(await hooks.execute('h', bytes('a')))).toBe('first');
    const next = hooks.execute('h', bytes('b'));
    await sleep(20);
    expect(text(await next)).toBe('b');
    expect(failures).toEqual([]);
  });

  it('a promise subclass with its own `then` is settled through the real promise, once', async () => {
    class Twice<T> extends Promise<T> {
      // biome-ignore lint/suspicious/noThenProperty: overriding a promise's then is what this test is about
      override then<A = T, B = never>(
        ok?: ((v: T) => A | PromiseLike<A>) | null,
        fail?: ((e: unknown) => B | PromiseLike<B>) | null,
      ): Promise<A | B> {
        const p = super.then(ok, fail);
        // A second, wrong answer through the same callback.
        setTimeout(() => ok?.(new TextEncoder().encode('forged') as T), 1);
        return p;
      }
    }
    const hooks = new HookRegistry();
    let n = 0;
    hooks.register('h', 1, (d) => (n++ === 0 ? new Twice<Uint8Array>((r) => setTimeout(() => r(d), 3)) : d), {
      timeoutMs: 1_000,
    });
    const first = hooks.execute('h', bytes('real'));
    expect(text(await first)).toBe('real');
    // Another call running when the forged answer comes.
    hooks.register('g', 1, (d) => new Promise<Uint8Array>((r) => setTimeout(() => r(d), 10)), {
      timeoutMs: 1_000,
    });
    expect(text(await hooks.execute('g', bytes('mine')))).toBe('mine');
  });
});

describe('HookCallInfo.onAbort of a timed call (issue 17: one deadline per call path)', () => {
  it('tells its one listener once, with the timeout and the info, when the budget fires; never after the call ended', async () => {
    const hooks = new HookRegistry();
    const told: [unknown, unknown][] = [];
    const infos: HookCallInfo[] = [];
    let hold = true;
    hooks.register(
      'h',
      1,
      (d, info) => {
        infos.push(info);
        expect(info.onAbort?.((reason, from) => told.push([reason, from]))).toBe(true);
        // One listener per call: a second is refused (the caller reads `signal` instead).
        expect(info.onAbort?.(() => told.push(['second', info]))).toBe(false);
        return hold ? never() : Promise.resolve(d);
      },
      { timeoutMs: 20 },
    );
    const err = await hooks.execute('h', new Uint8Array(1)).catch((e: unknown) => e);
    expect(isPluginError(err, 'HookTimeout')).toBe(true);
    expect(told).toHaveLength(1);
    expect(told[0]![0]).toBeInstanceOf(HandlerTimeout);
    expect(told[0]![1]).toBe(infos[0]);
    // The signal made afterwards is born aborted with the same reason.
    expect(infos[0]!.signal?.reason).toBe(told[0]![0]);
    hold = false;
    await hooks.execute('h', new Uint8Array(1));
    await sleep(60);
    expect(told).toHaveLength(1);
  });

  it('is refused when the call follows an execution signal (that needs the signal itself)', async () => {
    const hooks = new HookRegistry();
    let accepted: boolean | undefined;
    hooks.register(
      'h',
      1,
      (d, info) => {
        accepted = info.onAbort?.(() => undefined);
        return Promise.resolve(d);
      },
      { timeoutMs: 1_000 },
    );
    await hooks.execute('h', new Uint8Array(1), { signal: new AbortController().signal });
    expect(accepted).toBe(false);
    await hooks.execute('h', new Uint8Array(1));
    expect(accepted).toBe(true);
  });
});
