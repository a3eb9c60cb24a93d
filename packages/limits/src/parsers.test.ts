import { DEFAULT_RESOURCE_LIMITS } from '@plugward/types';
import { describe, expect, it } from 'vitest';
import { parseCgroupMounts } from './cgroups-detect.js';
import { detectViolations } from './detect-violations.js';
import { countConnections, parseNetTable, type SocketTable } from './proc-net.js';
import { parseProcStatus } from './procfs.js';

describe('parseProcStatus', () => {
  it('reads VmRSS, VmHWM and Threads in bytes', () => {
    const s = 'Name:\tnode\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\nThreads:\t11\nSigQ:\t0/1\n';
    expect(parseProcStatus(s)).toEqual({ rssBytes: 40960 * 1024, peakRssBytes: 51200 * 1024, threads: 11 });
  });

  it('leaves RSS undefined for a kernel thread (no Vm lines)', () => {
    expect(parseProcStatus('Name:\tkthreadd\nThreads:\t1\n')).toEqual({ threads: 1 });
  });
});

describe('parseNetTable', () => {
  const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C352 0100007F:1F90 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000
`;
  const udp = `   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:A1B2 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 3333 2 0000000000000000 0
`;
  it('keeps non-listening TCP and all UDP sockets, skips TIME_WAIT with inode 0', () => {
    const t: SocketTable = new Set();
    parseNetTable(tcp, 'tcp', t);
    parseNetTable(udp, 'udp', t);
    expect([...t].sort()).toEqual([2222, 3333]);
    expect(countConnections([1111, 2222, 3333, 4444], t)).toBe(2);
  });
});

describe('parseCgroupMounts', () => {
  it('maps v1 controllers (including co-mounted ones) and the v2 mount', () => {
    const info = [
      '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate',
      '31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:6 - cgroup cgroup rw,cpu,cpuacct',
      '32 25 0:28 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
      '33 25 0:29 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd',
      '34 25 0:30 / /proc rw - proc proc rw',
    ].join('\n');
    const m = parseCgroupMounts(info);
    expect(m.v2).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(m.v1.cpu).toEqual({ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/' });
    expect(m.v1.cpuacct).toEqual(m.v1.cpu);
    expect(m.v1.memory).toEqual({ mountPoint: '/sys/fs/cgroup/memory', root: '/docker/abc' });
    expect(Object.keys(m.v1).sort()).toEqual(
      ['cpu', 'cpuacct', 'memory', 'xattr'].filter((k) => k !== 'xattr'),
    );
  });
});

describe('detectViolations', () => {
  const limits = { ...DEFAULT_RESOURCE_LIMITS, maxHeapBytes: 100, maxCpuTimeMs: 50, maxThreads: 4 };
  it('finds each exceeded limit and an OOM-kill rise', () => {
    const prev = { timestamp: 0, source: 'cgroup-v1' as const, cpuTimeMs: 1000, oomKills: 0 };
    const cur = {
      timestamp: 1,
      source: 'cgroup-v1' as const,
      cpuTimeMs: 1100,
      memoryBytes: 150,
      threads: 5,
      oomKills: 1,
    };
    expect(detectViolations(cur, limits, prev)).toEqual([
      { type: 'HeapMemory', used: 150, limit: 100 },
      { type: 'CpuTime', usedMs: 100, limitMs: 50 },
      { type: 'Threads', used: 5, limit: 4 },
      { type: 'OutOfMemory', limit: 100 },
    ]);
  });
  it('gives no CPU verdict without a previous reading and nothing for an exited target', () => {
    expect(detectViolations({ timestamp: 0, source: 'procfs', cpuTimeMs: 1e9 }, limits)).toEqual([]);
    expect(
      detectViolations({ timestamp: 0, source: 'procfs', exited: true, memoryBytes: 1e9 }, limits),
    ).toEqual([]);
  });
});
