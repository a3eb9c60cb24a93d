import type { Duplex } from 'node:stream';
import { PluginError, type SandboxBackend } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { runAttackKit } from './run-attack-kit.js';

// A backend that says it is supported but can't start anything: every attack would be "refused at load", which must
// never read as containment. The kit's control catches it and reports every attack as an error.
const broken: SandboxBackend<Duplex> = {
  name: 'broken',
  checkSupport: async () => ({ supported: true, features: [] }),
  spawn: async () => {
    throw new PluginError('SandboxError', 'this backend starts nothing');
  },
};

describe('the kit control', () => {
  it('turns every verdict into an error when a harmless untrusted plugin cannot run', async () => {
    const results = await runAttackKit({ backend: broken, only: ['identity.uid-zero', 'grants.fs-etc'] });
    expect(results.map((r) => r.outcome)).toEqual(['error', 'error']);
    expect(results[0]?.evidence).toMatch(/control failed.*this backend starts nothing/);
  }, 60_000);
});
