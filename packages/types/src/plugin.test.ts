import { describe, expect, it } from 'vitest';
import { priorityBand } from './constants.js';
import { isPluginError } from './errors.js';
import { DEFAULT_RESOURCE_LIMITS, violationSeverity } from './limits.js';
import {
  contextKeyName,
  createContextKey,
  definePlugin,
  isPlugin,
  type PluginDefinition,
  validatePartialLimits,
} from './plugin.js';
import { MINIMAL_REQUIREMENTS, needsOutOfProcessGrants } from './requirements.js';

const base: PluginDefinition = {
  name: 'hello',
  version: '1.0.0',
  author: 'tests',
  init() {},
  registerHooks() {},
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isPluginError(e) ? e.code : `not a PluginError: ${String(e)}`;
  }
  return undefined;
}

describe('definePlugin', () => {
  it('returns a frozen plugin with a default shutdown', async () => {
    const p = definePlugin(base);
    expect(isPlugin(p)).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
    expect(p.name).toBe('hello');
    expect(await p.shutdown()).toBeUndefined();
  });

  it('checks hook names against the hook map (the @ts-expect-error lines fail `pnpm typecheck` when they compile)', async () => {
    const names: string[] = [];
    const p = definePlugin<{ on_request: string; on_log: Uint8Array }>({
      ...base,
      async registerHooks(hooks) {
        await hooks.register('on_request', 200, (d) => d);
        await hooks.register('on_log', 300, (d) => d);
        // @ts-expect-error — not a hook of this plugin
        await hooks.register('on_reqest', 200, (d) => d);
      },
    });
    await p.registerHooks({ register: (name) => names.push(name) });
    expect(names).toEqual(['on_request', 'on_log', 'on_reqest']);
  });

  it('binds a declared shutdown to the definition', async () => {
    const calls: string[] = [];
    const p = definePlugin({
      ...base,
      state: 'x',
      shutdown(this: { state: string }) {
        calls.push(this.state);
      },
    } as PluginDefinition);
    await p.shutdown();
    expect(calls).toEqual(['x']);
  });

  it.each([
    [{ ...base, name: '' }, 'InvalidPlugin'],
    [{ ...base, name: 'Hello' }, 'InvalidPlugin'],
    [{ ...base, name: '../evil' }, 'InvalidPlugin'],
    [{ ...base, name: 'a'.repeat(215) }, 'InvalidPlugin'],
    [{ ...base, name: 42 }, 'InvalidPlugin'],
    [{ ...base, version: '1.2' }, 'InvalidVersion'],
    [{ ...base, version: 'v1.0.0' }, 'InvalidVersion'],
    [{ ...base, version: undefined }, 'InvalidVersion'],
    [{ ...base, author: undefined }, 'InvalidPlugin'],
    [{ ...base, description: 5 }, 'InvalidPlugin'],
    [{ ...base, init: 'yes' }, 'InvalidPlugin'],
    [{ ...base, init: undefined }, 'InvalidPlugin'],
    [{ ...base, registerHooks: {} }, 'InvalidPlugin'],
    [{ ...base, shutdown: 1 }, 'InvalidPlugin'],
    [{ ...base, resourceLimits: {} }, 'InvalidPlugin'],
    [null, 'InvalidPlugin'],
  ])('rejects %o with %s', (def, code) => {
    expect(codeOf(() => definePlugin(def as unknown as PluginDefinition))).toBe(code);
  });

  it('accepts scoped and dotted names', () => {
    expect(definePlugin({ ...base, name: '@acme/auth.v2_x-y' }).name).toBe('@acme/auth.v2_x-y');
  });
});

describe('validatePartialLimits', () => {
  it('accepts known positive integer fields', () => {
    expect(validatePartialLimits({ maxHeapBytes: 1024, maxThreads: 16 })).toEqual({
      maxHeapBytes: 1024,
      maxThreads: 16,
    });
    expect(validatePartialLimits(undefined)).toEqual({});
  });
  it.each([
    [{ maxHeapBytes: 0 }, 'maxHeapBytes'],
    [{ maxHeapBytes: -5 }, 'maxHeapBytes'],
    [{ maxCpuTimeMs: 1.5 }, 'maxCpuTimeMs'],
    [{ maxThreads: '10' }, 'maxThreads'],
    [{ maxThreads: Number.POSITIVE_INFINITY }, 'maxThreads'],
    [{ bogus: 1 }, 'bogus'],
  ])('rejects %o naming %s', (limits, field) => {
    let caught: unknown;
    try {
      validatePartialLimits(limits);
    } catch (e) {
      caught = e;
    }
    expect(isPluginError(caught, 'InvalidResourceLimits')).toBe(true);
    expect((caught as Error).message).toContain(field);
  });
  it('rejects non-objects', () => {
    expect(codeOf(() => validatePartialLimits([]))).toBe('InvalidResourceLimits');
    expect(codeOf(() => validatePartialLimits(null))).toBe('InvalidResourceLimits');
  });
});

describe('small helpers', () => {
  it('context keys', () => {
    const k = createContextKey<number>('counter', (v): v is number => typeof v === 'number');
    expect(contextKeyName(k)).toBe('counter');
    expect(contextKeyName('Logger')).toBe('Logger');
    expect(codeOf(() => createContextKey(''))).toBe('InvalidArgument');
  });
  it('priority bands', () => {
    expect([0, 99, 100, 199, 200, 299, 300, 399, 400, 10_000].map(priorityBand)).toEqual([
      'Critical',
      'Critical',
      'High',
      'High',
      'Normal',
      'Normal',
      'Low',
      'Low',
      'Cleanup',
      'Cleanup',
    ]);
  });
  it('violation severities', () => {
    expect(violationSeverity({ type: 'HeapMemory', used: 2, limit: 1 })).toBe('Critical');
    expect(violationSeverity({ type: 'CpuTime', usedMs: 2, limitMs: 1 })).toBe('High');
    expect(violationSeverity({ type: 'ExternalApi', durationMs: 2, limitMs: 1 })).toBe('Medium');
    expect(violationSeverity({ type: 'Threads', used: 2, limit: 1 })).toBe('Low');
  });
  it('defaults', () => {
    expect(DEFAULT_RESOURCE_LIMITS.maxHeapBytes).toBe(50 * 1024 * 1024);
    expect(Object.isFrozen(DEFAULT_RESOURCE_LIMITS)).toBe(true);
    expect(needsOutOfProcessGrants(MINIMAL_REQUIREMENTS)).toBe(false);
    expect(needsOutOfProcessGrants({ ...MINIMAL_REQUIREMENTS, network: { mode: 'full' } })).toBe(true);
  });
});
