import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { collectMetrics, collectWorkerHeapMetrics, currentHeapMetrics } from '../src/index.js';

const WORKER = new URL('./fixtures/heap-worker.mjs', import.meta.url);

const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.terminate()));
});

function start(serve: boolean, maxOldGenerationSizeMb = 64): Worker {
  const w = new Worker(WORKER, { workerData: { serve }, resourceLimits: { maxOldGenerationSizeMb } });
  workers.push(w);
  return w;
}

describe('V8 heap metrics of worker plugins', () => {
  it('reads used heap, growing when the worker allocates, and the worker’s heap limit', async () => {
    const w = start(true, 64);
    // The worker's first answer waits for its start-up, which a loaded machine stretches past the default 1 s.
    const before = await collectWorkerHeapMetrics(w, 20_000);
    w.postMessage({ cmd: 'grow' });
    await new Promise<void>((r) => {
      const on = (m: { grown?: boolean }): void => {
        if (m.grown) {
          w.off('message', on);
          r();
        }
      };
      w.on('message', on);
    });
    const after = await collectMetrics({ kind: 'worker', worker: w });
    expect(after.source).toBe('v8');
    expect((after.memoryBytes as number) - (before.memoryBytes as number)).toBeGreaterThan(5 * 1024 * 1024);
    // maxOldGenerationSizeMb 64 → a heap limit of 64 MiB plus the young generation, far below the main thread's.
    expect(after.heapLimitBytes).toBeGreaterThanOrEqual(64 * 1024 * 1024);
    expect(after.heapLimitBytes).toBeLessThan(128 * 1024 * 1024);
    expect(after.heapLimitBytes).toBeLessThan(currentHeapMetrics().heapLimitBytes as number);
    expect(after.cpuTimeMs).toBeUndefined(); // documented gap on Node 20
  });

  it('times out with a clear error when the worker does not serve heap statistics', async () => {
    const w = start(false);
    if (typeof (w as unknown as { getHeapStatistics?: unknown }).getHeapStatistics === 'function') return; // Node ≥ 22.16
    await expect(collectWorkerHeapMetrics(w, 100)).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringContaining('serveHeapStatistics'),
    });
  });

  it('reports an exited worker as exited', async () => {
    const w = start(true);
    await w.terminate();
    await expect(collectWorkerHeapMetrics(w)).resolves.toMatchObject({ exited: true, source: 'v8' });
  });
});
