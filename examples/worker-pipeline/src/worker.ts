import { workerData } from 'node:worker_threads';
import { PaddedCounters, SpscRing } from '@x/core';
import { JOB_SIZE, NO_MORE_WORK, SLOTS, type WorkerInput, stopSlot } from './protocol.js';

const { ring: ringBuffer, counters: countersBuffer, workers, index } = workerData as WorkerInput;
const ring = SpscRing.attach(ringBuffer);
// Each worker writes only its own two slots; padding keeps them off the other workers' cache lines.
const counters = new PaddedCounters(workers * SLOTS + 1, { buffer: countersBuffer });

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

const stopped = (): boolean => counters.get(stopSlot(workers)) !== 0;
for (let start = ring.pop(); start !== NO_MORE_WORK && !stopped(); start = ring.pop()) {
  let primes = 0;
  for (let n = start; n < start + JOB_SIZE; n++) if (isPrime(n)) primes++;
  counters.add(index * SLOTS + 1, primes);
  counters.add(index * SLOTS);
}
