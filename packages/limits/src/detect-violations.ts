import type { PluginMetrics, ResourceLimits, ViolationType } from '@plugward/types';

/**
 * Compares a reading with limits. Memory (RSS, cgroup usage or V8 used heap) above `maxHeapBytes` is `HeapMemory`;
 * threads, fds and connections above their limits are the matching violations; a rise in the cgroup's OOM-kill count
 * since `previous` is `OutOfMemory`.
 *
 * CPU: the monitor can't see single operations, so `maxCpuTimeMs` is applied to the CPU time consumed between two
 * readings (`previous` → `current`): a plugin that burns more than `maxCpuTimeMs` of CPU within one monitor interval
 * violates `CpuTime`. Without a previous reading there is no CPU verdict.
 */
export function detectViolations(
  current: PluginMetrics,
  limits: ResourceLimits,
  previous?: PluginMetrics,
): ViolationType[] {
  if (current.exited) return [];
  const out: ViolationType[] = [];
  if (current.memoryBytes !== undefined && current.memoryBytes > limits.maxHeapBytes) {
    out.push({ type: 'HeapMemory', used: current.memoryBytes, limit: limits.maxHeapBytes });
  }
  if (current.cpuTimeMs !== undefined && previous?.cpuTimeMs !== undefined && !previous.exited) {
    const usedMs = current.cpuTimeMs - previous.cpuTimeMs;
    if (usedMs > limits.maxCpuTimeMs) out.push({ type: 'CpuTime', usedMs, limitMs: limits.maxCpuTimeMs });
  }
  if (current.threads !== undefined && current.threads > limits.maxThreads) {
    out.push({ type: 'Threads', used: current.threads, limit: limits.maxThreads });
  }
  if (current.fileDescriptors !== undefined && current.fileDescriptors > limits.maxFileDescriptors) {
    out.push({ type: 'FileDescriptors', used: current.fileDescriptors, limit: limits.maxFileDescriptors });
  }
  if (current.connections !== undefined && current.connections > limits.maxConnections) {
    out.push({ type: 'Connections', used: current.connections, limit: limits.maxConnections });
  }
  if (current.oomKills !== undefined && current.oomKills > (previous?.oomKills ?? 0)) {
    out.push({ type: 'OutOfMemory', limit: limits.maxHeapBytes });
  }
  return out;
}
