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
  /** Writes the store refused because their fencing token was older than one it had seen. */
  staleWritesRejected: number;
}

/**
 * A store write guarded by a fencing token (as a database row version would be): accepted only with a token at
 * least as high as any accepted before. KEYS: counter, fence. ARGV: token, value. Returns 1 or 0.
 */
const FENCED_SET = `
local seen = tonumber(redis.call('GET', KEYS[2]) or '0')
if tonumber(ARGV[1]) < seen then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[1], ARGV[2])
return 1
`;

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
  /**
   * Once, after `operations / 3` critical sections, the lock holder stalls `ms` between its read and its write
   * (a GC pause, a swapped-out process) and then writes without looking at the clock, as a paused process
   * would. With `fenced`, every write goes through the store's fencing check.
   */
  pause?: { ms: number; fenced: boolean };
}): Promise<CheckerReport> {
  const { redlocks, storage, resource, counterKey, operations, ttl, holdMs, fault, pause } = options;
  const fenceKey = `${counterKey}:fence`;
  await storage.set(counterKey, '0');
  await storage.del(fenceKey);
  let paused = false;
  let staleWritesRejected = 0;
  const write = async (lock: Lock, value: number): Promise<boolean> => {
    if (!pause?.fenced) {
      await storage.set(counterKey, String(value));
      return true;
    }
    return (await storage.eval(FENCED_SET, 2, counterKey, fenceKey, lock.fencingToken!, String(value))) === 1;
  };
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
      if (pause && !paused && done >= operations / 3) {
        paused = true;
        await new Promise((resolve) => setTimeout(resolve, pause.ms));
        // Back from the pause, unaware of it: writes as if it still held the lock.
        if (await write(lock, value + 1)) {
          intervals.push([start, performance.now()]);
          done++;
        } else staleWritesRejected++;
      } else if (!lock.expired) {
        // Otherwise only write while still valid, as a careful client would.
        if (await write(lock, value + 1)) {
          intervals.push([start, performance.now()]);
          done++;
        } else staleWritesRejected++;
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
  return {
    operations: intervals.length,
    overlaps,
    lostUpdates: intervals.length - counter,
    maxAcquireWaitMs: Math.round(maxWait),
    staleWritesRejected,
  };
}
