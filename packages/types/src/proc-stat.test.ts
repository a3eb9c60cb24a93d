import { describe, expect, it } from 'vitest';
import { parseProcStat, procCpuTimeMs } from './proc-stat.js';

describe('parseProcStat', () => {
  it('splits after the last ) so a hostile command name cannot shift fields', () => {
    const line =
      '4242 (evil) R 1 2 3) S 100 4242 4242 0 -1 4194560 500 0 0 0 150 25 0 0 20 0 7 0 98765 1000000 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n';
    expect(parseProcStat(line)).toEqual({
      state: 'S',
      ppid: 100,
      utime: 150,
      stime: 25,
      threads: 7,
      startTime: 98765,
      rssPages: 2000,
    });
  });

  it('throws IoError on garbage', () => {
    expect(() => parseProcStat('garbage')).toThrow(expect.objectContaining({ code: 'IoError' }));
  });
});

describe('procCpuTimeMs', () => {
  it('is (utime + stime) in USER_HZ ticks, as ms', () => {
    const line = '1 (x) S 0 1 1 0 -1 0 0 0 0 0 150 25 0 0 20 0 1 0 5 0 3 0\n';
    expect(procCpuTimeMs(parseProcStat(line))).toBe(1750);
  });
});
