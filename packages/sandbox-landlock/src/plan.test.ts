import { describe, expect, it } from 'vitest';
import { defaultLandlockConfig } from './config.js';
import { FILE_RIGHTS, FS, handledFsRights, NET, SCOPE } from './landlock-abi.js';
import { buildLaunchPlan, launcherSeccompRules, type PlanInput, RLIMIT } from './plan.js';

const base = (over: Partial<PlanInput> = {}): PlanInput => ({
  abi: 7,
  config: defaultLandlockConfig(),
  command: '/usr/bin/node',
  libraries: ['/lib64/ld-linux-x86-64.so.2', '/usr/lib/x86_64-linux-gnu/libc.so.6'],
  readOnlyPaths: ['/opt/runtime', '/opt/plugin'],
  scratchDir: '/run/plugward-ll/x/scratch',
  args: ['/opt/runtime/runtime.js'],
  fdLimit: 100,
  dataLimitBytes: 608 << 20,
  uid: 1_900_000_123,
  pidsMax: 26,
  cgroupProcs: [],
  hostPid: 4242,
  allowDisabledSeccomp: false,
  ...over,
});

const rightsOf = (plan: ReturnType<typeof buildLaunchPlan>, p: string): number | undefined =>
  plan.pathRules.find((r) => r.path === p)?.access;

describe('buildLaunchPlan', () => {
  it('handles every right of the ABI and grants only what each path needs', () => {
    const plan = buildLaunchPlan(base());
    expect(plan.handledFs).toBe(handledFsRights(7));
    expect(plan.handledNet).toBe(NET.BIND_TCP | NET.CONNECT_TCP);
    expect(plan.scoped).toBe(SCOPE.ABSTRACT_UNIX_SOCKET | SCOPE.SIGNAL);
    expect(rightsOf(plan, '/usr/bin/node')).toBe(FS.READ_FILE | FS.EXECUTE);
    // Read-only paths: no write, no exec.
    expect(rightsOf(plan, '/opt/plugin')).toBe(FS.READ_FILE | FS.READ_DIR);
    // Scratch: writable but never executable, no device/fifo/socket/symlink creation.
    const scratch = rightsOf(plan, '/run/plugward-ll/x/scratch') ?? 0;
    expect(scratch & FS.WRITE_FILE).toBeTruthy();
    for (const bit of [
      FS.EXECUTE,
      FS.MAKE_CHAR,
      FS.MAKE_BLOCK,
      FS.MAKE_FIFO,
      FS.MAKE_SOCK,
      FS.MAKE_SYM,
      FS.IOCTL_DEV,
    ]) {
      expect(scratch & bit).toBe(0);
    }
    expect(rightsOf(plan, '/dev/null')).toBe(FS.READ_FILE | FS.WRITE_FILE);
    expect(plan.pathRules.map((r) => r.path)).not.toContain('/');
    // Its own /proc entries one by one, never the directory (whose `net` is the host's) nor `environ`/`auxv`/`mem`.
    const proc = new Map(plan.procSelf.map((r) => [r.path, r.access]));
    for (const entry of ['', '.', 'net', 'environ', 'auxv', 'mem', 'ns', 'root', 'cwd'])
      expect(proc.has(entry)).toBe(false);
    expect(proc.get('task')).toBe(FS.READ_DIR);
    expect(proc.get('maps')).toBe(FS.READ_FILE);
    expect(plan.env).toContain('TMPDIR=/run/plugward-ll/x/scratch');
  });

  it('sets the rlimits, the exec fd above NOFILE, and NPROC only for a leased uid', () => {
    const plan = buildLaunchPlan(base());
    const lim = Object.fromEntries(plan.rlimits.map((r) => [r.resource, r.value]));
    expect(lim[RLIMIT.NOFILE]).toBe('100');
    expect(lim[RLIMIT.FSIZE]).toBe(String(16 << 20));
    expect(lim[RLIMIT.DATA]).toBe(String(608 << 20));
    expect(lim[RLIMIT.CORE]).toBe('0');
    expect(lim[RLIMIT.NPROC]).toBe('26');
    expect(plan.execFd).toBeGreaterThanOrEqual(100);
    const withCgroup = buildLaunchPlan(base({ dataLimitBytes: undefined }));
    expect(withCgroup.rlimits.some((r) => r.resource === RLIMIT.DATA)).toBe(false);
    const noUid = buildLaunchPlan(base({ uid: undefined, cpuSeconds: 60 }));
    expect(noUid.rlimits.some((r) => r.resource === RLIMIT.NPROC)).toBe(false);
    expect(noUid.rlimits.find((r) => r.resource === RLIMIT.CPU)?.value).toBe('60');
  });

  it('masks rights the ABI does not know and drops net/scopes on older ABIs', () => {
    const plan = buildLaunchPlan(base({ abi: 3 }));
    expect(plan.handledNet).toBe(0);
    expect(plan.scoped).toBe(0);
    for (const r of plan.pathRules) expect(r.access & ~handledFsRights(3)).toBe(0);
  });

  it('leaves TCP to the host only in full network mode', () => {
    const plan = buildLaunchPlan(base({ config: defaultLandlockConfig({ network: { mode: 'full' } }) }));
    expect(plan.handledNet).toBe(0);
    const restricted = buildLaunchPlan(
      base({
        config: defaultLandlockConfig({ network: { mode: 'restricted', allowedTargets: [] } as never }),
      }),
    );
    expect(restricted.handledNet).toBe(NET.BIND_TCP | NET.CONNECT_TCP);
  });

  it('maps grants to rules at their own path and refuses a moved bind', () => {
    const plan = buildLaunchPlan(
      base({
        config: defaultLandlockConfig({
          filesystem: {
            binds: [
              { source: '/data', mode: 'rw' },
              { source: '/ref', mode: 'ro' },
            ],
            tmpfsBytes: 1 << 20,
            maskPaths: [],
          },
        }),
      }),
    );
    expect((rightsOf(plan, '/data') ?? 0) & FS.WRITE_FILE).toBeTruthy();
    expect((rightsOf(plan, '/ref') ?? 0) & FS.WRITE_FILE).toBe(0);
    expect(() =>
      buildLaunchPlan(
        base({
          config: defaultLandlockConfig({
            filesystem: {
              binds: [{ source: '/data', target: '/mnt', mode: 'ro' }],
              tmpfsBytes: 1 << 20,
              maskPaths: [],
            },
          }),
        }),
      ),
    ).toThrow(/no mount namespace/);
  });

  it('refuses what it can not honour instead of running weaker', () => {
    const refuse = (over: Partial<PlanInput>, code: string): void => {
      expect(() => buildLaunchPlan(base(over))).toThrow(expect.objectContaining({ code }));
    };
    refuse({ abi: 2 }, 'SandboxUnavailable');
    refuse({ config: defaultLandlockConfig({ seccomp: { mode: 'permissive' } }) }, 'InvalidArgument');
    refuse({ config: defaultLandlockConfig({ seccomp: { mode: 'disabled' } }) }, 'InvalidArgument');
    refuse(
      { config: defaultLandlockConfig({ capabilities: { allowedCaps: ['CAP_NET_RAW'], noNewPrivs: true } }) },
      'InvalidArgument',
    );
    refuse(
      {
        config: defaultLandlockConfig({
          capabilities: { dropAll: false, allowedCaps: ['CAP_NET_RAW'], noNewPrivs: true },
        }),
      },
      'InvalidArgument',
    );
    // dropAll: false alone would mean "keep what the host process has": refused.
    refuse(
      {
        config: defaultLandlockConfig({
          capabilities: { dropAll: false, allowedCaps: [], noNewPrivs: true },
        }),
      },
      'InvalidArgument',
    );
    expect(defaultLandlockConfig().capabilities.dropAll).toBe(true);
    refuse(
      { config: defaultLandlockConfig({ capabilities: { allowedCaps: [], noNewPrivs: false } }) },
      'InvalidArgument',
    );
    refuse({ fdLimit: 8 }, 'InvalidResourceLimits');
    refuse({ uid: 0 }, 'InvalidArgument');
    refuse({ config: defaultLandlockConfig({ env: { 'A=B': 'x' } }) }, 'InvalidArgument');
    expect(
      buildLaunchPlan(
        base({
          allowDisabledSeccomp: true,
          config: defaultLandlockConfig({ seccomp: { mode: 'disabled' } }),
        }),
      ).seccomp,
    ).toEqual([]);
  });

  it('file rules never carry directory rights (the kernel would refuse them)', () => {
    expect(FILE_RIGHTS & (FS.READ_DIR | FS.MAKE_REG | FS.REMOVE_FILE)).toBe(0);
  });
});

describe('launcherSeccompRules', () => {
  const rules = launcherSeccompRules({ inet: false, execFd: 101 });
  const named = (s: string) => rules.filter((r) => r.syscall === s);

  it('denies exec except the launcher’s own execveat of the exec fd', () => {
    expect(named('execve')).toHaveLength(1);
    const ea = named('execveat');
    expect(ea.some((r) => r.args?.[0]?.op === 'ne' && r.args[0].value === 101)).toBe(true);
    expect(
      ea.some((r) => r.args?.[0]?.index === 4 && r.args[0].op === 'masked-eq' && r.args[0].value === 0),
    ).toBe(true);
  });

  it('denies fork and namespace clones but not threads', () => {
    expect(named('fork')).toHaveLength(1);
    const clone = named('clone');
    expect(clone.some((r) => r.args?.[0]?.mask === 0x10000 && r.args[0].value === 0)).toBe(true);
    expect(clone.some((r) => r.args?.[0]?.mask === 0x10000000)).toBe(true); // CLONE_NEWUSER
    expect(named('clone3')[0]?.action).toEqual({ action: 'errno', errno: 38 });
  });

  it('limits sockets by network mode, and makes no new unix socket in any', () => {
    expect(named('connect')).toHaveLength(1);
    expect(named('socket')).toEqual([{ syscall: 'socket', action: { action: 'errno', errno: 13 } }]);
    const full = launcherSeccompRules({ inet: true, execFd: 101 });
    expect(full.some((r) => r.syscall === 'connect')).toBe(false);
    const denied = full
      .filter((r) => r.syscall === 'socket')
      .map((r) => `${r.args?.[0]?.op}${r.args?.[0]?.value}`);
    expect(denied).toContain('gt10');
    expect(denied).toContain('eq1'); // AF_UNIX
    expect(denied).not.toContain('eq2');
    expect(denied).toContain('eq9'); // AF_X25; AF_PACKET (17) is above AF_INET6
    for (const r of [rules, full]) {
      const pairs = r.filter((x) => x.syscall === 'socketpair').map((x) => x.args?.[0]?.value);
      expect(pairs.sort()).toEqual([2, 3]); // SOCK_DGRAM, SOCK_RAW; stream pairs stay
    }
  });

  it('aims no limit, priority or scheduling call at another process', () => {
    for (const s of [
      'prlimit64',
      'sched_setaffinity',
      'sched_setscheduler',
      'sched_setattr',
      'get_robust_list',
    ]) {
      expect([s, named(s).map((r) => r.args)]).toEqual([s, [[{ index: 0, op: 'ne', value: 0 }]]]);
    }
    for (const s of ['setpriority', 'ioprio_set']) {
      expect(
        named(s)
          .map((r) => r.args?.[0]?.index)
          .sort(),
      ).toEqual([0, 1]);
    }
    for (const s of ['pidfd_open', 'sync', 'syncfs', 'migrate_pages']) expect(named(s)).toHaveLength(1);
  });
});
