/**
 * One worker process: takes due reminders from the queue named in argv[2] and "sends" each (a short wait),
 * recording it in Redis so the parent can check that none was lost; likewise the digest's ticks and the
 * rate-limited texts.
 */
import { Redis } from 'ioredis';
import { DelayQueue } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { DIGEST_TOPIC, REDIS_URL, SEND_MS, SMS_TOPIC, TOPIC, digestKey, latenessKey, redeliveredKey, sentKey, smsKey } from './config.js';

const name = process.argv[2]!;
const redis = new Redis(REDIS_URL);
const queue = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
queue.on('error', (error) => console.error(`worker ${process.pid}:`, error));

queue.process<{ to: string; due: number }>(
  TOPIC,
  async (job) => {
    await new Promise((resolve) => setTimeout(resolve, SEND_MS));
    const record = redis.multi().hincrby(sentKey(name), job.id, 1).rpush(latenessKey(name), job.lateness);
    if (job.attempt > 1) record.sadd(redeliveredKey(name), job.id);
    await record.exec();
  },
  { concurrency: 8 },
);

// The digest's ticks: each tick is one job, whichever worker steps the schedule.
queue.process(DIGEST_TOPIC, async (job) => {
  await redis.hincrby(digestKey(name), job.id, 1);
});
// Texts go out no faster than the queue's limit for the topic allows, for all workers together.
queue.process(
  SMS_TOPIC,
  async (job) => {
    // When the queue reserved it, on the Redis clock: what the limit counts.
    await redis.rpush(smsKey(name), job.dueAt + job.lateness);
  },
  { concurrency: 8 },
);

process.once('SIGTERM', () => {
  void queue.close().finally(() => redis.quit());
});
process.send?.('ready');
