import { DANGEROUS_SYSCALLS } from '@plugward/sandbox-common';
import { describe, expect, it } from 'vitest';
import { buildSeccompFilter } from './seccomp.js';
import { lockdownProfile, NODE_ALLOW_LIST, seccompProfile } from './seccomp-profiles.js';

describe('seccomp profiles', () => {
  it('every mode compiles to a BPF program through libseccomp', () => {
    for (const mode of ['strict', 'basic', 'moderate', 'permissive'] as const) {
      const bpf = buildSeccompFilter({ mode });
      expect(bpf?.length).toBeGreaterThan(8 * 10);
      expect((bpf?.length ?? 1) % 8).toBe(0);
    }
    expect(buildSeccompFilter({ mode: 'disabled' })).toBeUndefined();
  });

  it('strict is an allow-list with an errno (never kill) default, clone3 → ENOSYS, and no bare ioctl/socket/clone', () => {
    const p = seccompProfile({ mode: 'strict' });
    expect(p?.defaultAction).toEqual({ action: 'errno', errno: 1 });
    expect(p?.rules.find((r) => r.syscall === 'clone3')?.action).toEqual({ action: 'errno', errno: 38 });
    for (const name of [
      'ioctl',
      'socket',
      'socketpair',
      'clone',
      'fork',
      'vfork',
      'ptrace',
      'mount',
      'bpf',
      'unshare',
    ]) {
      expect(NODE_ALLOW_LIST).not.toContain(name);
    }
    expect(NODE_ALLOW_LIST).toContain('wait4');
  });

  it('strict makes no new unix socket in any network mode; stream pairs stay, IP sockets only for full', () => {
    for (const inetSockets of [false, true]) {
      const rules = seccompProfile({ mode: 'strict' }, { inetSockets })?.rules ?? [];
      const socket = rules.filter((r) => r.syscall === 'socket');
      const allowed = socket.filter((r) => r.action.action === 'allow').map((r) => r.args?.[0]?.value);
      expect(allowed).toEqual(inetSockets ? [2, 10] : []);
      expect(socket.find((r) => r.args?.[0]?.value === 1)?.action).toEqual({ action: 'errno', errno: 13 });
      const pairs = rules.filter((r) => r.syscall === 'socketpair');
      expect(pairs.filter((r) => r.action.action === 'allow').map((r) => r.args?.[0]?.value)).toEqual([1, 5]);
      expect(pairs.filter((r) => r.action.action !== 'allow').map((r) => r.args?.[0]?.value)).toEqual([2, 3]);
    }
  });

  it('deny-list modes grow from permissive to moderate and always deny the dangerous few', () => {
    const count = (m: 'permissive' | 'basic' | 'moderate') => seccompProfile({ mode: m })?.rules.length ?? 0;
    expect(count('permissive')).toBeLessThan(count('basic'));
    expect(count('basic')).toBeLessThan(count('moderate'));
    const permissive = new Set(seccompProfile({ mode: 'permissive' })?.rules.map((r) => r.syscall));
    for (const s of DANGEROUS_SYSCALLS) expect(permissive.has(s)).toBe(true);
  });

  it('a custom profile gets clone3 → ENOSYS unless it says otherwise, and rejects bad rules', () => {
    const p = seccompProfile({ mode: 'custom', defaultAction: { action: 'allow' }, rules: [] });
    expect(p?.rules).toEqual([{ syscall: 'clone3', action: { action: 'errno', errno: 38 } }]);
    expect(() =>
      buildSeccompFilter({
        mode: 'custom',
        defaultAction: { action: 'allow' },
        rules: [
          {
            syscall: 'ptrace',
            action: { action: 'errno', errno: 1 },
            args: [{ index: 9, op: 'eq', value: 0 }],
          },
        ],
      }),
    ).toThrow(/index/);
    expect(() =>
      buildSeccompFilter({
        mode: 'custom',
        defaultAction: { action: 'errno', errno: 99999 },
        rules: [],
      }),
    ).toThrow(/errno/);
  });

  it('the lockdown profile denies exec and process creation, keeps threads', () => {
    const p = lockdownProfile({ denyExec: true, denyFork: true });
    const names = p.rules.map((r) => r.syscall);
    expect(names).toEqual(expect.arrayContaining(['execve', 'execveat', 'fork', 'vfork', 'clone']));
    expect(p.defaultAction).toEqual({ action: 'allow' });
  });
});
