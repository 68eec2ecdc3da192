import type { Redis } from 'ioredis';
import NodeRedlock from 'redlock';
import { RedlockMutex } from 'redis-semaphore';
import { Redlock } from '@x/redlock';

/** Acquire + release of one resource, the same shape for every implementation. */
export interface Locker {
  name: string;
  /** Resolves once the lock is held; the returned function releases it. */
  lock(resource: string, ttl: number): Promise<() => Promise<unknown>>;
  close(): Promise<void>;
}

export type LockerName = 'ours' | 'ours-unfenced' | 'redlock' | 'redis-semaphore';

/**
 * Each library with its defaults, except that it may retry long enough to get through the contention run (all
 * three would otherwise give up after about 10 attempts).
 */
export function makeLocker(name: LockerName, clients: Redis[]): Locker {
  switch (name) {
    case 'ours':
    case 'ours-unfenced': {
      // 'ours-unfenced': the same work as the peers, which have no fencing tokens.
      const redlock = new Redlock(clients, { restartGuard: false, retryCount: 1_000_000, fencing: name === 'ours' });
      return {
        name,
        lock: async (resource, ttl) => {
          const lock = await redlock.acquire(resource, ttl);
          return () => lock.release();
        },
        close: () => redlock.close(),
      };
    }
    case 'redlock': {
      const redlock = new NodeRedlock(clients, { retryCount: -1 });
      return {
        name,
        lock: async (resource, ttl) => {
          const lock = await redlock.acquire([resource], ttl);
          return () => lock.release();
        },
        close: async () => undefined,
      };
    }
    case 'redis-semaphore':
      return {
        name,
        lock: async (resource, ttl) => {
          const mutex = new RedlockMutex(clients, resource, { lockTimeout: ttl, acquireTimeout: 600_000, refreshInterval: 0 });
          await mutex.acquire();
          return () => mutex.release();
        },
        close: async () => undefined,
      };
  }
}
