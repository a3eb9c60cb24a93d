import { DEFAULT_RESOURCE_LIMITS, MINIMAL_REQUIREMENTS, type PluginRequirements } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { checkDeclarations, codeDeclarations, enforceDeclarations } from './declarations.js';

const req = (r: Partial<PluginRequirements>): PluginRequirements => ({ ...MINIMAL_REQUIREMENTS, ...r });
const input = (manifest: PluginRequirements, code: PluginRequirements) => ({
  name: 'p',
  trustLevel: 'trusted' as const,
  manifestRequirements: manifest,
  manifestLimits: {},
  limits: { ...DEFAULT_RESOURCE_LIMITS },
  declared: { requirements: code, limits: {} },
});

describe('checkDeclarations', () => {
  it('code within the manifest exceeds nothing (paths below granted ones, targets the manifest lists)', () => {
    const manifest = req({
      network: { mode: 'restricted', allowedTargets: [{ host: '*.example.com', ports: [443] }] },
      filesystem: { mode: 'readWrite', paths: ['/srv/data'] },
      context: { read: ['*'], write: ['a'] },
    });
    const code = req({
      network: { mode: 'restricted', allowedTargets: [{ host: 'api.example.com', ports: [443] }] },
      filesystem: { mode: 'readOnly', paths: ['/srv/data/in'] },
      context: { read: ['anything'], write: ['a'] },
    });
    expect(checkDeclarations(input(manifest, code)).exceeded).toEqual([]);
    expect(
      checkDeclarations(
        input(
          req({ network: { mode: 'full' } }),
          req({ network: { mode: 'restricted', allowedTargets: [{ host: '10.0.0.1' }] } }),
        ),
      ).exceeded,
    ).toEqual([]);
  });

  it('names every widening: network, filesystem mode and paths, context keys', () => {
    const manifest = req({ filesystem: { mode: 'readOnly', paths: ['/srv'] } });
    const code = req({
      network: { mode: 'full' },
      filesystem: { mode: 'readWrite', paths: ['/srv', '/etc'] },
      context: { read: ['*'], write: ['x'] },
    });
    expect(checkDeclarations(input(manifest, code)).exceeded).toEqual([
      'network full (the manifest: isolated)',
      'filesystem readWrite /srv, /etc (the manifest: readOnly /srv)',
      'context read "*"',
      'context write "x"',
    ]);
    expect(() => enforceDeclarations(input(manifest, code))).toThrow(
      expect.objectContaining({ code: 'RequirementsExceeded' }),
    );
    expect(enforceDeclarations({ ...input(manifest, code), trustLevel: 'untrusted' }).exceeded).toHaveLength(
      4,
    );
  });

  it('reported declarations are untrusted input', () => {
    expect(() => codeDeclarations({ requirements: { network: { mode: 'everything' } } }, 'p')).toThrow(
      expect.objectContaining({ code: 'InvalidPlugin' }),
    );
    expect(() => codeDeclarations(null, 'p')).toThrow(expect.objectContaining({ code: 'InvalidPlugin' }));
  });
});
