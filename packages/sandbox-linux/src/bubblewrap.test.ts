import type { SandboxConfig } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { buildBwrapArgs, bwrapCommand, findBwrap } from './bubblewrap.js';
import { defaultSandboxConfig } from './config.js';

describe('buildBwrapArgs', () => {
  it('unshares the configured namespaces, clears the env, drops caps and makes / read-only', () => {
    const args = buildBwrapArgs({
      config: defaultSandboxConfig({ env: { A: '1' } }),
      view: [],
      seccompFd: 5,
    });
    for (const a of [
      '--die-with-parent',
      '--new-session',
      '--unshare-user',
      '--unshare-pid',
      '--unshare-net',
      '--clearenv',
    ]) {
      expect(args).toContain(a);
    }
    expect(args.join(' ')).toContain('--setenv A 1');
    expect(args.join(' ')).toContain('--cap-drop ALL');
    expect(args.join(' ')).toContain('--remount-ro / --chdir /');
    expect(args.join(' ')).toContain('--add-seccomp-fd 5');
    // Sensitive /proc entries present on this kernel are masked.
    expect(args.join(' ')).toMatch(/--ro-bind \/dev\/null \/proc\/\w+/);
  });

  it('refuses contradictions and bad input', () => {
    const base = defaultSandboxConfig();
    expect(() => buildBwrapArgs({ config: { ...base, env: { 'A=B': 'x' } }, view: [] })).toThrow(
      /environment/,
    );
    expect(() =>
      buildBwrapArgs({
        config: { ...base, capabilities: { allowedCaps: ['ALL; rm'], noNewPrivs: true } },
        view: [],
      }),
    ).toThrow(/capability/);
    expect(() =>
      buildBwrapArgs({
        config: {
          ...base,
          filesystem: {
            binds: [{ source: '/tmp', target: '/', mode: 'rw' }],
            tmpfsBytes: 4096,
            maskPaths: [],
          },
        },
        view: [],
      }),
    ).toThrow(/replace/);
    expect(() =>
      buildBwrapArgs({ config: { ...base, namespaces: { ...base.namespaces, mount: false } }, view: [] }),
    ).toThrow(/mount namespace/);
    expect(() =>
      buildBwrapArgs({ config: { ...base, namespaces: { ...base.namespaces, pid: false } }, view: [] }),
    ).toThrow(/pid and ipc/);
    expect(() => bwrapCommand('relative/node', [])).toThrow(/absolute/);
    expect(() => bwrapCommand('/usr/bin/node', ['a\0b'])).toThrow(/NUL/);
  });

  it('capabilities: dropAll (default true) drops all then adds the listed; dropAll false needs allowedCaps', () => {
    const base = defaultSandboxConfig();
    expect(base.capabilities.dropAll).toBe(true);
    const caps = (capabilities: SandboxConfig['capabilities']): string[] => {
      const args = buildBwrapArgs({ config: { ...base, capabilities }, view: [] });
      return args.flatMap((a, i) => (a === '--cap-drop' || a === '--cap-add' ? [`${a} ${args[i + 1]}`] : []));
    };
    expect(caps(base.capabilities)).toEqual(['--cap-drop ALL']);
    const keep = { allowedCaps: ['CAP_NET_BIND_SERVICE'], noNewPrivs: true };
    expect(caps({ ...keep, dropAll: true })).toEqual(['--cap-drop ALL', '--cap-add CAP_NET_BIND_SERVICE']);
    expect(caps({ ...keep, dropAll: false })).toEqual(['--cap-drop ALL', '--cap-add CAP_NET_BIND_SERVICE']);
    expect(caps({ allowedCaps: [], noNewPrivs: true })).toEqual(['--cap-drop ALL']);
    expect(() => caps({ dropAll: false, allowedCaps: [], noNewPrivs: true })).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringMatching(/dropAll/) }),
    );
  });

  it('finds bwrap and refuses a missing one', () => {
    expect(findBwrap().version).toMatch(/^\d+\.\d+/);
    expect(() => findBwrap('/nonexistent/bwrap')).toThrow(/not found/);
  });
});
