import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { PaddedCounters, SpscRing, cacheLineSize, fullJitterBackoff, sleep } from '@x/core';
import type { Scene } from '../scene.js';

const RUN_MS = 400;

// Two threads bump their own counter for RUN_MS; only the distance between the two counters changes.
async function countFor(stride: number): Promise<number> {
  const counters = new PaddedCounters(2, { stride });
  const stop = new SharedArrayBuffer(4);
  const workers = [0, 1].map(
    (index) => new Worker(join(__dirname, 'core-counter-worker.js'), { workerData: { buffer: counters.buffer, stride, index, stop } }),
  );
  const messages = workers.map((worker) => {
    const queue: Promise<unknown>[] = [];
    const next = (): Promise<unknown> => new Promise((resolve, reject) => worker.once('message', resolve).once('error', reject));
    queue.push(next());
    return { ready: queue[0]!, next };
  });
  await Promise.all(messages.map((m) => m.ready));
  const done = messages.map((m) => m.next());
  counters.reset();
  await sleep(RUN_MS);
  Atomics.store(new Int32Array(stop), 0, 1);
  const total = counters.total();
  await Promise.all(done);
  await Promise.all(workers.map((worker) => worker.terminate()));
  return total;
}

export const coreScene: Scene = {
  title: '@x/core — false sharing made visible, a lock-free ring between threads, jittered backoff',
  async run(log) {
    const line = cacheLineSize();
    const adjacent = await countFor(8);
    const padded = await countFor(line);
    const perSecond = (n: number): string => `${((n / RUN_MS) * 1000 / 1e6).toFixed(0)}M increments/s`;
    log(`cache line: ${line} bytes`);
    log(`2 threads, counters 8 bytes apart (one line):   ${perSecond(adjacent)}`);
    log(`2 threads, counters ${line} bytes apart (padded): ${perSecond(padded)}  -> ${(padded / adjacent).toFixed(1)}x`);
    // The line only bounces between cores while both threads run at the same moment: where the cores are shared
    // with other work, they often do not, and the two figures come out close (or the other way round).
    if (padded / adjacent < 1.2) log('(little or no gain this run: the threads contend for the line only while both run at once, on cores of their own)');

    const ring = SpscRing.create(8);
    const pushed = ring.pushMany([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const out: number[] = [];
    ring.popMany(out);
    log(`SpscRing(8): pushMany of 10 took ${pushed} (full), popMany gave [${out.join(', ')}]`);

    const policy = fullJitterBackoff({ initial: 100, max: 5_000 });
    const delays = [1, 2, 3, 4, 5, 6, 7].map((attempt) => Math.round(policy.delay(attempt)));
    log(`full-jitter retry delays (ms) for attempts 1-7: ${delays.join(', ')}`);
  },
};
