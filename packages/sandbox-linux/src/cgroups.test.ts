import { describe, expect, it } from 'vitest';
import { cgroupName, detectCgroupLayout, validateCgroupLimits } from './cgroups.js';

describe('cgroups', () => {
  it('reads a v1 layout from mounts, including co-mounted controllers', () => {
    const layout = detectCgroupLayout(
      'cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\ncgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n' +
        'cgroup /sys/fs/cgroup/pids cgroup rw,pids 0 0\n',
    );
    expect(layout).toEqual({
      version: 1,
      mounts: {
        memory: '/sys/fs/cgroup/memory',
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        pids: '/sys/fs/cgroup/pids',
      },
    });
    expect(detectCgroupLayout('proc /proc proc rw 0 0\n')).toBeUndefined();
  });

  it('validates limits, with the Node pids floor', () => {
    expect(() => validateCgroupLimits({ pidsMax: 15 })).toThrow(/pidsMax/);
    expect(() => validateCgroupLimits({ memoryBytes: 1024 })).toThrow(/memoryBytes/);
    expect(() => validateCgroupLimits({ cpuPeriodUs: 10 })).toThrow(/cpuPeriodUs/);
    expect(() => validateCgroupLimits({ ioWeight: 0 })).toThrow(/ioWeight/);
    expect(() =>
      validateCgroupLimits({ pidsMax: 16, memoryBytes: 64 * 1024 * 1024, swapBytes: 0 }),
    ).not.toThrow();
  });

  it('makes unique, safe names', () => {
    const a = cgroupName('@scope/My Plugin!');
    expect(a).toMatch(/^scope_my_plugin_-\d+-[0-9a-f]{8}$/);
    expect(cgroupName('x')).not.toBe(cgroupName('x'));
    expect(cgroupName('../..')).not.toContain('/');
  });
});
