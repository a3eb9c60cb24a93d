import type { SandboxSupportReport } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { type BackendProbe, decideSandboxBackend } from './backend-choice.js';

const ok = (feature: string, detail: string): SandboxSupportReport => ({
  supported: true,
  features: [{ feature, available: true, detail }],
});
const bad = (feature: string, detail: string): SandboxSupportReport => ({
  supported: false,
  features: [{ feature, available: false, detail, installHint: 'install it' }],
});
const bwrapOk: BackendProbe = {
  id: 'bwrap',
  report: ok('bubblewrap', '/usr/bin/bwrap 0.8.0'),
  trial: { ok: true, detail: 'namespaces created' },
};
const bwrapNoNs: BackendProbe = {
  id: 'bwrap',
  report: ok('bubblewrap', '/usr/bin/bwrap 0.8.0'),
  trial: {
    ok: false,
    detail: "bwrap can't create namespaces here: bwrap: No permissions to create new namespace",
  },
};
const bwrapMissing: BackendProbe = { id: 'bwrap', report: bad('bubblewrap', 'bwrap not found') };
const llOk: BackendProbe = { id: 'landlock', report: ok('landlock', 'ABI 7') };
const llMissing: BackendProbe = {
  id: 'landlock',
  report: bad('landlock', 'the kernel has no Landlock (ENOSYS)'),
};

describe('decideSandboxBackend', () => {
  it('auto: bwrap when it works, and says it is the strongest', () => {
    const d = decideSandboxBackend('auto', [bwrapOk, llOk]);
    expect(d.id).toBe('bwrap');
    expect(d.reason).toMatch(/strongest/);
  });

  it('auto: Landlock when bwrap cannot create namespaces, with bwrap’s own words', () => {
    const d = decideSandboxBackend('auto', [bwrapNoNs, llOk]);
    expect(d.id).toBe('landlock');
    expect(d.reason).toMatch(/bwrap unavailable: .*No permissions to create new namespace/);
    expect(decideSandboxBackend('auto', [bwrapMissing, llOk]).reason).toMatch(/bubblewrap: bwrap not found/);
  });

  it('auto: none when neither works, naming both reasons', () => {
    const d = decideSandboxBackend('auto', [bwrapNoNs, llMissing]);
    expect(d.id).toBeUndefined();
    expect(d.reason).toMatch(/No permissions.*landlock unavailable: .*ENOSYS/);
  });

  it('a forced backend is that one or none — never a silent fallback', () => {
    expect(decideSandboxBackend('landlock', [llOk]).id).toBe('landlock');
    expect(decideSandboxBackend('landlock', [bwrapOk, llMissing]).id).toBeUndefined();
    const forcedBwrap = decideSandboxBackend('bwrap', [bwrapNoNs, llOk]);
    expect(forcedBwrap.id).toBeUndefined();
    expect(forcedBwrap.reason).toMatch(/bwrap was forced but can't run here/);
    expect(decideSandboxBackend('bwrap', [bwrapOk]).reason).toMatch(/forced by the host/);
  });
});
