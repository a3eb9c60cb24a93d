import { performance } from 'node:perf_hooks';
import { installProcessFilter } from './seccomp.js';

// When the host asked the plugin runtime for its start-up timeline (@plugward/registry's `--plugward-trace-startup`
// argument; this layer can't import its name), the lockdown's own steps go into it, in the runtime's line format:
// step, wall clock (epoch ms), the process's CPU time so far (ms).
function step(name: string): void {
  if (!process.argv.includes('--plugward-trace-startup')) return;
  const u = process.cpuUsage();
  const at = (performance.timeOrigin + performance.now()).toFixed(2);
  process.stderr.write(`plugward-startup ${name} ${at} ${((u.user + u.system) / 1000).toFixed(2)}\n`);
}

/** Installs the in-process filter (no exec, no fork) on every thread, with its start-up trace steps. */
export function applyLockdown(): void {
  step('lockdown-start');
  installProcessFilter({ denyExec: true, denyFork: true });
  step('lockdown-applied');
}
