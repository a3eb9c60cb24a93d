import { createContextKey, isPluginError, type PluginContextApi, PluginError } from '@plugward/types';
import { describe, expect, it, vi } from 'vitest';
import type { ContextChange } from './context-change.js';
import { PluginContext } from './plugin-context.js';

interface AppConfig {
  port: number;
}
const isAppConfig = (v: unknown): v is AppConfig =>
  typeof v === 'object' && v !== null && typeof (v as AppConfig).port === 'number';
const Config = createContextKey<AppConfig>('Configuration', isAppConfig);

function errorOf(fn: () => unknown): PluginError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PluginError) return e;
    throw new Error(`expected a PluginError, got ${String(e)}`);
  }
  throw new Error('expected a throw');
}

describe('PluginContext', () => {
  it('sets, gets, checks, lists and removes values by string and typed keys', () => {
    const ctx = new PluginContext();
    ctx.set('Logger', { log: () => {} });
    ctx.set(Config, { port: 8080 });
    ctx.set('custom.key', 0);
    expect(ctx.get(Config).port).toBe(8080);
    expect(ctx.get<number>('custom.key')).toBe(0);
    expect(ctx.get<AppConfig>('Configuration')).toEqual({ port: 8080 });
    expect(ctx.has('Logger')).toBe(true);
    expect(ctx.has(Config)).toBe(true);
    expect(ctx.keys()).toEqual(['Logger', 'Configuration', 'custom.key']);
    expect(ctx.size).toBe(3);
    expect(ctx.remove('Logger')).toBe(true);
    expect(ctx.remove('Logger')).toBe(false);
    expect(ctx.has('Logger')).toBe(false);
    expect(ctx.keys()).toEqual(['Configuration', 'custom.key']);
  });

  it('keeps falsy values (0, "", false, null) as present values', () => {
    const ctx = new PluginContext();
    for (const [k, v] of [
      ['a', 0],
      ['b', ''],
      ['c', false],
      ['d', null],
    ] as const) {
      ctx.set(k, v);
      expect(ctx.get(k)).toBe(v);
      expect(ctx.has(k)).toBe(true);
    }
  });

  it('throws ContextError for a missing key instead of returning undefined', () => {
    const ctx = new PluginContext();
    const err = errorOf(() => ctx.get('DatabaseConnection'));
    expect(err.code).toBe('ContextError');
    expect(err.message).toContain('DatabaseConnection');
    expect(err.details).toEqual({ key: 'DatabaseConnection' });
    expect(ctx.find('DatabaseConnection')).toBeUndefined();
  });

  it('validates typed keys on set and on get', () => {
    const ctx = new PluginContext();
    expect(errorOf(() => ctx.set(Config, { port: 'x' } as unknown as AppConfig)).code).toBe('ContextError');
    expect(ctx.has(Config)).toBe(false);
    // Stored through the untyped name, then read with the typed key: the wrong type is caught at read.
    ctx.set('Configuration', 'not a config');
    const err = errorOf(() => ctx.get(Config));
    expect(err.code).toBe('ContextError');
    expect(err.message).toContain('wrong type');
    expect(errorOf(() => ctx.find(Config)).code).toBe('ContextError');
  });

  it('refuses undefined values and bad keys', () => {
    const ctx = new PluginContext();
    expect(errorOf(() => ctx.set('k', undefined)).code).toBe('ContextError');
    expect(errorOf(() => ctx.set('*', 1)).code).toBe('InvalidArgument');
    for (const bad of ['', 'x'.repeat(257), 5, null, {}]) {
      expect(errorOf(() => ctx.set(bad as string, 1)).code).toBe('InvalidArgument');
      expect(errorOf(() => ctx.get(bad as string)).code).toBe('InvalidArgument');
    }
  });

  it('caps the number of keys', () => {
    const ctx = new PluginContext({ maxEntries: 2 });
    ctx.set('a', 1);
    ctx.set('b', 2);
    ctx.set('a', 3); // replacing is fine
    const err = errorOf(() => ctx.set('c', 4));
    expect(err.code).toBe('ContextError');
    expect(ctx.has('c')).toBe(false);
    expect(() => new PluginContext({ maxEntries: 0 })).toThrow(PluginError);
  });

  it('notifies subscribers of a key and of every key, after the change', () => {
    const ctx = new PluginContext();
    const onKey: ContextChange[] = [];
    const onAny: ContextChange[] = [];
    const offKey = ctx.subscribe(Config, (c) => {
      // The change is already applied when the listener runs.
      expect(ctx.find(Config)).toEqual(c.type === 'set' ? c.value : undefined);
      onKey.push(c);
    });
    ctx.subscribe('*', (c) => onAny.push(c));
    ctx.set(Config, { port: 1 });
    ctx.set(Config, { port: 2 });
    ctx.set('other', 1);
    ctx.remove(Config);
    ctx.remove(Config); // nothing to remove: no event
    expect(onKey).toEqual([
      {
        type: 'set',
        key: 'Configuration',
        value: { port: 1 },
        replaced: false,
        previous: undefined,
        writer: undefined,
      },
      {
        type: 'set',
        key: 'Configuration',
        value: { port: 2 },
        replaced: true,
        previous: { port: 1 },
        writer: undefined,
      },
      { type: 'remove', key: 'Configuration', previous: { port: 2 }, writer: undefined },
    ]);
    expect(onAny.map((c) => `${c.type}:${c.key}`)).toEqual([
      'set:Configuration',
      'set:Configuration',
      'set:other',
      'remove:Configuration',
    ]);
    offKey();
    offKey();
    ctx.set(Config, { port: 3 });
    expect(onKey).toHaveLength(3);
  });

  it('keeps writing when a subscriber throws, and snapshots listeners during a notification', () => {
    const ctx = new PluginContext();
    const late = vi.fn();
    ctx.subscribe('k', () => {
      ctx.subscribe('k', late);
      throw new Error('subscriber bug');
    });
    ctx.set('k', 1);
    expect(ctx.get('k')).toBe(1);
    expect(late).not.toHaveBeenCalled();
    ctx.set('k', 2);
    expect(late).toHaveBeenCalledTimes(1);
  });
});

describe('PluginContext.forPlugin', () => {
  function setup() {
    const ctx = new PluginContext();
    ctx.set(Config, { port: 80 });
    ctx.set('Logger', 'log');
    ctx.set('secret', 'hunter2');
    const view = ctx.forPlugin('my-plugin', { read: ['Configuration', 'Logger', 'cache'], write: ['cache'] });
    return { ctx, view };
  }

  it('allows declared keys and refuses others with PermissionDenied naming plugin and key', () => {
    const { ctx, view } = setup();
    const api: PluginContextApi = view;
    expect(api.get(Config)).toEqual({ port: 80 });
    expect(api.has('Logger')).toBe(true);
    api.set('cache', { hits: 0 });
    expect(ctx.get('cache')).toEqual({ hits: 0 });
    for (const [fn, access] of [
      [() => view.get('secret'), 'read'],
      [() => view.has('secret'), 'read'],
      [() => view.set('secret', 'x'), 'write'],
      [() => view.set(Config, { port: 1 }), 'write'],
      [() => view.remove('Logger'), 'write'],
      [() => view.subscribe('secret', () => {}), 'read'],
    ] as const) {
      const err = errorOf(fn);
      expect(err.code).toBe('PermissionDenied');
      expect(err.plugin).toBe('my-plugin');
      expect(err.message).toContain('my-plugin');
      expect(err.details).toMatchObject({ access });
    }
    // Nothing leaked or changed.
    expect(ctx.get('secret')).toBe('hunter2');
    expect(ctx.get(Config)).toEqual({ port: 80 });
  });

  it('lists only readable keys', () => {
    const { view } = setup();
    expect(view.keys()).toEqual(['Configuration', 'Logger']);
    view.set('cache', 1);
    expect(view.keys()).toEqual(['Configuration', 'Logger', 'cache']);
  });

  it('reports a missing readable key as ContextError attributed to the plugin', () => {
    const { view } = setup();
    const err = errorOf(() => view.get('cache'));
    expect(err.code).toBe('ContextError');
    expect(err.plugin).toBe('my-plugin');
  });

  it('marks its writes with the plugin name for subscribers', () => {
    const { ctx, view } = setup();
    const changes: ContextChange[] = [];
    ctx.subscribe('cache', (c) => changes.push(c));
    view.set('cache', 1);
    view.remove('cache');
    ctx.set('cache', 2);
    expect(changes.map((c) => [c.type, c.writer])).toEqual([
      ['set', 'my-plugin'],
      ['remove', 'my-plugin'],
      ['set', undefined],
    ]);
  });

  it('lets a plugin subscribe to keys it may read', () => {
    const { ctx, view } = setup();
    const seen = vi.fn();
    view.subscribe(Config, seen);
    ctx.set(Config, { port: 81 });
    expect(seen).toHaveBeenCalledTimes(1);
  });

  it('applies typed-key validation through the view', () => {
    const ctx = new PluginContext();
    const view = ctx.forPlugin('p', { read: ['*'], write: ['*'] });
    expect(errorOf(() => view.set(Config, { port: 'no' } as unknown as AppConfig)).code).toBe('ContextError');
    view.set(Config, { port: 1 });
    view.set('anything', 1);
    expect(view.keys()).toEqual(['Configuration', 'anything']);
    expect(view.canRead('x')).toBe(true);
    expect(view.canWrite('x')).toBe(true);
  });

  it('grants nothing with empty permissions and validates its arguments', () => {
    const ctx = new PluginContext();
    ctx.set('a', 1);
    const view = ctx.forPlugin('p', { read: [], write: [] });
    expect(view.keys()).toEqual([]);
    expect(errorOf(() => view.get('a')).code).toBe('PermissionDenied');
    expect(errorOf(() => ctx.forPlugin('Bad Name', { read: [], write: [] })).code).toBe('InvalidPlugin');
    expect(errorOf(() => ctx.forPlugin('p', { read: 'a' as unknown as string[], write: [] })).code).toBe(
      'InvalidArgument',
    );
    expect(
      errorOf(() => ctx.forPlugin('p', null as unknown as { read: string[]; write: string[] })).code,
    ).toBe('InvalidArgument');
    expect(errorOf(() => ctx.forPlugin('p', { read: [''], write: [] })).code).toBe('InvalidArgument');
  });

  it('does not let write permission imply read', () => {
    const ctx = new PluginContext();
    ctx.set('out', 1);
    const view = ctx.forPlugin('p', { read: [], write: ['out'] });
    view.set('out', 2);
    expect(
      isPluginError(
        errorOf(() => view.get('out')),
        'PermissionDenied',
      ),
    ).toBe(true);
  });
});
