import { parentPort, workerData } from 'node:worker_threads';
import { PaddedCounters } from '@x/core';

// Waits for the start signal, increments its own counter `increments` times, reports its elapsed time.
const { buffer, count, stride, index, increments, start } = workerData as {
  buffer: SharedArrayBuffer;
  count: number;
  stride: number;
  index: number;
  increments: number;
  start: SharedArrayBuffer;
};
const counters = new PaddedCounters(count, { buffer, stride });
const go = new Int32Array(start);
Atomics.wait(go, 0, 0);
const began = performance.now();
for (let i = 0; i < increments; i++) counters.add(index);
parentPort!.postMessage(performance.now() - began);
