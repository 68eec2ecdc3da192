/**
 * One worker process: walks the orders in its own random order and processes each order nobody has processed
 * yet, under a lock on that order. "Processing" records the worker and the lock's fencing token; every hold of an
 * order's lock records its token in that order's list of holds.
 */
import { Redis } from 'ioredis';
import { isXError } from '@x/core';
import { Redlock } from '@x/redlock';
import { MASTERS, ORDERS } from './config.js';

export async function runWorker(runId: string, workerId: number): Promise<number> {
  const clients = MASTERS.map(({ host, port }) => new Redis({ host, port }));
  const redlock = new Redlock(clients, { restartGuard: false, retryCount: 3 });
  const storage = clients[0]!;
  const order = Array.from({ length: ORDERS }, (_, i) => i).sort(() => Math.random() - 0.5);
  let processed = 0;
  try {
    for (const id of order) {
      const done = `${runId}:done`;
      if (await storage.sismember(done, id)) continue;
      await redlock
        .using(`${runId}:order:${id}`, 2_000, async (_signal, lock) => {
          // Every hold of an order's lock records its fencing token, in the order the holds happened (each push
          // is made under the lock): the parent checks that they only grow.
          await storage.rpush(`${runId}:holds:${id}`, String(lock.fencingToken));
          // Checked again under the lock: another worker may have finished it since we looked.
          if (await storage.sismember(done, id)) return;
          await new Promise((resolve) => setTimeout(resolve, 2));
          await storage.multi().sadd(done, id).rpush(`${runId}:log`, `${id}:${workerId}:${lock.fencingToken}`).exec();
          processed++;
        })
        .catch((error: unknown) => {
          if (!isXError(error, 'ERR_LOCK_NOT_ACQUIRED')) throw error; // someone else is on it; it will be done
        });
    }
  } finally {
    await redlock.close();
    await Promise.all(clients.map((client) => client.quit()));
  }
  return processed;
}
