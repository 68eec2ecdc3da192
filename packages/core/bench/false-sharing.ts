import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PaddedCounters, cacheLineSize } from '@x/core';

/**
 * Two threads each increment their own counter. With `stride` 8 the two counters share one cache line and
 * every increment steals the line from the other core; with the cache-line stride they never meet.
 * Returns increments per second over both threads.
 */
export async function incrementsPerSecond(stride: number, increments: number): Promise<number> {
  const counters = new PaddedCounters(2, { stride });
  const start = new SharedArrayBuffer(4);
  const workers = [0, 1].map(
    (index) =>
      new Worker(join(__dirname, 'false-sharing-worker.js'), {
        workerData: { buffer: counters.buffer, count: 2, stride, index, increments, start },
      }),
  );
  const elapsed = workers.map(
    (worker) => new Promise<number>((resolve, reject) => worker.once('message', resolve).once('error', reject)),
  );
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('online', resolve))));
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const slowest = Math.max(...(await Promise.all(elapsed)));
  await Promise.all(workers.map((worker) => worker.terminate()));
  if (counters.get(0) !== increments || counters.get(1) !== increments) throw new Error('lost increments');
  return (2 * increments) / (slowest / 1000);
}

export const ADJACENT_STRIDE = 8;
export const paddedStride = cacheLineSize;
