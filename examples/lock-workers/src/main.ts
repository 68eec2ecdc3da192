/**
 * Forks WORKERS processes that race through the same ORDERS orders. Each order must be processed exactly once:
 * the parent checks the log the workers wrote in Redis.
 *
 *   npm run services -- up redis                  # the five masters on 127.0.0.1:7001-7005
 *   npm start -w @x/example-lock-workers
 *   ORDERS=1000 WORKERS=8 npm start -w @x/example-lock-workers
 */
import { type ChildProcess, fork } from 'node:child_process';
import { Redis } from 'ioredis';
import { MASTERS, ORDERS, WORKERS } from './config.js';
import { runWorker } from './worker.js';

async function parent(): Promise<void> {
  const runId = `lock-workers:${Date.now()}`;
  const started = performance.now();
  const children: ChildProcess[] = [];
  let stopping = false;
  // Ctrl-C: the workers stop, and this run's keys leave every master, as at the end of a whole run.
  process.once('SIGINT', () => {
    console.log("\nstopped early (Ctrl-C): stopping the workers and removing this run's keys");
    stopping = true;
    for (const child of children) child.kill('SIGKILL');
    removeRunKeys(runId).then(
      () => process.exit(130),
      () => process.exit(130),
    );
  });
  const counts = await Promise.all(
    Array.from({ length: WORKERS }, (_, workerId) => {
      const child = fork(__filename, [], { env: { ...process.env, ROLE: 'worker', RUN_ID: runId, WORKER_ID: String(workerId) } });
      children.push(child);
      return new Promise<number>((resolve, reject) => {
        child.once('message', (count) => resolve(count as number));
        child.once('exit', (code) => (code === 0 || stopping ? undefined : reject(new Error(`worker ${workerId} exited with ${code}`))));
      });
    }),
  );
  const storage = new Redis(MASTERS[0]!);
  const log = await storage.lrange(`${runId}:log`, 0, -1);
  const perOrder = new Map<string, number>();
  for (const entry of log) perOrder.set(entry.split(':')[0]!, (perOrder.get(entry.split(':')[0]!) ?? 0) + 1);
  const twice = [...perOrder.values()].filter((n) => n > 1).length;
  // Fencing: each order's lock was held one after another, so the tokens of its holds, in the order they were
  // recorded, must strictly increase.
  const holdKeys = Array.from({ length: ORDERS }, (_, id) => `${runId}:holds:${id}`);
  let holds = 0;
  let outOfOrder = 0;
  for (const key of holdKeys) {
    const tokens = (await storage.lrange(key, 0, -1)).map(Number);
    holds += tokens.length;
    if (tokens.some((token, i) => i > 0 && token <= tokens[i - 1]!)) outOfOrder++;
  }
  console.log(`${WORKERS} workers processed ${log.length} of ${ORDERS} orders in ${Math.round(performance.now() - started)} ms: ${counts.join(' + ')}`);
  console.log(`orders processed more than once: ${twice}; orders missed: ${ORDERS - perOrder.size}`);
  console.log(`lock holds: ${holds}; orders whose fencing tokens did not strictly increase from hold to hold: ${outOfOrder}`);
  await storage.quit();
  await removeRunKeys(runId);
  if (twice > 0 || perOrder.size !== ORDERS || outOfOrder > 0) process.exitCode = 1;
}

/**
 * Removes every key of this run from every master: the log and the holds, and what the locks left there (a
 * fencing counter per order, which outlives its lock on purpose: tokens must keep increasing across restarts).
 */
async function removeRunKeys(runId: string): Promise<void> {
  await Promise.all(
    MASTERS.map(async (master) => {
      const redis = new Redis({ ...master, lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        for await (const keys of redis.scanStream({ match: `*${runId}*`, count: 1_000 }) as AsyncIterable<string[]>) {
          if (keys.length > 0) await redis.unlink(...keys);
        }
      } finally {
        redis.disconnect();
      }
    }),
  );
}

if (process.env.ROLE === 'worker') {
  runWorker(process.env.RUN_ID!, Number(process.env.WORKER_ID))
    .then((count) => process.send!(count, () => process.exit(0)))
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
} else {
  parent().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
