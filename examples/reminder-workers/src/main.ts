/**
 * Schedules reminders due over the next few seconds on a Redis-backed delay queue, starts worker processes,
 * SIGKILLs one of them while it is sending, and shows that every reminder was still sent: the killed worker's
 * reservations ran out of time to run and went to the others.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DelayQueue } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { REDIS_URL, REMINDERS, SPAN_MS, TOPIC, TTR_MS, WORKERS, latenessKey, redeliveredKey, sentKey } from './config.js';

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  await redis.connect().catch((error: unknown) => {
    throw new Error(`cannot reach Redis at ${REDIS_URL} (${String(error)}); start one, e.g. npm run services -- up redis`);
  });
  const name = `reminders-${process.pid}`;
  const queue = new DelayQueue({ backend: new RedisBackend({ redis, name }), ttr: TTR_MS });

  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker(name)));
  const removeKeys = async (): Promise<void> => {
    const keys = [...(await redis.keys(`{${name}}*`)), sentKey(name), latenessKey(name), redeliveredKey(name)];
    await redis.unlink(...keys);
  };
  // Ctrl-C stops the workers too (they share the terminal's process group); the queue's keys go with them.
  let finished = false;
  process.once('SIGINT', () => {
    console.log(finished ? "\nCtrl-C: the run had finished; removing the queue's keys now" : "\nstopped early (Ctrl-C): removing the queue's keys");
    // The workers first, so that none writes a tally after the keys went.
    for (const worker of workers) worker.kill('SIGKILL');
    void Promise.all(workers.map(exitOf))
      .then(removeKeys)
      .catch(() => undefined)
      .finally(() => process.exit(130));
  });
  const start = Date.now() + 300;
  await queue.addBulk(
    Array.from({ length: REMINDERS }, (_, i) => {
      const due = start + Math.floor((i * SPAN_MS) / REMINDERS);
      return { topic: TOPIC, payload: { to: `user-${i}@example.com`, due }, options: { id: `reminder-${i}`, runAt: due } };
    }),
  );
  console.log(`${REMINDERS} reminders due over ${SPAN_MS} ms, ${WORKERS} workers (pids ${workers.map((w) => w.pid).join(', ')})`);

  await new Promise((resolve) => setTimeout(resolve, 300 + SPAN_MS / 3));
  const victim = workers[0]!;
  victim.kill('SIGKILL');
  console.log(`SIGKILLed worker ${victim.pid} while it was sending`);
  // What every worker's jobs add up to, read from this process (it runs no handler).
  console.log(`counts across the workers now: ${JSON.stringify((await queue.counts(TOPIC))[TOPIC])}`);

  const deadline = Date.now() + SPAN_MS + 30_000;
  while ((await redis.hlen(sentKey(name))) < REMINDERS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

  const sent = Object.values(await redis.hgetall(sentKey(name))).map(Number);
  const redelivered = await redis.scard(redeliveredKey(name));
  const lateness = (await redis.lrange(latenessKey(name), 0, -1)).map(Number).sort((a, b) => a - b);
  const at = (q: number): number => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))] ?? NaN;
  console.log(`sent ${sent.length} of ${REMINDERS} reminders; ${sent.filter((n) => n > 1).length} sent twice (finished by the killed worker, not acknowledged)`);
  console.log(`${redelivered} ${redelivered === 1 ? 'reminder was' : 'reminders were'} delivered again after the killed worker's ${TTR_MS} ms time to run ran out`);
  console.log(`delivery lateness (reserved minus due, by the Redis clock): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; early: ${lateness.filter((l) => l < 0).length}`);
  // The last acks may still be on their way when the last reminder is counted as sent.
  const empty = JSON.stringify({ delayed: 0, ready: 0, reserved: 0, dead: 0 });
  let counts = '';
  for (let tries = 0; tries < 50 && counts !== empty; tries++) {
    counts = JSON.stringify((await queue.counts(TOPIC))[TOPIC]);
    if (counts !== empty) await new Promise((r) => setTimeout(r, 100));
  }
  console.log(`counts across the workers once all were sent: ${counts}`);

  finished = true;
  // The workers close their queues (each lets its running handlers end first): about two seconds.
  console.log("stopping the workers and removing the queue's keys...");
  for (const worker of workers.slice(1)) worker.kill('SIGTERM');
  await Promise.all(workers.map(exitOf));
  await queue.close();
  await removeKeys();
  await redis.quit();
  if (sent.length !== REMINDERS) process.exitCode = 1;
}

/** Resolves once `worker` has exited (at once if it already has). */
function exitOf(worker: ChildProcess): Promise<void> {
  return worker.exitCode !== null || worker.signalCode !== null ? Promise.resolve() : new Promise((resolve) => worker.once('exit', () => resolve()));
}

function startWorker(name: string): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'worker.js'), [name]);
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('error', reject);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
