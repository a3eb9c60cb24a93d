import type { HeapInfo } from 'node:v8';
import { getHeapStatistics } from 'node:v8';
import type { MessagePort, Worker } from 'node:worker_threads';
import { PluginError, type PluginMetrics } from '@plugward/types';

/** Tag of the heap-statistics request/response messages between host and worker. */
export const HEAP_STATS_MESSAGE = 'plugward:heap-stats';

/** Converts V8 heap statistics into metrics: memory = used heap, peak = total heap, limit = heap size limit. */
export function heapMetrics(
  stats: Pick<HeapInfo, 'used_heap_size' | 'total_heap_size' | 'heap_size_limit'>,
): PluginMetrics {
  return {
    timestamp: Date.now(),
    source: 'v8',
    memoryBytes: stats.used_heap_size,
    peakMemoryBytes: stats.total_heap_size,
    heapLimitBytes: stats.heap_size_limit,
  };
}

/** The heap of the calling isolate (the main thread, or a worker calling it about itself). */
export function currentHeapMetrics(): PluginMetrics {
  return heapMetrics(getHeapStatistics());
}

interface HeapRequest {
  type: typeof HEAP_STATS_MESSAGE;
  id: number;
}

function isHeapStats(
  v: unknown,
): v is Pick<HeapInfo, 'used_heap_size' | 'total_heap_size' | 'heap_size_limit'> {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return ['used_heap_size', 'total_heap_size', 'heap_size_limit'].every(
    (k) => typeof o[k] === 'number' && Number.isFinite(o[k]) && (o[k] as number) >= 0,
  );
}

/**
 * Inside a worker: answers the host's heap-statistics requests on `port` (normally `parentPort`). Needed on Node < 22.16,
 * which has no `worker.getHeapStatistics()`. Returns a function that stops answering.
 */
export function serveHeapStatistics(port: MessagePort): () => void {
  const onMessage = (msg: unknown): void => {
    if (typeof msg !== 'object' || msg === null || (msg as HeapRequest).type !== HEAP_STATS_MESSAGE) return;
    port.postMessage({ type: HEAP_STATS_MESSAGE, id: (msg as HeapRequest).id, stats: getHeapStatistics() });
  };
  port.on('message', onMessage);
  return () => port.off('message', onMessage);
}

let nextId = 1;

/** Worker API of Node ≥ 22.16 (absent from Node 20's types). */
type WorkerWithHeapStats = Worker & { getHeapStatistics?: () => Promise<HeapInfo> };

/**
 * Heap statistics of a worker-thread plugin, from the host. Uses `worker.getHeapStatistics()` where Node has it
 * (≥ 22.16); on Node 20 asks the worker over its message channel, which requires the worker to run
 * {@link serveHeapStatistics}(parentPort) — otherwise this rejects with `Timeout` after `timeoutMs`. An exited worker
 * yields `{ exited: true }`.
 *
 * Gaps (Node 20): no per-worker CPU time (`process.threadCpuUsage` arrived in Node 23.9), and threads, fds and
 * connections are the whole process' — they can't be attributed to one worker, so they are left `undefined`.
 */
export async function collectWorkerHeapMetrics(worker: Worker, timeoutMs = 1000): Promise<PluginMetrics> {
  // threadId becomes -1 once the worker has exited.
  if (worker.threadId < 0) return { timestamp: Date.now(), source: 'v8', exited: true };
  const native = (worker as WorkerWithHeapStats).getHeapStatistics;
  if (typeof native === 'function') {
    try {
      return heapMetrics(await native.call(worker));
    } catch (e) {
      if (worker.threadId < 0) return { timestamp: Date.now(), source: 'v8', exited: true };
      throw e;
    }
  }
  const id = nextId++;
  return new Promise<PluginMetrics>((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
    };
    const onMessage = (msg: unknown): void => {
      if (typeof msg !== 'object' || msg === null) return;
      const m = msg as { type?: unknown; id?: unknown; stats?: unknown };
      if (m.type !== HEAP_STATS_MESSAGE || m.id !== id) return;
      cleanup();
      if (isHeapStats(m.stats)) resolve(heapMetrics(m.stats));
      else reject(new PluginError('InvalidArgument', 'worker sent malformed heap statistics'));
    };
    const onExit = (): void => {
      cleanup();
      resolve({ timestamp: Date.now(), source: 'v8', exited: true });
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new PluginError(
          'Timeout',
          `worker ${worker.threadId} did not report heap statistics within ${timeoutMs} ms (does it run serveHeapStatistics(parentPort)?)`,
        ),
      );
    }, timeoutMs);
    worker.on('message', onMessage);
    worker.on('exit', onExit);
    worker.postMessage({ type: HEAP_STATS_MESSAGE, id } satisfies HeapRequest);
  });
}
