import { PluginError } from './errors.js';

/**
 * Clock ticks per second of the CPU times in `/proc/<pid>/stat`: Linux reports them in USER_HZ, which is 100 on every
 * architecture Node supports (x86, arm64, riscv, ppc64, s390x), whatever the kernel's CONFIG_HZ.
 */
export const CLOCK_TICKS_PER_SECOND = 100;

/** The parsed fields of `/proc/<pid>/stat` (or `/proc/thread-self/stat`) Plugward uses. */
export interface ProcStat {
  state: string;
  ppid: number;
  /** User + system CPU time, clock ticks. */
  utime: number;
  stime: number;
  /** Start time after boot, clock ticks: with the pid, identifies a process. */
  startTime: number;
  /** Threads (field 20). */
  threads: number;
  /** Resident set size, pages (field 24). */
  rssPages: number;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) may hold spaces and parentheses: split after the last `)`.
 * @throws PluginError `IoError` for a malformed line.
 */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  const rest = close < 0 ? [] : text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const num = (field: number): number => {
    const n = Number(rest[field - 3]);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new PluginError('IoError', `malformed /proc stat (field ${field})`, { details: { field } });
    }
    return n;
  };
  const state = rest[0];
  if (state === undefined || state.length !== 1)
    throw new PluginError('IoError', 'malformed /proc stat (state)');
  return {
    state,
    ppid: num(4),
    utime: num(14),
    stime: num(15),
    threads: num(20),
    startTime: num(22),
    rssPages: num(24),
  };
}

/** User + system CPU time of a parsed stat line, ms. */
export function procCpuTimeMs(stat: ProcStat, ticksPerSecond = CLOCK_TICKS_PER_SECOND): number {
  return ((stat.utime + stat.stime) * 1000) / ticksPerSecond;
}
