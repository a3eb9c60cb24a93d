import { MINIMAL_REQUIREMENTS, type PluginRequirements } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { type PlacementInput, placePlugin } from './placement.js';

const base: PlacementInput = {
  name: 'p',
  trustLevel: 'trusted',
  kind: 'js',
  requirements: MINIMAL_REQUIREMENTS,
  defaultTier: 'in-process',
  sandboxAvailable: true,
};
const withNetwork: PluginRequirements = { ...MINIMAL_REQUIREMENTS, network: { mode: 'full' } };

describe('placePlugin', () => {
  it('a trusted JS plugin runs at the default tier or its override', () => {
    for (const tier of ['in-process', 'worker', 'process', 'sandbox'] as const) {
      expect(placePlugin({ ...base, defaultTier: tier }).tier).toBe(tier);
      expect(placePlugin({ ...base, override: tier }).tier).toBe(tier);
    }
  });

  it('a native plugin never runs at the worker tier', () => {
    const native = { ...base, kind: 'native' as const };
    // The host's default tier: moved to a process, which can be ended wherever its code is.
    expect(placePlugin({ ...native, defaultTier: 'worker' })).toEqual({
      tier: 'process',
      reason: "native code can't be stopped in a worker thread (host default tier worker)",
    });
    // Asked for by name: refused, not quietly changed.
    expect(() => placePlugin({ ...native, override: 'worker' })).toThrow(
      expect.objectContaining({ code: 'Unsupported', plugin: 'p' }),
    );
    expect(() => placePlugin({ ...native, defaultTier: 'process', override: 'worker' })).toThrow(
      expect.objectContaining({ code: 'Unsupported' }),
    );
    // Grants still raise it to the sandbox; the other tiers are as asked.
    expect(placePlugin({ ...native, defaultTier: 'worker', requirements: withNetwork }).tier).toBe('sandbox');
    for (const tier of ['in-process', 'process', 'sandbox'] as const) {
      expect(placePlugin({ ...native, defaultTier: tier }).tier).toBe(tier);
      expect(placePlugin({ ...native, defaultTier: 'worker', override: tier }).tier).toBe(tier);
    }
  });

  it('an untrusted plugin runs only in the sandbox, native or not', () => {
    for (const kind of ['js', 'native'] as const) {
      expect(placePlugin({ ...base, kind, trustLevel: 'untrusted', defaultTier: 'worker' }).tier).toBe(
        'sandbox',
      );
      expect(() => placePlugin({ ...base, kind, trustLevel: 'untrusted', override: 'worker' })).toThrow(
        expect.objectContaining({ code: 'UntrustedPlugin' }),
      );
    }
  });
});
