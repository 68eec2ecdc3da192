/**
 * The mutual-exclusion checker: workers contend for one lock and, while holding it, do a non-atomic
 * read-modify-write of a counter in another Redis (GET, pause, SET) and record the interval they held it.
 * Safety holds when the counter equals the number of critical sections and no two intervals overlap.
 */
import type { Redis } from 'ioredis';
import { type Lock, type Redlock } from '../src/index.js';

export interface CheckerReport {
  operations: number;
  /** Critical sections that overlapped another one (each pair counted once). */
  overlaps: number;
  /** Increments lost to a concurrent writer: operations - final counter. */
  lostUpdates: number;
  /** Longest wait for the lock, ms: how long re-acquiring took around a fault. */
  maxAcquireWaitMs: number;
}

export async function runChecker(options: {
  redlocks: Redlock[];
  storage: Redis;
  resource: string;
  counterKey: string;
  operations: number;
  ttl: number;
  holdMs: number;
  /** Called once, after `operations / 3` critical sections: inject the fault here. */
  fault?: () => Promise<void>;
}): Promise<CheckerReport> {
  const { redlocks, storage, resource, counterKey, operations, ttl, holdMs, fault } = options;
  await storage.set(counterKey, '0');
  const intervals: Array<[number, number]> = [];
  let done = 0;
  let maxWait = 0;
  let faultInjected: Promise<void> | undefined;
  const worker = async (redlock: Redlock): Promise<void> => {
    while (done < operations) {
      const asked = performance.now();
      let lock: Lock;
      try {
        lock = await redlock.acquire(resource, ttl, { retryCount: 200 });
      } catch {
        continue; // no quorum during a fault: try again
      }
      const start = performance.now();
      maxWait = Math.max(maxWait, start - asked);
      if (done >= operations) {
        await lock.release();
        break;
      }
      const value = Number(await storage.get(counterKey));
      await new Promise((resolve) => setTimeout(resolve, holdMs));
      // Only write while still valid, as a careful client would; the fault tests are about the lock itself.
      if (!lock.expired) {
        await storage.set(counterKey, String(value + 1));
        intervals.push([start, performance.now()]);
        done++;
      }
      await lock.release();
      if (fault !== undefined && faultInjected === undefined && done >= operations / 3) faultInjected = fault();
    }
  };
  await Promise.all(redlocks.map(worker));
  await faultInjected;
  intervals.sort((a, b) => a[0] - b[0]);
  let overlaps = 0;
  for (let i = 1; i < intervals.length; i++) if (intervals[i]![0] < intervals[i - 1]![1]) overlaps++;
  const counter = Number(await storage.get(counterKey));
  return { operations: intervals.length, overlaps, lostUpdates: intervals.length - counter, maxAcquireWaitMs: Math.round(maxWait) };
}
