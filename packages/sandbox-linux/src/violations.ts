import type { PluginMetrics, SandboxExit, SandboxedProcess, ViolationType } from '@plugward/types';

/**
 * The violation a sandbox exit stands for: `OutOfMemory` when the cgroup recorded an OOM kill, `Crash` for any other
 * signal or non-zero code, `undefined` for a clean exit.
 */
export function exitViolation(exit: SandboxExit, memoryLimitBytes = 0): ViolationType | undefined {
  if (exit.oomKilled) return { type: 'OutOfMemory', limit: memoryLimitBytes };
  if (exit.signal !== null || (exit.code !== null && exit.code !== 0)) {
    return { type: 'Crash', signal: exit.signal, exitCode: exit.code };
  }
  return undefined;
}

/** A running CPU budget watchdog. */
export interface CpuBudgetWatch {
  /** Resolves with a `CpuTime` violation when the budget was exceeded (and the process killed), else `undefined`. */
  readonly violation: Promise<ViolationType | undefined>;
  stop(): void;
}

/**
 * Kills a sandboxed process once its cgroup has used more than `budgetMs` of CPU in total. The cgroup CPU quota only
 * slows a spinning plugin down; this ends it. Polls `metrics()` every `intervalMs` (default 100 ms).
 */
export function enforceCpuBudget(
  proc: Pick<SandboxedProcess, 'metrics' | 'kill' | 'exit'>,
  options: { budgetMs: number; intervalMs?: number },
): CpuBudgetWatch {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let settle: (v: ViolationType | undefined) => void = () => undefined;
  const violation = new Promise<ViolationType | undefined>((resolve) => {
    settle = resolve;
  });
  const stop = (): void => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
    settle(undefined);
  };
  const tick = (): void => {
    proc.metrics().then(
      (m: PluginMetrics) => {
        if (stopped) return;
        if (m.exited === true) return stop();
        if (m.cpuTimeMs !== undefined && m.cpuTimeMs > options.budgetMs) {
          proc.kill('SIGKILL');
          stopped = true;
          settle({ type: 'CpuTime', usedMs: Math.round(m.cpuTimeMs), limitMs: options.budgetMs });
          return;
        }
        timer = setTimeout(tick, options.intervalMs ?? 100);
      },
      () => stop(),
    );
  };
  proc.exit.then(stop, stop);
  tick();
  return { violation, stop };
}
