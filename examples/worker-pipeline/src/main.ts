/**
 * Counts the primes below LIMIT on every core. The main thread hands out jobs through one SpscRing per worker
 * (no postMessage per job) and reads progress from PaddedCounters that the workers update without contending.
 *
 *   npm start                      # primes below 20,000,000 on all cores
 *   LIMIT=5000000 WORKERS=2 npm start
 *
 * Ctrl-C stops early and still shuts the workers down cleanly.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import {
  PaddedCounters,
  ResourceStack,
  SpscRing,
  assertNumber,
  exponentialBackoff,
  isXError,
  sleep,
} from '@x/core';
import { JOB_SIZE, NO_MORE_WORK, SLOTS, type WorkerInput, stopSlot } from './protocol.js';

// Known values of pi(x), to check the answer when LIMIT is one of them.
const KNOWN_PRIME_COUNTS: Record<number, number> = { 1_000_000: 78_498, 5_000_000: 348_513, 10_000_000: 664_579, 20_000_000: 1_270_607 };

async function main(): Promise<void> {
  const limit = assertNumber('LIMIT', Number(process.env.LIMIT ?? 20_000_000), { min: JOB_SIZE, integer: true });
  const workerCount = assertNumber('WORKERS', Number(process.env.WORKERS ?? availableParallelism()), { min: 1, max: 64, integer: true });
  const interrupted = new AbortController();
  // The workers' counters, then one more: the stop flag (see stopSlot).
  const counters = new PaddedCounters(workerCount * SLOTS + 1);
  process.once('SIGINT', () => {
    // Each worker finishes the job it is on (tens of milliseconds) and leaves the rest of its ring.
    console.log('\nstopping: each worker finishes the job it is on, then exits');
    counters.add(stopSlot(workerCount));
    interrupted.abort(new Error('interrupted'));
  });

  await using resources = new ResourceStack();
  const rings = Array.from({ length: workerCount }, () => SpscRing.create(64));
  const exits = rings.map((ring, index) => {
    const input: WorkerInput = { ring: ring.buffer, counters: counters.buffer, workers: workerCount, index };
    const worker = new Worker(join(__dirname, 'worker.js'), { workerData: input });
    resources.defer(() => worker.terminate());
    return new Promise<void>((resolve, reject) => worker.once('exit', () => resolve()).once('error', reject));
  });

  const started = performance.now();
  const progress = setInterval(() => report(counters, workerCount, limit, started), 500);
  resources.defer(() => clearInterval(progress));

  // Round-robin over the rings; a full ring means that worker is busy, so try the next one, and back off
  // briefly when all are full.
  const idle = exponentialBackoff({ initial: 1, max: 20 });
  let next = 0;
  let fullInARow = 0;
  for (let start = 0; start < limit && !interrupted.signal.aborted; ) {
    if (rings[next]!.tryPush(start)) {
      start += JOB_SIZE;
      fullInARow = 0;
    } else if (++fullInARow % workerCount === 0) {
      await sleep(idle.delay(Math.min(fullInARow / workerCount, 5)));
    }
    next = (next + 1) % workerCount;
  }
  // A worker told to stop leaves without reading its ring: a full ring of one need not make room.
  for (const ring of rings) {
    while (!ring.tryPush(NO_MORE_WORK) && !interrupted.signal.aborted) await sleep(1);
  }
  await Promise.all(exits);

  const elapsed = performance.now() - started;
  const { jobs, primes } = totals(counters, workerCount);
  // A Ctrl-C that came after the last job ended stops nothing: the run is whole, and says so.
  const early = interrupted.signal.aborted && jobs * JOB_SIZE < limit;
  console.log(`\n${early ? 'stopped early: ' : ''}${primes.toLocaleString()} primes in ${jobs} jobs below ${(jobs * JOB_SIZE).toLocaleString()}`);
  console.log(`${workerCount} workers, ${(elapsed / 1000).toFixed(2)} s, jobs per worker: ${perWorkerJobs(counters, workerCount).join(' / ')}`);
  const known = KNOWN_PRIME_COUNTS[limit];
  if (!early && known !== undefined) {
    console.log(primes === known ? `matches the known pi(${limit}) = ${known}` : `MISMATCH: pi(${limit}) is ${known}`);
    if (primes !== known) process.exitCode = 1;
  }
}

function totals(counters: PaddedCounters, workers: number): { jobs: number; primes: number } {
  let jobs = 0;
  let primes = 0;
  for (let i = 0; i < workers; i++) {
    jobs += counters.get(i * SLOTS);
    primes += counters.get(i * SLOTS + 1);
  }
  return { jobs, primes };
}

function perWorkerJobs(counters: PaddedCounters, workers: number): number[] {
  return Array.from({ length: workers }, (_, i) => counters.get(i * SLOTS));
}

function report(counters: PaddedCounters, workers: number, limit: number, started: number): void {
  const { jobs, primes } = totals(counters, workers);
  const done = Math.min(100, (jobs * JOB_SIZE * 100) / limit);
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`\r${done.toFixed(0).padStart(3)}%  ${primes.toLocaleString()} primes  ${(jobs / seconds).toFixed(0)} jobs/s   `);
}

main().catch((error: unknown) => {
  // A bad LIMIT or WORKERS is said in one line (the error names the variable and what it must be).
  console.error(isXError(error, 'ERR_INVALID_ARGUMENT') ? error.message : error);
  process.exitCode = 1;
});
