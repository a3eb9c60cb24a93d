import { DEFAULT_HOOK_PRIORITY, HookPriority, isPluginError, PluginError } from '@plugward/types';
import { describe, expect, it, vi } from 'vitest';
import { type HookFailure, HookRegistry } from './hook-registry.js';

const bytes = (...v: number[]): Uint8Array => new Uint8Array(v);
/** A handler that appends `tag` to the payload, so the output records the order handlers ran in. */
const append =
  (tag: number) =>
  (d: Uint8Array): Uint8Array => {
    const out = new Uint8Array(d.length + 1);
    out.set(d);
    out[d.length] = tag;
    return out;
  };
const appendAsync =
  (tag: number, delayMs = 0) =>
  async (d: Uint8Array): Promise<Uint8Array> => {
    await new Promise((r) => setTimeout(r, delayMs));
    return append(tag)(d);
  };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function rejection(p: Promise<unknown>): Promise<PluginError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof PluginError) return e;
    throw new Error(`expected a PluginError, got ${String(e)}`);
  }
  throw new Error('expected a rejection');
}

describe('HookRegistry ordering and waterfall', () => {
  it('returns the input unchanged (same bytes) when a hook has no handlers', async () => {
    const hooks = new HookRegistry();
    const input = bytes(1, 2, 3);
    expect(await hooks.execute('nothing', input)).toBe(input);
    const reg = hooks.register('x', 1, append(9));
    reg.unregister();
    expect(await hooks.execute('x', input)).toBe(input);
  });

  it('runs lower priority first and feeds each handler the previous output', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', HookPriority.Cleanup, append(5));
    hooks.register('h', HookPriority.Critical, append(1));
    hooks.register('h', HookPriority.Low, append(4));
    hooks.register('h', HookPriority.High, append(2));
    hooks.register('h', HookPriority.Normal, append(3));
    expect([...(await hooks.execute('h', bytes(0)))]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('keeps registration order among equal priorities (stable), also for inserts in the middle', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 200, append(1));
    hooks.register('h', 300, append(9));
    hooks.register('h', 200, append(2));
    hooks.register('h', 100, append(0));
    hooks.register('h', 200, append(3));
    expect([...(await hooks.execute('h', bytes()))]).toEqual([0, 1, 2, 3, 9]);
    expect(hooks.getHooks('h').map((h) => h.priority)).toEqual([100, 200, 200, 200, 300]);
  });

  it('keeps a large random registration sorted and stable', async () => {
    const hooks = new HookRegistry();
    const expected: { p: number; tag: number }[] = [];
    let seed = 7;
    for (let tag = 0; tag < 250; tag++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const p = seed % 10;
      hooks.register('h', p, append(tag));
      expected.push({ p, tag });
    }
    // Array.prototype.sort is stable: the reference order.
    expected.sort((a, b) => a.p - b.p);
    expect([...(await hooks.execute('h', bytes()))]).toEqual(expected.map((e) => e.tag));
  });

  it('mixes sync and async handlers in one chain', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 1, append(1));
    hooks.register('h', 2, appendAsync(2));
    hooks.register('h', 3, append(3));
    hooks.register('h', 4, appendAsync(4));
    hooks.register('h', 5, append(5));
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1, 2, 3, 4, 5]);
  });

  it('calls sync handlers back to back, without yielding to the event loop in between', async () => {
    const hooks = new HookRegistry();
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      hooks.register('h', 200, (d) => {
        seen.push(`h${i}`);
        return d;
      });
    }
    const p = hooks.execute('h', bytes());
    // Every sync handler already ran before execute returned.
    expect(seen).toEqual(['h0', 'h1', 'h2']);
    await p;
  });

  it('passes the hook name to handlers', async () => {
    const hooks = new HookRegistry();
    const names: string[] = [];
    hooks.register('on_request', 200, (d, info) => {
      names.push(info.hookName);
      return d;
    });
    await hooks.execute('on_request', bytes());
    expect(names).toEqual(['on_request']);
  });

  it('accepts thenables that are not native promises', async () => {
    const hooks = new HookRegistry();
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a PromiseLike on purpose
      then(resolve: (v: Uint8Array) => void) {
        resolve(bytes(42));
      },
    };
    hooks.register('h', 1, () => thenable as unknown as Promise<Uint8Array>);
    expect([...(await hooks.execute('h', bytes()))]).toEqual([42]);
  });
});

describe('HookRegistry failures', () => {
  it('stops the chain with a HookError naming hook, owner and cause when a handler throws', async () => {
    const hooks = new HookRegistry();
    const after = vi.fn((d: Uint8Array) => d);
    const cause = new Error('kaput');
    hooks.register(
      'on_request',
      100,
      () => {
        throw cause;
      },
      { owner: 'bad-plugin' },
    );
    hooks.register('on_request', 200, after);
    const err = await rejection(hooks.execute('on_request', bytes()));
    expect(err.code).toBe('HookError');
    expect(err.plugin).toBe('bad-plugin');
    expect(err.cause).toBe(cause);
    expect(err.message).toContain('on_request');
    expect(err.message).toContain('bad-plugin');
    expect(err.message).toContain('kaput');
    expect(err.details).toMatchObject({ hook: 'on_request', owner: 'bad-plugin', priority: 100 });
    expect(after).not.toHaveBeenCalled();
  });

  it('stops the chain when an async handler rejects (middle and last position)', async () => {
    for (const position of ['middle', 'last'] as const) {
      const hooks = new HookRegistry();
      const after = vi.fn((d: Uint8Array) => d);
      hooks.register('h', 1, append(1));
      hooks.register(
        'h',
        2,
        async () => {
          await sleep(1);
          throw new TypeError('async boom');
        },
        { owner: 'p' },
      );
      if (position === 'middle') hooks.register('h', 3, after);
      const err = await rejection(hooks.execute('h', bytes()));
      expect(err.code).toBe('HookError');
      expect(err.plugin).toBe('p');
      expect((err.cause as Error).message).toBe('async boom');
      expect(after).not.toHaveBeenCalled();
    }
  });

  it('treats a non-bytes return value as a failure, sync or async', async () => {
    for (const bad of [undefined, 'text', 42, null, [1, 2], { length: 1 }]) {
      const hooks = new HookRegistry();
      hooks.register('h', 1, () => bad as unknown as Uint8Array, { owner: 'p' });
      const err = await rejection(hooks.execute('h', bytes()));
      expect(err.code).toBe('HookError');
      expect(err.message).toContain('expected a Uint8Array');
      const hooks2 = new HookRegistry();
      hooks2.register('h', 1, async () => bad as unknown as Uint8Array);
      hooks2.register('h', 2, append(1));
      expect((await rejection(hooks2.execute('h', bytes()))).code).toBe('HookError');
    }
  });

  it('rejects (never throws synchronously) when a result has a throwing then getter', async () => {
    const hooks = new HookRegistry();
    const hostile = Object.defineProperty({}, 'then', {
      get() {
        throw new Error('gotcha');
      },
    });
    hooks.register('h', 1, () => hostile as unknown as Uint8Array, { owner: 'evil' });
    let p: Promise<Uint8Array> | undefined;
    expect(() => {
      p = hooks.execute('h', bytes());
    }).not.toThrow();
    const err = await rejection(p!);
    expect(err.code).toBe('HookError');
    expect(err.plugin).toBe('evil');
    expect((err.cause as Error).message).toBe('gotcha');
  });

  it('names the handler by id when it has no owner', async () => {
    const hooks = new HookRegistry();
    const reg = hooks.register('h', 1, () => {
      throw new Error('x');
    });
    const err = await rejection(hooks.execute('h', bytes()));
    expect(err.plugin).toBeUndefined();
    expect(err.message).toContain(`#${reg.id}`);
  });

  it('rejects non-bytes input with InvalidArgument, never calling handlers', async () => {
    const hooks = new HookRegistry();
    const h = vi.fn((d: Uint8Array) => d);
    hooks.register('h', 1, h);
    const err = await rejection(hooks.execute('h', 'str' as unknown as Uint8Array));
    expect(err.code).toBe('InvalidArgument');
    expect(h).not.toHaveBeenCalled();
  });

  it('isolates failures per hook: skips the failing handler, reports it, and goes on', async () => {
    const failures: HookFailure[] = [];
    const hooks = new HookRegistry({ onFailure: (f) => failures.push(f) });
    hooks.configure('iso', { isolateFailures: true });
    for (const name of ['iso', 'strict']) {
      hooks.register(name, 1, append(1));
      hooks.register(
        name,
        2,
        () => {
          throw new Error('sync fail');
        },
        { owner: 'a' },
      );
      hooks.register(name, 3, async () => Promise.reject(new Error('async fail')), { owner: 'b' });
      hooks.register(name, 4, () => 'nope' as unknown as Uint8Array, { owner: 'c' });
      hooks.register(name, 5, append(5));
    }
    // The failing handlers are skipped: the next one receives the previous output.
    expect([...(await hooks.execute('iso', bytes()))]).toEqual([1, 5]);
    expect(failures.map((f) => [f.hookName, f.owner, f.error.code, f.isolated])).toEqual([
      ['iso', 'a', 'HookError', true],
      ['iso', 'b', 'HookError', true],
      ['iso', 'c', 'HookError', true],
    ]);
    failures.length = 0;
    // Another hook of the same registry is not isolated.
    const err = await rejection(hooks.execute('strict', bytes()));
    expect(err.plugin).toBe('a');
    expect(failures.map((f) => [f.hookName, f.owner, f.isolated])).toEqual([['strict', 'a', false]]);
  });

  it('isolates a failing last async handler by returning the previous output', async () => {
    const hooks = new HookRegistry();
    hooks.configure('h', { isolateFailures: true });
    hooks.register('h', 1, append(1));
    hooks.register('h', 2, async () => {
      throw new Error('late');
    });
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1]);
  });

  it('reads the isolation setting once per execution', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 1, async (d) => {
      hooks.configure('h', { isolateFailures: true });
      return d;
    });
    hooks.register('h', 2, () => {
      throw new Error('x');
    });
    hooks.register('h', 3, append(3));
    expect((await rejection(hooks.execute('h', bytes()))).code).toBe('HookError');
    // The next execution isolates.
    expect([...(await hooks.execute('h', bytes()))]).toEqual([3]);
  });

  it('keeps running when a failure listener throws, and unsubscribes', async () => {
    const hooks = new HookRegistry();
    hooks.configure('h', { isolateFailures: true });
    const seen = vi.fn();
    const off = hooks.onFailure(() => {
      throw new Error('listener bug');
    });
    const off2 = hooks.onFailure(seen);
    hooks.register('h', 1, () => {
      throw new Error('x');
    });
    hooks.register('h', 2, append(2));
    expect([...(await hooks.execute('h', bytes()))]).toEqual([2]);
    expect(seen).toHaveBeenCalledTimes(1);
    off();
    off2();
    await hooks.execute('h', bytes());
    expect(seen).toHaveBeenCalledTimes(1);
  });
});

describe('HookRegistry timeouts and cancellation', () => {
  it('fails an async handler that exceeds its timeout with HookTimeout and aborts its signal', async () => {
    const hooks = new HookRegistry();
    let handlerSignal: AbortSignal | undefined;
    hooks.register(
      'h',
      1,
      (_d, info) => {
        handlerSignal = info.signal;
        return new Promise<Uint8Array>(() => {}); // never settles
      },
      { owner: 'slow', timeoutMs: 20 },
    );
    const err = await rejection(hooks.execute('h', bytes()));
    expect(err.code).toBe('HookTimeout');
    expect(err.plugin).toBe('slow');
    expect(err.details).toMatchObject({ hook: 'h', owner: 'slow', timeoutMs: 20 });
    expect(handlerSignal?.aborted).toBe(true);
  });

  it('lets a handler finish within its budget', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 1, appendAsync(1, 1), { timeoutMs: 5_000 });
    hooks.register('h', 2, append(2), { timeoutMs: 5_000 });
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1, 2]);
  });

  it('detects the overrun of a sync handler when it returns', async () => {
    const hooks = new HookRegistry();
    hooks.register(
      'h',
      1,
      (d) => {
        const until = performance.now() + 30;
        while (performance.now() < until) {
          // busy: a sync handler can't be pre-empted
        }
        return d;
      },
      { owner: 'busy', timeoutMs: 5 },
    );
    const err = await rejection(hooks.execute('h', bytes()));
    expect(err.code).toBe('HookTimeout');
    expect(err.plugin).toBe('busy');
  });

  it('applies hook and registry default budgets, own budget first', async () => {
    const hooks = new HookRegistry({ defaultTimeoutMs: 15 });
    hooks.register('a', 1, () => new Promise<Uint8Array>(() => {}));
    expect((await rejection(hooks.execute('a', bytes()))).details).toMatchObject({ timeoutMs: 15 });
    hooks.configure('b', { timeoutMs: 25 });
    hooks.register('b', 1, () => new Promise<Uint8Array>(() => {}));
    expect((await rejection(hooks.execute('b', bytes()))).details).toMatchObject({ timeoutMs: 25 });
    hooks.register('c', 1, () => new Promise<Uint8Array>(() => {}), { timeoutMs: 10 });
    expect((await rejection(hooks.execute('c', bytes()))).details).toMatchObject({ timeoutMs: 10 });
  });

  it('skips a timed-out handler when the hook isolates failures', async () => {
    const failures: HookFailure[] = [];
    const hooks = new HookRegistry({ onFailure: (f) => failures.push(f) });
    hooks.configure('h', { isolateFailures: true });
    hooks.register('h', 1, append(1));
    hooks.register('h', 2, () => new Promise<Uint8Array>(() => {}), { timeoutMs: 10, owner: 'slow' });
    hooks.register('h', 3, append(3));
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1, 3]);
    expect(failures.map((f) => f.error.code)).toEqual(['HookTimeout']);
  });

  it('rejects with Aborted when the signal is already aborted, calling no handler', async () => {
    const hooks = new HookRegistry();
    const h = vi.fn((d: Uint8Array) => d);
    hooks.register('h', 1, h);
    const controller = new AbortController();
    controller.abort(new Error('user cancelled'));
    const err = await rejection(hooks.execute('h', bytes(), { signal: controller.signal }));
    expect(err.code).toBe('Aborted');
    expect((err.cause as Error).message).toBe('user cancelled');
    expect(h).not.toHaveBeenCalled();
    // Also with no handlers at all.
    expect((await rejection(hooks.execute('none', bytes(), { signal: controller.signal }))).code).toBe(
      'Aborted',
    );
  });

  it('aborts a running execution: pending handler abandoned, later handlers never called', async () => {
    const hooks = new HookRegistry();
    const later = vi.fn((d: Uint8Array) => d);
    let seen: AbortSignal | undefined;
    hooks.register('h', 1, (_d, info) => {
      seen = info.signal;
      return new Promise<Uint8Array>(() => {});
    });
    hooks.register('h', 2, later);
    const controller = new AbortController();
    const p = hooks.execute('h', bytes(), { signal: controller.signal });
    await sleep(5);
    controller.abort();
    const err = await rejection(p);
    expect(err.code).toBe('Aborted');
    expect(seen).toBe(controller.signal);
    expect(later).not.toHaveBeenCalled();
  });

  it('aborts between sync handlers when a handler aborts the signal', async () => {
    const hooks = new HookRegistry();
    const controller = new AbortController();
    const later = vi.fn((d: Uint8Array) => d);
    hooks.register('h', 1, (d) => {
      controller.abort();
      return d;
    });
    hooks.register('h', 2, later);
    expect((await rejection(hooks.execute('h', bytes(), { signal: controller.signal }))).code).toBe(
      'Aborted',
    );
    expect(later).not.toHaveBeenCalled();
  });

  it('is not isolated: an abort stops even an isolating hook and is not reported as a handler failure', async () => {
    const failures: HookFailure[] = [];
    const hooks = new HookRegistry({ onFailure: (f) => failures.push(f) });
    hooks.configure('h', { isolateFailures: true });
    const controller = new AbortController();
    hooks.register('h', 1, (_d, info) => {
      controller.abort();
      throw info.signal?.reason;
    });
    hooks.register('h', 2, append(2));
    expect((await rejection(hooks.execute('h', bytes(), { signal: controller.signal }))).code).toBe(
      'Aborted',
    );
    expect(failures).toEqual([]);
  });

  it('handles a handler that aborts and then returns a promise that rejects later', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const hooks = new HookRegistry();
      const controller = new AbortController();
      hooks.register('h', 1, async () => {
        controller.abort();
        await sleep(10);
        throw new Error('late');
      });
      hooks.register('h', 2, append(2));
      expect((await rejection(hooks.execute('h', bytes(), { signal: controller.signal }))).code).toBe(
        'Aborted',
      );
      await sleep(30);
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });

  it('propagates the execution abort to a timed handler signal', async () => {
    const hooks = new HookRegistry();
    let seen: AbortSignal | undefined;
    hooks.register(
      'h',
      1,
      (_d, info) => {
        seen = info.signal;
        return new Promise<Uint8Array>(() => {});
      },
      { timeoutMs: 10_000 },
    );
    const controller = new AbortController();
    const p = hooks.execute('h', bytes(), { signal: controller.signal });
    await sleep(5);
    controller.abort();
    expect((await rejection(p)).code).toBe('Aborted');
    expect(seen?.aborted).toBe(true);
  });

  it('does not leave an unhandled rejection when an abandoned handler rejects later', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const hooks = new HookRegistry();
      hooks.register(
        'h',
        1,
        async () => {
          await sleep(30);
          throw new Error('late');
        },
        { timeoutMs: 5 },
      );
      expect((await rejection(hooks.execute('h', bytes()))).code).toBe('HookTimeout');
      await sleep(60);
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});

describe('HookRegistry registration', () => {
  it('returns unique growing ids and an unregister that works once', async () => {
    const hooks = new HookRegistry();
    const a = hooks.register('h', 1, append(1));
    const b = hooks.register('h', 1, append(2));
    expect(b.id).toBeGreaterThan(a.id);
    expect(a.unregister()).toBe(true);
    expect(a.unregister()).toBe(false);
    expect([...(await hooks.execute('h', bytes()))]).toEqual([2]);
    expect(hooks.unregister(b.id)).toBe(true);
    expect(hooks.unregister(b.id)).toBe(false);
    expect(hooks.count()).toBe(0);
  });

  it('removes exactly the chosen one of several identical handlers at equal priority', async () => {
    const hooks = new HookRegistry();
    const h = append(7);
    const regs = [1, 2, 3].map(() => hooks.register('h', 200, h));
    regs[1]!.unregister();
    expect(hooks.getHooks('h').map((x) => x.id)).toEqual([regs[0]!.id, regs[2]!.id]);
  });

  it('unregisterAll removes one owner on every hook and leaves the others', async () => {
    const hooks = new HookRegistry();
    hooks.register('a', 1, append(1), { owner: 'x' });
    hooks.register('a', 2, append(2), { owner: 'y' });
    hooks.register('b', 1, append(3), { owner: 'x' });
    hooks.register('b', 2, append(4));
    expect(hooks.unregisterAll('x')).toBe(2);
    expect(hooks.unregisterAll('x')).toBe(0);
    expect([...(await hooks.execute('a', bytes()))]).toEqual([2]);
    expect([...(await hooks.execute('b', bytes()))]).toEqual([4]);
    expect(hooks.count()).toBe(2);
  });

  it('unregisterAll counts only what is still registered, whichever way the rest went, and spares running snapshots', async () => {
    const hooks = new HookRegistry();
    // 600 handlers of 300 owners on one hook (more than two blocks of the chain), plus one owner on a second hook.
    const regs = [];
    for (let i = 0; i < 600; i++)
      regs.push(hooks.register('h', i % 7, append(i % 250), { owner: `o${i % 300}` }));
    hooks.register('g', 1, append(9), { owner: 'o1' });
    expect(regs[1]!.unregister()).toBe(true); // o1's first, by its handle
    expect(hooks.unregister(regs[301]!.id)).toBe(true); // o1's second, by id
    expect(hooks.unregisterAll('o1')).toBe(1); // only its handler on 'g' was left
    expect(regs[1]!.unregister()).toBe(false);
    const before = hooks.execute('h', bytes()); // a snapshot of 598 handlers, taken before the next removals
    for (let o = 0; o < 300; o += 2) expect(hooks.unregisterAll(`o${o}`)).toBe(2);
    expect((await before).length).toBe(598);
    expect(hooks.count('h')).toBe(598 - 300);
    // What is left is exactly the odd owners' handlers (but o1), in priority then registration order.
    const left = hooks.getHooks('h');
    expect(left.every((h) => Number(h.owner?.slice(1)) % 2 === 1 && h.owner !== 'o1')).toBe(true);
    for (let i = 1; i < left.length; i++) {
      const [a, b] = [left[i - 1]!, left[i]!];
      expect(a.priority < b.priority || (a.priority === b.priority && a.id < b.id)).toBe(true);
    }
    // Registering again under a cleared owner starts a new set.
    hooks.register('h', 0, append(1), { owner: 'o2' });
    expect(hooks.unregisterAll('o2')).toBe(1);
  });

  it('forOwner registers with the owner, ignores a forged owner, and removes its own', async () => {
    const hooks = new HookRegistry();
    const plugin = hooks.forOwner('plug');
    const reg = plugin.register('h', 1, append(1), { owner: 'someone-else' });
    plugin.register('g', 1, append(2));
    hooks.register('h', 2, append(3), { owner: 'other' });
    expect(hooks.getHooks('h')[0]).toMatchObject({ id: reg.id, owner: 'plug', band: 'Critical' });
    expect(plugin.unregisterAll()).toBe(2);
    expect(hooks.getHooks('h').map((h) => h.owner)).toEqual(['other']);
    expect(() => hooks.forOwner('')).toThrow(PluginError);
  });

  it('describes registrations in getHooks and related queries', () => {
    const hooks = new HookRegistry();
    const h = append(1);
    hooks.register('h', 450, h, { owner: 'o', timeoutMs: 50 });
    hooks.register('h', DEFAULT_HOOK_PRIORITY, h);
    expect(hooks.getHooks('h').map((x) => [x.priority, x.band, x.owner, x.timeoutMs])).toEqual([
      [200, 'Normal', undefined, undefined],
      [450, 'Cleanup', 'o', 50],
    ]);
    expect(hooks.getHooks('h')[0]!.handler).toBe(h);
    expect(hooks.getHooks('missing')).toEqual([]);
    expect(hooks.hookNames()).toEqual(['h']);
    expect(hooks.has('h')).toBe(true);
    expect(hooks.has('missing')).toBe(false);
    expect(hooks.count('h')).toBe(2);
  });

  it('validates its arguments with InvalidArgument', () => {
    const hooks = new HookRegistry();
    const h = append(1);
    const bad: (() => unknown)[] = [
      () => hooks.register('', 1, h),
      () => hooks.register('x'.repeat(257), 1, h),
      () => hooks.register(1 as unknown as string, 1, h),
      () => hooks.register('h', Number.NaN, h),
      () => hooks.register('h', Number.POSITIVE_INFINITY, h),
      () => hooks.register('h', '1' as unknown as number, h),
      () => hooks.register('h', 1, 'fn' as unknown as typeof h),
      () => hooks.register('h', 1, h, { timeoutMs: 0 }),
      () => hooks.register('h', 1, h, { timeoutMs: -5 }),
      () => hooks.register('h', 1, h, { timeoutMs: 2 ** 40 }),
      () => hooks.register('h', 1, h, { owner: '' }),
      () => hooks.configure('h', { isolateFailures: 'yes' as unknown as boolean }),
      () => hooks.configure('h', { timeoutMs: Number.NaN }),
      () => new HookRegistry({ defaultTimeoutMs: -1 }),
      () => hooks.onFailure(null as unknown as () => void),
      () => hooks.unregisterAll(undefined as unknown as string),
      () => hooks.unregisterAll(''),
    ];
    for (const fn of bad) {
      let caught: unknown;
      try {
        fn();
      } catch (e) {
        caught = e;
      }
      expect(isPluginError(caught, 'InvalidArgument')).toBe(true);
    }
    expect(hooks.count()).toBe(0);
  });
});

describe('HookRegistry snapshots', () => {
  it('ignores handlers registered during an execution (sync path)', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 1, (d) => {
      hooks.register('h', 2, append(9));
      return append(1)(d);
    });
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1]);
    // The next execution sees it.
    expect([...(await hooks.execute('h', bytes()))].slice(0, 2)).toEqual([1, 9]);
  });

  it('is unaffected by inserts before and removals after the running handler (sync path)', async () => {
    const hooks = new HookRegistry();
    let next: { unregister(): boolean } | undefined;
    let once = true;
    hooks.register('h', 1, (d) => {
      if (once) {
        once = false;
        hooks.register('h', 0, append(0));
        next?.unregister();
      }
      return append(1)(d);
    });
    next = hooks.register('h', 5, append(5));
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1, 5]);
    expect([...(await hooks.execute('h', bytes()))]).toEqual([0, 1]);
  });

  it('still runs handlers removed during an execution (async path)', async () => {
    const hooks = new HookRegistry();
    let second: { unregister(): boolean } | undefined;
    hooks.register('h', 1, async (d) => {
      second?.unregister();
      hooks.unregisterAll('owner');
      await sleep(1);
      return append(1)(d);
    });
    second = hooks.register('h', 2, append(2));
    hooks.register('h', 3, append(3), { owner: 'owner' });
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1, 2, 3]);
    expect([...(await hooks.execute('h', bytes()))]).toEqual([1]);
  });

  it('keeps concurrent executions independent while handlers change', async () => {
    const hooks = new HookRegistry();
    hooks.register('h', 1, appendAsync(1, 5));
    const first = hooks.execute('h', bytes());
    hooks.register('h', 2, append(2));
    const second = hooks.execute('h', bytes());
    hooks.register('h', 0, append(0));
    expect([...(await first)]).toEqual([1]);
    expect([...(await second)]).toEqual([1, 2]);
    expect([...(await hooks.execute('h', bytes()))]).toEqual([0, 1, 2]);
  });
});

describe('HookRegistry scaling', () => {
  it('registers and unregisters 10k handlers in spread order and stays sorted', async () => {
    const hooks = new HookRegistry();
    const regs: { id: number; unregister(): boolean }[] = [];
    const N = 10_000;
    for (let i = 0; i < N; i++) regs.push(hooks.register('h', (i * 7919) % 500, (d) => d));
    const prios = hooks.getHooks('h').map((h) => h.priority);
    for (let i = 1; i < prios.length; i++) expect(prios[i]! >= prios[i - 1]!).toBe(true);
    // Remove every other one in a permuted order.
    let removed = 0;
    for (let i = 0; i < N; i++) {
      const k = (i * 4099) % N;
      if (k % 2 === 0 && regs[k]!.unregister()) removed++;
    }
    expect(removed).toBe(N / 2);
    expect(hooks.count('h')).toBe(N / 2);
    expect(hooks.getHooks('h').every((h) => (h.id - regs[0]!.id) % 2 === 1)).toBe(true);
    expect(await hooks.execute('h', bytes(3))).toEqual(bytes(3));
  });

  it('matches a reference model over random register / unregister / unregisterAll sequences', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const hooks = new HookRegistry();
    type Item = { id: number; priority: number; owner: string; reg: { unregister(): boolean } };
    let model: Item[] = [];
    const h = (d: Uint8Array): Uint8Array => d;
    for (let step = 0; step < 4000; step++) {
      const op = rand(10);
      if (op < 6 || model.length === 0) {
        const priority = rand(8) * 50;
        const owner = `o${rand(4)}`;
        const reg = hooks.register('h', priority, h, { owner });
        model.push({ id: reg.id, priority, owner, reg });
      } else if (op < 9) {
        const k = rand(model.length);
        expect(model[k]!.reg.unregister()).toBe(true);
        expect(model[k]!.reg.unregister()).toBe(false);
        model.splice(k, 1);
      } else {
        const owner = `o${rand(4)}`;
        const before = model.length;
        model = model.filter((m) => m.owner !== owner);
        expect(hooks.unregisterAll(owner)).toBe(before - model.length);
      }
      if (step % 97 === 0 || step === 3999) {
        const expected = [...model].sort((a, b) => a.priority - b.priority || a.id - b.id).map((m) => m.id);
        expect(hooks.getHooks('h').map((x) => x.id)).toEqual(expected);
        expect(hooks.count('h')).toBe(model.length);
      }
    }
    // Still removable by id after all that.
    const any = model[0];
    if (any !== undefined) {
      expect(hooks.unregister(any.id)).toBe(true);
      expect(hooks.unregister(any.id)).toBe(false);
    }
  });
});

describe('HookRegistry execution identity', () => {
  it('timed handlers of one execution share info.execution; another execution gets another', async () => {
    const hooks = new HookRegistry();
    const seen: (object | undefined)[] = [];
    const record = (d: Uint8Array, info: { execution?: object }) => {
      seen.push(info.execution);
      return Promise.resolve(d);
    };
    hooks.register('h', 1, record, { timeoutMs: 1000 });
    hooks.register('h', 2, record, { timeoutMs: 1000 });
    await Promise.all([hooks.execute('h', new Uint8Array()), hooks.execute('h', new Uint8Array())]);
    expect(seen).toHaveLength(4);
    expect(seen.every((e) => typeof e === 'object')).toBe(true);
    expect(new Set(seen).size).toBe(2);
  });
});

describe('handlerStats', () => {
  it('counts calls into an owner’s timed handlers and the time they held the thread; reset by unregisterAll', async () => {
    const hooks = new HookRegistry();
    const enc = new TextEncoder();
    hooks.register(
      'spin',
      1,
      () => {
        const end = performance.now() + 3;
        while (performance.now() < end) {
          // on the thread
        }
        return enc.encode('x');
      },
      { owner: 'p', timeoutMs: 1000 },
    );
    hooks.register(
      'wait',
      1,
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        return enc.encode('y');
      },
      { owner: 'p', timeoutMs: 1000 },
    );
    hooks.register('host', 1, (d) => d); // no owner, no budget: not counted
    expect(hooks.handlerStats('p')).toEqual({ calls: 0, timeMs: 0 });
    await hooks.execute('spin', new Uint8Array());
    await hooks.execute('spin', new Uint8Array());
    await hooks.execute('wait', new Uint8Array());
    await hooks.execute('host', new Uint8Array());
    const s = hooks.handlerStats('p');
    expect(s?.calls).toBe(3);
    // Two 3 ms spins; the 300 ms wait is not time on the thread (the bound leaves a loaded machine room to preempt
    // the spins).
    expect(s?.timeMs).toBeGreaterThanOrEqual(5.9);
    expect(s?.timeMs).toBeLessThan(250); // with the wait counted it would be ≥ 306
    hooks.unregisterAll('p');
    expect(hooks.handlerStats('p')).toBeUndefined();
  });
});
