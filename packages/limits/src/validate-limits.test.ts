import { totalmem } from 'node:os';
import { DEFAULT_RESOURCE_LIMITS, MIN_THREADS_FOR_NODE, RESOURCE_LIMIT_FIELDS } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { ResourceLimits } from './resource-limits.js';
import { DOCUMENTED_LIMIT_FIELDS, limitBounds, mergeLimits, validateLimits } from './validate-limits.js';

const defaults: ResourceLimits = { ...DEFAULT_RESOURCE_LIMITS };

function fieldOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    expect(e).toMatchObject({ name: 'PluginError', code: 'InvalidResourceLimits' });
    return (e as { details?: { field?: unknown } }).details?.field;
  }
  throw new Error('did not throw');
}

describe('validateLimits', () => {
  it('accepts the defaults and returns a copy', () => {
    const out = validateLimits(defaults);
    expect(out).toEqual(defaults);
    expect(out).not.toBe(defaults);
  });

  it.each(
    RESOURCE_LIMIT_FIELDS.flatMap((f) =>
      [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', null].map((v): [string, unknown] => [f, v]),
    ),
  )('rejects %s = %s naming the field', (field, value) => {
    expect(fieldOf(() => validateLimits({ ...defaults, [field]: value }))).toBe(field);
  });

  it('rejects more memory than the machine has, with the field in the message', () => {
    expect(() => validateLimits({ ...defaults, maxHeapBytes: totalmem() + 4096 })).toThrow(
      /maxHeapBytes.*exceeds/,
    );
    expect(validateLimits({ ...defaults, maxHeapBytes: totalmem() }).maxHeapBytes).toBe(totalmem());
    expect(limitBounds().maxHeapBytes.max).toBe(totalmem());
  });

  it('rejects absurd counts above the kernel ceilings and durations above a day', () => {
    const b = limitBounds();
    expect(
      fieldOf(() => validateLimits({ ...defaults, maxFileDescriptors: b.maxFileDescriptors.max + 1 })),
    ).toBe('maxFileDescriptors');
    expect(fieldOf(() => validateLimits({ ...defaults, maxThreads: b.maxThreads.max + 1 }))).toBe(
      'maxThreads',
    );
    expect(fieldOf(() => validateLimits({ ...defaults, maxDbQueryMs: 24 * 3600 * 1000 + 1 }))).toBe(
      'maxDbQueryMs',
    );
    expect(fieldOf(() => validateLimits({ ...defaults, maxHeapBytes: 1024 }))).toBe('maxHeapBytes');
  });

  it('rejects unknown and missing fields, and non-objects', () => {
    expect(fieldOf(() => validateLimits({ ...defaults, maxHeapByte: 5 }))).toBe('maxHeapByte');
    const { maxThreads: _t, ...rest } = defaults;
    expect(fieldOf(() => validateLimits(rest))).toBe('maxThreads');
    expect(fieldOf(() => validateLimits(null))).toBe('(root)');
    expect(fieldOf(() => validateLimits([1]))).toBe('(root)');
  });

  it('accepts a partial declaration when asked', () => {
    expect(validateLimits({ maxThreads: 20 }, { partial: true })).toEqual({ maxThreads: 20 });
  });

  it('enforces the Node thread floor for process-tier limits', () => {
    expect(fieldOf(() => validateLimits(defaults, { nodeProcess: true }))).toBe('maxThreads');
    expect(
      validateLimits({ ...defaults, maxThreads: MIN_THREADS_FOR_NODE }, { nodeProcess: true }).maxThreads,
    ).toBe(MIN_THREADS_FOR_NODE);
  });
});

describe('mergeLimits', () => {
  const caps: ResourceLimits = { ...defaults, maxHeapBytes: 256 * 1024 * 1024, maxThreads: 32 };

  it('lets a plugin ask for less, never more', () => {
    const out = mergeLimits({ maxHeapBytes: 64 * 1024 * 1024, maxThreads: 1000 }, caps);
    expect(out.maxHeapBytes).toBe(64 * 1024 * 1024);
    expect(out.maxThreads).toBe(32);
  });

  it('takes the cap for every field not declared', () => {
    expect(mergeLimits(undefined, caps)).toEqual(caps);
    expect(mergeLimits({}, caps)).toEqual(caps);
  });

  it('rejects an invalid declaration or invalid caps', () => {
    expect(fieldOf(() => mergeLimits({ maxConnections: 0 }, caps))).toBe('maxConnections');
    expect(fieldOf(() => mergeLimits({ evil: 1 }, caps))).toBe('evil');
    expect(fieldOf(() => mergeLimits({}, { ...caps, maxCpuTimeMs: -1 }))).toBe('maxCpuTimeMs');
  });

  it('refuses a process-tier merge below the Node thread floor', () => {
    expect(fieldOf(() => mergeLimits({ maxThreads: 4 }, caps, { nodeProcess: true }))).toBe('maxThreads');
  });
});

describe('ResourceLimits.validate (the reference API)', () => {
  const documented = {
    maxHeapBytes: 50 * 1024 * 1024,
    maxCpuTimeMs: 1000,
    maxThreads: 4,
    maxFileDescriptors: 32,
    maxConnections: 10,
  };

  it('accepts the documented five fields and fills the extensions with their defaults', () => {
    expect(ResourceLimits.validate(documented)).toEqual({
      ...documented,
      maxDbQueryMs: DEFAULT_RESOURCE_LIMITS.maxDbQueryMs,
      maxExternalApiMs: DEFAULT_RESOURCE_LIMITS.maxExternalApiMs,
    });
    expect(validateLimits({ ...documented, maxDbQueryMs: 5 }).maxDbQueryMs).toBe(5);
  });

  it('accepts the reference spelling maxNetworkConnections for maxConnections', () => {
    const { maxConnections: _c, ...rest } = documented;
    expect(ResourceLimits.validate({ ...rest, maxNetworkConnections: 7 }).maxConnections).toBe(7);
    expect(fieldOf(() => ResourceLimits.validate({ ...documented, maxNetworkConnections: 7 }))).toBe(
      'maxNetworkConnections',
    );
  });

  it('still requires each documented field and refuses bad values', () => {
    for (const field of DOCUMENTED_LIMIT_FIELDS) {
      const { [field]: _gone, ...rest } = documented;
      expect(fieldOf(() => ResourceLimits.validate(rest))).toBe(field);
    }
    expect(fieldOf(() => ResourceLimits.validate({ ...documented, maxThreads: 0 }))).toBe('maxThreads');
  });

  it('default() is a fresh copy of the documented defaults', () => {
    const d = ResourceLimits.default();
    expect(d).toEqual(DEFAULT_RESOURCE_LIMITS);
    d.maxThreads = 99;
    expect(ResourceLimits.default().maxThreads).toBe(4);
  });
});
