/**
 * One worker process: takes due reminders from the queue named in argv[2] and "sends" each (a short wait),
 * recording it in Redis so the parent can check that none was lost.
 */
import { Redis } from 'ioredis';
import { DelayQueue } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { REDIS_URL, SEND_MS, TOPIC, latenessKey, redeliveredKey, sentKey } from './config.js';

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

process.once('SIGTERM', () => {
  void queue.close().finally(() => redis.quit());
});
process.send?.('ready');
