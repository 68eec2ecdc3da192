/**
 * Forks WORKERS processes that race through the same ORDERS orders. Each order must be processed exactly once:
 * the parent checks the log the workers wrote in Redis.
 *
 *   npm run services -- up redis                  # the five masters on 127.0.0.1:7001-7005
 *   npm start -w @x/example-lock-workers
 *   ORDERS=1000 WORKERS=8 npm start -w @x/example-lock-workers
 */
import { fork } from 'node:child_process';
import { Redis } from 'ioredis';
import { MASTERS, ORDERS, WORKERS } from './config.js';
import { runWorker } from './worker.js';

async function parent(): Promise<void> {
  const runId = `lock-workers:${Date.now()}`;
  const started = performance.now();
  const counts = await Promise.all(
    Array.from({ length: WORKERS }, (_, workerId) => {
      const child = fork(__filename, [], { env: { ...process.env, ROLE: 'worker', RUN_ID: runId, WORKER_ID: String(workerId) } });
      return new Promise<number>((resolve, reject) => {
        child.once('message', (count) => resolve(count as number));
        child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`worker ${workerId} exited with ${code}`))));
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
  await storage.del(`${runId}:log`, `${runId}:done`, ...holdKeys);
  await storage.quit();
  if (twice > 0 || perOrder.size !== ORDERS || outOfOrder > 0) process.exitCode = 1;
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
