import type { PluginMetrics, ResourceLimits, ViolationType } from '@plugward/types';

/** Compares one metrics reading to a plugin's limits. Fields the reading lacks are not judged. */
export function checkMetrics(m: PluginMetrics, limits: ResourceLimits): ViolationType[] {
  const out: ViolationType[] = [];
  if (m.exited) return out;
  if (m.memoryBytes !== undefined && m.memoryBytes > limits.maxHeapBytes) {
    out.push({ type: 'HeapMemory', used: m.memoryBytes, limit: limits.maxHeapBytes });
  }
  if (m.threads !== undefined && m.threads > limits.maxThreads) {
    out.push({ type: 'Threads', used: m.threads, limit: limits.maxThreads });
  }
  if (m.fileDescriptors !== undefined && m.fileDescriptors > limits.maxFileDescriptors) {
    out.push({ type: 'FileDescriptors', used: m.fileDescriptors, limit: limits.maxFileDescriptors });
  }
  if (m.connections !== undefined && m.connections > limits.maxConnections) {
    out.push({ type: 'Connections', used: m.connections, limit: limits.maxConnections });
  }
  return out;
}
