/**
 * Side-effect entry: `node --require @plugward/sandbox-linux/lockdown plugin-runtime.cjs` (or `--import`) installs the
 * in-process seccomp filter (no exec, no fork) before the runtime's first line runs. The strict mode of
 * {@link LinuxSandbox} adds this preload itself (`--require`) when the sandboxed command is node.
 * @packageDocumentation
 */
import { performance } from 'node:perf_hooks';
import { installProcessFilter } from './seccomp.js';

// When the host asked the plugin runtime for its start-up timeline (@plugward/registry's `--plugward-trace-startup`
// argument; this layer can't import its name), the lockdown's own steps go into it, in the runtime's line format:
// step, wall clock (epoch ms), the process's CPU time so far (ms).
const trace = process.argv.includes('--plugward-trace-startup');
function step(name: string): void {
  if (!trace) return;
  const u = process.cpuUsage();
  const at = (performance.timeOrigin + performance.now()).toFixed(2);
  process.stderr.write(`plugward-startup ${name} ${at} ${((u.user + u.system) / 1000).toFixed(2)}\n`);
}

step('lockdown-start');
installProcessFilter({ denyExec: true, denyFork: true });
step('lockdown-applied');
