import { PluginError } from '@plugward/types';
import { describe, expect, it, vi } from 'vitest';
import type { ContextChange } from './context-change.js';
import { PluginContext } from './plugin-context.js';
import { chargedBytes } from './value-size.js';

const MiB = 1024 * 1024;

function errorOf(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PluginError) return e;
    throw new Error(`expected a PluginError, got ${String(e)}`);
  }
  throw new Error('expected a throw');
}

const ALL = { read: ['*'], write: ['*'] };

describe('context quotas (attacker: a plugin that fills the context)', () => {
  it('stops a plugin filling every key: QuotaExceeded for it, the host still sets, unload frees all', () => {
    const ctx = new PluginContext(); // the defaults: 10 000 keys, 256 per plugin
    ctx.set('db.password', 'hunter2');
    const hostile = ctx.forPlugin('hog', ALL);
    let refused: PluginError | undefined;
    for (let i = 0; i < 10_000 && refused === undefined; i++) {
      try {
        hostile.set(`k${i}`, i);
      } catch (e) {
        refused = e as PluginError;
      }
    }
    expect(refused?.code).toBe('QuotaExceeded');
    expect(refused?.plugin).toBe('hog');
    expect(refused?.details).toMatchObject({ resource: 'context-entries', limit: 256, scope: 'plugin' });
    expect(ctx.usageOf('hog').entries).toBe(256);
    // The host is unaffected.
    ctx.set('host.key', 1);
    expect(ctx.get('host.key')).toBe(1);
    // Unload: nothing of it stays.
    expect(ctx.releasePlugin('hog')).toBe(256);
    expect(ctx.usageOf('hog')).toEqual({ entries: 0, bytes: 0 });
    expect(ctx.pluginUsage).toEqual({ entries: 0, bytes: 0 });
    expect(ctx.keys()).toEqual(['db.password', 'host.key']);
  });

  it('stops a plugin holding host memory: the byte quota, counted before the value is stored', () => {
    const ctx = new PluginContext({ pluginQuota: { maxBytes: 1 * MiB } });
    const hostile = ctx.forPlugin('hog', ALL);
    hostile.set('a', new Uint8Array(512 * 1024));
    const err = errorOf(() => hostile.set('b', new Uint8Array(600 * 1024)));
    expect(err.code).toBe('QuotaExceeded');
    expect(err.details).toMatchObject({ resource: 'context-bytes', limit: MiB });
    expect(ctx.has('b')).toBe(false);
    // Replacing its own entry is credited first: the same key with a value of the same size fits.
    hostile.set('a', new Uint8Array(900 * 1024));
    expect(ctx.usageOf('hog').bytes).toBeGreaterThan(900 * 1024);
    // Strings count as UTF-16.
    expect(errorOf(() => hostile.set('s', 'x'.repeat(300 * 1024))).code).toBe('QuotaExceeded');
    ctx.releasePlugin('hog');
    expect(ctx.size).toBe(0);
  });

  it('measures a hostile value cheaply: huge, deep, wide and cyclic values', () => {
    const ctx = new PluginContext();
    const hostile = ctx.forPlugin('hog', ALL);
    let deep: unknown = 1;
    for (let i = 0; i < 1000; i++) deep = [deep];
    expect(errorOf(() => hostile.set('deep', deep)).code).toBe('QuotaExceeded');
    const wide = new Array(200_000).fill(0);
    expect(errorOf(() => hostile.set('wide', wide)).code).toBe('QuotaExceeded');
    const cyclic: Record<string, unknown> = { a: 'x' };
    cyclic.self = cyclic;
    hostile.set('cyclic', cyclic); // counted once, small
    expect(ctx.usageOf('hog').bytes).toBeLessThan(1024);
    const throwing = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('gotcha');
        },
      },
    );
    expect(errorOf(() => hostile.set('proxy', throwing)).code).toBe('QuotaExceeded');
    const big = new Array(10_000_000).fill('x');
    const started = performance.now();
    expect(errorOf(() => hostile.set('big', big)).code).toBe('QuotaExceeded');
    expect(performance.now() - started).toBeLessThan(50);
    expect(chargedBytes(1, 'ab', 1e9)).toBeGreaterThan(4);
  });

  it('holds all plugins together to the plugin budget, so the host keeps its share of keys', () => {
    const ctx = new PluginContext({ maxEntries: 10, pluginQuota: { maxEntries: 4 } });
    // Default budget: half of maxEntries.
    const a = ctx.forPlugin('a', ALL);
    const b = ctx.forPlugin('b', ALL);
    for (let i = 0; i < 4; i++) a.set(`a${i}`, i);
    b.set('b0', 0);
    const err = errorOf(() => b.set('b1', 1));
    expect(err.code).toBe('QuotaExceeded');
    expect(err.details).toMatchObject({ scope: 'all plugins', limit: 5 });
    for (let i = 0; i < 5; i++) ctx.set(`h${i}`, i);
    expect(ctx.size).toBe(10);
    expect(errorOf(() => ctx.set('h5', 5)).code).toBe('ContextError'); // the global cap, the host's own use
    expect(() => new PluginContext({ maxEntries: 10, pluginBudget: { maxEntries: 10 } })).toThrow(
      PluginError,
    );
  });

  it('charges the writer of the current value: host keys a plugin overwrote are released with it', () => {
    const ctx = new PluginContext();
    ctx.set('shared', 'host value');
    const p = ctx.forPlugin('p', ALL);
    const q = ctx.forPlugin('q', ALL);
    p.set('shared', 'plugin value');
    expect(ctx.usageOf('p').entries).toBe(1);
    // Another plugin overwrites: the charge moves to it.
    q.set('shared', 'q value');
    expect(ctx.usageOf('p').entries).toBe(0);
    expect(ctx.usageOf('q').entries).toBe(1);
    // The host overwrites: nobody is charged, and the key survives the plugin's release.
    ctx.set('shared', 'host again');
    expect(ctx.usageOf('q').entries).toBe(0);
    expect(ctx.releasePlugin('q')).toBe(0);
    expect(ctx.get('shared')).toBe('host again');
    // A host key the plugin overwrote last goes with the plugin (the value left is the plugin's).
    const changes: ContextChange[] = [];
    ctx.subscribe('shared', (c) => changes.push(c));
    p.set('shared', 'p again');
    expect(ctx.releasePlugin('p')).toBe(1);
    expect(ctx.has('shared')).toBe(false);
    expect(changes.at(-1)).toMatchObject({ type: 'remove', key: 'shared', writer: 'p' });
    // Removal by anyone credits the owner.
    const r = ctx.forPlugin('r', ALL);
    r.set('x', 1);
    ctx.remove('x');
    expect(ctx.usageOf('r')).toEqual({ entries: 0, bytes: 0 });
    expect(ctx.pluginUsage).toEqual({ entries: 0, bytes: 0 });
  });

  it('revokes released views and drops their subscriptions', () => {
    const ctx = new PluginContext();
    const view = ctx.forPlugin('p', ALL);
    const seen = vi.fn();
    view.subscribe('k', seen);
    ctx.set('k', 1);
    expect(seen).toHaveBeenCalledTimes(1);
    ctx.releasePlugin('p');
    ctx.set('k', 2);
    expect(seen).toHaveBeenCalledTimes(1);
    // A late write by the unloaded plugin (a timer it left) is refused and stores nothing.
    expect(errorOf(() => view.set('late', 1)).code).toBe('PermissionDenied');
    expect(errorOf(() => view.get('k')).code).toBe('PermissionDenied');
    expect(ctx.has('late')).toBe(false);
    // Loaded again: a fresh view works.
    ctx.forPlugin('p', ALL).set('again', 1);
    expect(ctx.usageOf('p').entries).toBe(1);
  });

  it('lets the host give one plugin its own quota and validates quotas', () => {
    const ctx = new PluginContext({ pluginQuota: { maxEntries: 1 } });
    const big = ctx.forPlugin('big', ALL, { maxEntries: 3 });
    big.set('a', 1);
    big.set('b', 2);
    big.set('c', 3);
    expect(errorOf(() => big.set('d', 4)).code).toBe('QuotaExceeded');
    const small = ctx.forPlugin('small', ALL);
    small.set('s', 1);
    expect(errorOf(() => small.set('t', 1)).code).toBe('QuotaExceeded');
    expect(() => ctx.forPlugin('x', ALL, { maxBytes: -1 })).toThrow(PluginError);
    expect(() => new PluginContext({ pluginQuota: { maxEntries: 1.5 } })).toThrow(PluginError);
  });
});
