import { parentPort, workerData } from 'node:worker_threads';
import { PaddedCounters } from '../../src/index.js';

const { buffer, count, stride, index, increments } = workerData as {
  buffer: SharedArrayBuffer;
  count: number;
  stride: number;
  index: number;
  increments: number;
};
const counters = new PaddedCounters(count, { buffer, stride });
for (let i = 0; i < increments; i++) counters.add(index);
counters.add(0, 1); // every worker also bumps the shared counter 0, to check atomicity across threads
parentPort!.postMessage('done');
