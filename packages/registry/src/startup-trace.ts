/**
 * An opt-in start-up timeline for attributing cold start: with `PLUGWARD_TRACE_STARTUP=1` in the host's environment,
 * the host puts `performance.mark('plugward:startup:<plugin>:<step>')` marks on its own timeline and asks the plugin
 * runtime (by {@link STARTUP_TRACE_ARG}) to print its steps as `plugward-startup <step> <epoch ms>` lines on stderr,
 * which reach the host's `log` like any other plugin output. Off (the default), it costs one boolean test per step.
 */
import { performance } from 'node:perf_hooks';

/** Runtime argument that turns the plugin side of the timeline on (the sandbox clears the environment). */
export const STARTUP_TRACE_ARG = '--plugward-trace-startup';

/** Whether the host records its start-up marks (read once, at load). */
export const startupTraceEnabled = process.env.PLUGWARD_TRACE_STARTUP === '1';

/** Marks `step` of `plugin`'s start on the host's performance timeline when tracing is on. */
export function hostStartupMark(plugin: string, step: string): void {
  if (startupTraceEnabled) performance.mark(`plugward:startup:${plugin}:${step}`);
}

/** Wall-clock time (epoch ms) of a `performance.now()` reading, comparable across processes. */
export function epochMs(now = performance.now()): number {
  return performance.timeOrigin + now;
}
