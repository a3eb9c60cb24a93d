import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupName, createCgroupV1, createCgroupV2, validateCgroupLimits } from './cgroups-create.js';
import { cgroupLayout, detectCgroupLayout } from './cgroups-detect.js';

describe('cgroups', () => {
  it('reads a v1 layout from mountinfo, including co-mounted controllers, escapes and namespaced roots', () => {
    const layout = detectCgroupLayout(
      [
        '30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
        '31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
        // A cgroup namespace or bind mount: the mount's root is not the hierarchy's root.
        '32 25 0:28 /docker/abc /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids',
        '33 25 0:29 / /sys/fs/cgroup/blk\\040io rw,nosuid - cgroup cgroup rw,blkio',
        '34 25 0:30 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw',
        '',
      ].join('\n'),
    );
    expect(layout).toEqual({
      version: 1,
      mounts: {
        memory: '/sys/fs/cgroup/memory',
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
        cpuacct: '/sys/fs/cgroup/cpu,cpuacct',
        pids: '/sys/fs/cgroup/pids',
        blkio: '/sys/fs/cgroup/blk io',
      },
    });
    expect(detectCgroupLayout('22 1 0:5 / /proc rw - proc proc rw\n')).toBeUndefined();
  });

  it('uses the unified hierarchy only when it is the only one', () => {
    const v2 = { mountPoint: '/sys/fs/cgroup', root: '/', controllers: ['cpu', 'memory', 'pids'] };
    expect(cgroupLayout({ version: 'v2', v1: {}, v2 })).toEqual({
      version: 2,
      mounts: { cpu: '/sys/fs/cgroup', memory: '/sys/fs/cgroup', pids: '/sys/fs/cgroup' },
    });
    const memory = { mountPoint: '/sys/fs/cgroup/memory', root: '/' };
    expect(cgroupLayout({ version: 'hybrid', v1: { memory }, v2 })).toEqual({
      version: 1,
      mounts: { memory: '/sys/fs/cgroup/memory' },
    });
    expect(cgroupLayout({ version: 'none', v1: {} })).toBeUndefined();
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
    expect(a).toMatch(/^scope_my_plugin_-\d+-\d+-p\d+\.[0-9a-f]{8}$/);
    expect(cgroupName('x')).not.toBe(cgroupName('x'));
    expect(cgroupName('../..')).not.toContain('/');
  });
});

describe('cgroup writers (on a scratch directory standing in for cgroupfs)', () => {
  // The real hierarchy is exercised by the integration suite (v1 on this machine); these pin the v2 file formats,
  // which this machine cannot mount, and the v1 swap rule.
  it('v2: enables controllers in the parents and writes memory.max, memory.swap.max, cpu.max, pids.max, io.weight', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cg2-'));
    try {
      const layout = { version: 2 as const, mounts: { memory: root, cpu: root, pids: root, io: root } };
      const h = createCgroupV2(layout, 'plugward', 'p-1-abcdef01', {
        memoryBytes: 64 << 20,
        swapBytes: 0,
        cpuQuotaUs: 50_000,
        cpuPeriodUs: 100_000,
        pidsMax: 32,
        ioWeight: 300,
      });
      const dir = path.join(root, 'plugward', 'p-1-abcdef01');
      const read = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8');
      expect(fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')).toBe(
        '+memory +cpu +pids +io',
      );
      expect(fs.readFileSync(path.join(root, 'plugward', 'cgroup.subtree_control'), 'utf8')).toBe(
        '+memory +cpu +pids +io',
      );
      expect([
        read('memory.max'),
        read('memory.swap.max'),
        read('cpu.max'),
        read('pids.max'),
        read('io.weight'),
      ]).toEqual([String(64 << 20), '0', '50000 100000', '32', 'default 300']);
      expect(h.procsFiles).toEqual([path.join(dir, 'cgroup.procs')]);
      expect(h.paths).toEqual({ memory: dir, cpu: dir, pids: dir, io: dir });
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('v1: memsw = memory + swap, and a missing controller is SandboxUnavailable', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pw-cg1-'));
    try {
      const mounts: Record<string, string> = {};
      for (const c of ['memory', 'cpu', 'pids']) {
        mounts[c] = path.join(root, c);
        fs.mkdirSync(path.join(root, c, 'plugward', 'p-1-abcdef01'), { recursive: true });
      }
      // memsw exists only where the kernel accounts swap; create it as cgroupfs would.
      fs.writeFileSync(
        path.join(root, 'memory', 'plugward', 'p-1-abcdef01', 'memory.memsw.limit_in_bytes'),
        '',
      );
      createCgroupV1({ version: 1, mounts }, 'plugward', 'p-1-abcdef01', {
        memoryBytes: 1000 << 12,
        swapBytes: 0,
      });
      const mem = path.join(root, 'memory', 'plugward', 'p-1-abcdef01');
      expect(fs.readFileSync(path.join(mem, 'memory.limit_in_bytes'), 'utf8')).toBe(String(1000 << 12));
      expect(fs.readFileSync(path.join(mem, 'memory.memsw.limit_in_bytes'), 'utf8')).toBe(String(1000 << 12));
      expect(fs.readFileSync(path.join(mem, 'memory.swappiness'), 'utf8')).toBe('0');
      expect(() =>
        createCgroupV1(
          { version: 1, mounts: { memory: mounts.memory ?? '' } },
          'plugward',
          'q-1-abcdef01',
          {},
        ),
      ).toThrow(/cgroup v1 'cpu' controller/);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
