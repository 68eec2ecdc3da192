/**
 * Schedules reminders due over the next few seconds on a Redis-backed delay queue, starts worker processes,
 * SIGKILLs one of them while it is sending, and shows that every reminder was still sent: the killed worker's
 * reservations ran out of time to run and went to the others.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { DelayQueue } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { createDashboard } from '@x/delayqueue/dashboard';
import {
  DASHBOARD_PORT,
  DIGEST_EVERY_MS,
  DIGEST_TOPIC,
  KEEP_DASHBOARD,
  REDIS_URL,
  REMINDERS,
  SMS_COUNT,
  SMS_RATE,
  SMS_TOPIC,
  SPAN_MS,
  TOPIC,
  TTR_MS,
  WORKERS,
  digestKey,
  latenessKey,
  redeliveredKey,
  sentKey,
  smsKey,
} from './config.js';

async function main(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  await redis.connect().catch((error: unknown) => {
    throw new Error(`cannot reach Redis at ${REDIS_URL} (${String(error)}); start one, e.g. npm run services -- up redis`);
  });
  const name = `reminders-${process.pid}`;
  const queue = new DelayQueue({ backend: new RedisBackend({ redis, name }), ttr: TTR_MS });

  const workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker(name)));
  const removeKeys = async (): Promise<void> => {
    const keys = [...(await redis.keys(`{${name}}*`)), sentKey(name), latenessKey(name), redeliveredKey(name), digestKey(name), smsKey(name)];
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

  // A recurring digest, stepped by whichever surviving worker comes first: one job per tick.
  const digest = await queue.schedule(DIGEST_TOPIC, 'digest', { everyMs: DIGEST_EVERY_MS });
  await queue.schedule(DIGEST_TOPIC, 'nightly-digest', { cron: '0 2 * * *', tz: 'Europe/Berlin' });
  while ((await redis.hlen(digestKey(name))) < 6) await new Promise((r) => setTimeout(r, 50));
  await queue.unschedule('digest');
  const ticks = await redis.hgetall(digestKey(name));
  const onGrid = Object.keys(ticks).every((id) => (Date.parse(id.slice('digest@'.length)) - digest.next) % DIGEST_EVERY_MS === 0);
  console.log(`digest every ${DIGEST_EVERY_MS} ms: ${Object.keys(ticks).length} ticks, each delivered ${[...new Set(Object.values(ticks))].join(' or ')} time(s), on the grid: ${onGrid}`);
  if (Object.values(ticks).some((n) => n !== '1') || !onGrid) process.exitCode = 1;

  // A provider that allows SMS_RATE texts a second: one limit for every worker together.
  await queue.setLimits(SMS_TOPIC, { rate: SMS_RATE, intervalMs: 1_000 });
  const smsStart = Date.now();
  await queue.addBulk(Array.from({ length: SMS_COUNT }, (_, i) => ({ topic: SMS_TOPIC, payload: { to: `+49301234${i}` } })));
  while ((await redis.llen(smsKey(name))) < SMS_COUNT) await new Promise((r) => setTimeout(r, 50));
  const sentAt = (await redis.lrange(smsKey(name), 0, -1)).map(Number).sort((a, b) => a - b);
  let fullest = 0;
  for (let i = 0, j = 0; i < sentAt.length; i++) {
    while (j < sentAt.length && sentAt[j]! < sentAt[i]! + 1_000) j++;
    fullest = Math.max(fullest, j - i);
  }
  console.log(`${SMS_COUNT} texts under a limit of ${SMS_RATE}/s for all workers: the last reserved ${sentAt.at(-1)! - smsStart} ms after the add, at most ${fullest} reserved in any second (by the Redis clock)`);
  if (fullest > SMS_RATE) process.exitCode = 1;

  // The dashboard over it all: counts, lateness, dead letters, paused topics, schedules.
  const dashboard = createDashboard(queue, { title: `reminders (${name})` });
  const server = createServer(dashboard);
  await new Promise<void>((resolve) => server.listen(DASHBOARD_PORT, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const state = (await (await fetch(`${url}api/state`)).json()) as { topics: { name: string }[]; schedules: { name: string; next: number }[] };
  console.log(`dashboard at ${url}: topics ${state.topics.map((t) => t.name).join(', ')}; schedules ${state.schedules.map((s) => `${s.name} next ${new Date(s.next).toISOString()}`).join(', ')}`);
  if (KEEP_DASHBOARD) {
    // Ctrl-C ends the run as above: the workers stop and the queue's keys go.
    finished = true;
    console.log('serving the dashboard until Ctrl-C (KEEP_DASHBOARD=1)');
    await new Promise(() => undefined);
  }
  dashboard.close();
  server.close();
  await queue.unschedule('nightly-digest');

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
