import { DEFAULT_UNMOUNT_BEHAVIOR, UnmountBehaviors } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { performUnmount, resolveUnmountBehavior } from './unmount-behavior.js';

describe('resolveUnmountBehavior', () => {
  it('fills from the defaults', () => {
    expect(resolveUnmountBehavior()).toEqual(DEFAULT_UNMOUNT_BEHAVIOR);
    expect(resolveUnmountBehavior({ gracePeriodMs: 500 })).toEqual({
      ...DEFAULT_UNMOUNT_BEHAVIOR,
      gracePeriodMs: 500,
    });
  });

  it('has no grace period by default (a host turns one on)', () => {
    expect(DEFAULT_UNMOUNT_BEHAVIOR.gracePeriodMs).toBe(0);
  });

  it('treats allowCleanup and callShutdownHook as one decision', () => {
    expect(resolveUnmountBehavior({ allowCleanup: false })).toMatchObject({
      allowCleanup: false,
      callShutdownHook: false,
    });
    expect(resolveUnmountBehavior({ callShutdownHook: false })).toMatchObject({
      allowCleanup: false,
      callShutdownHook: false,
    });
    expect(() => resolveUnmountBehavior({ allowCleanup: false, callShutdownHook: true })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', details: { field: 'allowCleanup' } }),
    );
  });

  it.each([
    [{ autoUnmount: 'yes' }, 'autoUnmount'],
    [{ gracePeriodMs: -1 }, 'gracePeriodMs'],
    [{ maxCleanupTimeMs: 1.5 }, 'maxCleanupTimeMs'],
    [{ maxCleanupTimeMs: 24 * 3600_000 }, 'maxCleanupTimeMs'],
    [{ autoUnmnt: true }, 'autoUnmnt'],
    [null, '(root)'],
  ])('rejects %j naming %s', (input, field) => {
    expect(() => resolveUnmountBehavior(input)).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', details: { field } }),
    );
  });
});

describe('performUnmount', () => {
  const fast = { ...DEFAULT_UNMOUNT_BEHAVIOR, gracePeriodMs: 0, maxCleanupTimeMs: 50 };

  it('detaches, calls shutdown, then teardown', async () => {
    const order: string[] = [];
    const out = await performUnmount(fast, {
      detach: (deadlineMs) => {
        order.push(`detach ${deadlineMs}`);
      },
      shutdown: () => {
        order.push('shutdown');
      },
      teardown: () => {
        order.push('teardown');
      },
    });
    expect(order).toEqual(['detach 50', 'shutdown', 'teardown']);
    expect(out).toMatchObject({ shutdownCalled: true, shutdown: 'ok' });
  });

  it('tears down even when shutdown hangs (aborting its signal) or throws', async () => {
    let aborted = false;
    let torn = 0;
    const hung = await performUnmount(fast, {
      shutdown: (signal) =>
        new Promise<void>(() => {
          signal.addEventListener('abort', () => {
            aborted = true;
          });
        }),
      teardown: () => {
        torn++;
      },
    });
    expect(hung.shutdown).toBe('timeout');
    expect(aborted).toBe(true);
    const failed = await performUnmount(fast, {
      shutdown: () => Promise.reject(new Error('nope')),
      teardown: () => {
        torn++;
      },
    });
    expect(failed.shutdown).toBe('error');
    expect(torn).toBe(2);
  });

  it('skips shutdown for the immediate preset and honours the grace period and its abort', async () => {
    let called = false;
    const out = await performUnmount(UnmountBehaviors.immediate, {
      shutdown: () => {
        called = true;
      },
      teardown: () => undefined,
    });
    expect(called).toBe(false);
    expect(out.shutdown).toBe('skipped');
    const t0 = performance.now();
    await performUnmount({ ...fast, gracePeriodMs: 80 }, { teardown: () => undefined });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(70);
    const out2 = await performUnmount(
      { ...fast, gracePeriodMs: 60_000 },
      { teardown: () => undefined, signal: AbortSignal.abort() },
    );
    expect(out2.graceAborted).toBe(true);
  });
});

describe('performUnmount input', () => {
  it('validates the behaviour before anything runs', async () => {
    let torn = false;
    await expect(
      performUnmount(
        { gracePeriodMs: -1 },
        {
          teardown: () => {
            torn = true;
          },
        },
      ),
    ).rejects.toMatchObject({ code: 'InvalidArgument', details: { field: 'gracePeriodMs' } });
    expect(torn).toBe(false);
  });
});
