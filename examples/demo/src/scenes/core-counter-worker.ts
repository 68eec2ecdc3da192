import { parentPort, workerData } from 'node:worker_threads';
import { PaddedCounters } from '@x/core';

// Increments its own counter until the main thread raises the stop flag.
const { buffer, stride, index, stop } = workerData as { buffer: SharedArrayBuffer; stride: number; index: number; stop: SharedArrayBuffer };
const counters = new PaddedCounters(2, { buffer, stride });
const stopFlag = new Int32Array(stop);
parentPort!.postMessage('ready');
while (Atomics.load(stopFlag, 0) === 0) {
  for (let i = 0; i < 10_000; i++) counters.add(index);
}
parentPort!.postMessage('done');
