// The defaults as the Rust API reference documents them (`ResourceLimits::default()` and its constants): a host
// ported from it must see the same numbers under the same names.
import { describe, expect, it } from 'vitest';
import * as types from './index.js';

const MIB = 1024 * 1024;

describe('resource limit defaults of the reference', () => {
  it('ResourceLimits default: 50 MiB heap, 1000 ms CPU, 4 threads, 32 fds, 10 connections', () => {
    expect(types.DEFAULT_RESOURCE_LIMITS).toMatchObject({
      maxHeapBytes: 50 * MIB,
      maxCpuTimeMs: 1000,
      maxThreads: 4,
      maxFileDescriptors: 32,
      maxConnections: 10,
    });
  });

  it('the documented constants exist under their documented names', () => {
    expect(types.DEFAULT_MAX_HEAP_BYTES).toBe(50 * MIB);
    expect(types.DEFAULT_MAX_CPU_TIME_MS).toBe(1000);
    expect(types.DEFAULT_MAX_THREADS).toBe(4);
    expect(types.DEFAULT_MAX_FILE_DESCRIPTORS).toBe(32);
    expect(types.DEFAULT_MAX_NETWORK_CONNECTIONS).toBe(10);
    expect(types.DEFAULT_VIOLATION_THRESHOLD).toBe(10);
    expect(types.DEFAULT_MONITOR_INTERVAL_SECS * 1000).toBe(types.DEFAULT_MONITOR_INTERVAL_MS);
  });

  it('the runtime allowance is separate and only added for a plugin in its own Node process', () => {
    expect(types.RUNTIME_ALLOWANCE).toEqual({
      heapBytes: 96 * MIB,
      threads: types.MIN_THREADS_FOR_NODE,
      fileDescriptors: 32,
    });
    const sized = types.withRuntimeAllowance(types.DEFAULT_RESOURCE_LIMITS);
    expect(sized.maxHeapBytes).toBe(146 * MIB);
    expect(sized.maxThreads).toBe(4 + types.MIN_THREADS_FOR_NODE);
    expect(sized.maxFileDescriptors).toBe(64);
    expect(sized.maxCpuTimeMs).toBe(1000);
    expect(sized.maxConnections).toBe(10);
    // The default itself is untouched.
    expect(types.DEFAULT_RESOURCE_LIMITS.maxHeapBytes).toBe(50 * MIB);
  });
});
