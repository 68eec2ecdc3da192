/**
 * The two queues under test behind one small interface, each used the way its documentation recommends:
 * ours as DelayQueue + RedisBackend, BullMQ as Queue + Worker with delayed jobs. Same Redis, same payloads.
 */
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { DelayQueue } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';

export interface Payload {
  user: number;
  template: string;
  locale: string;
  /** Epoch ms the job is meant to run at. */
  due: number;
}

export interface Contender {
  add(payload: Payload, delay: number): Promise<void>;
  addBulk(jobs: readonly { payload: Payload; delay: number }[]): Promise<void>;
  /** Jobs of the topic by state, as the queue's own call for it reports them. */
  counts(): Promise<void>;
  /**
   * Starts `consumers` consumers (own connections each) running `concurrency` handlers at once; `onJob` gets the
   * payload and when the queue reserved the job, by its own account (ours: the Redis clock at reservation; BullMQ:
   * `processedOn`, the worker's clock as it took the job). `rate`: at most
   * that many deliveries a second for all consumers of the queue together (BullMQ: the Worker's `limiter`, which it
   * keeps in Redis; ours: `limit` sets it on the queue, so the consumers here need not know).
   */
  consume(consumers: number, concurrency: number, onJob: (payload: Payload, reservedAt: number) => void | Promise<void>, rate?: number): void;
  /** Creates `count` schedules, each adding a job every `everyMs` (ours: `schedule`; BullMQ: `upsertJobScheduler`). */
  scheduleEvery(count: number, everyMs: number): Promise<void>;
  /**
   * Starts consumers as `consume` does; `onTick` gets the instant each delivered tick was meant for (ours: the
   * job's dueAt, which is its tick; BullMQ: the tick in the scheduler job's id, `repeat:<scheduler>:<millis>`).
   */
  consumeTicks(consumers: number, concurrency: number, onTick: (tickAt: number) => void): void;
  /** Sets the queue-wide limit of `rate` deliveries a second (ours; BullMQ takes it with each Worker). */
  limit(rate: number): Promise<void>;
  close(): Promise<void>;
}

export type ContenderName = 'ours' | 'bullmq';
const QUEUE = 'bench';
const TOPIC = 'email';

export function contender(name: ContenderName, port: number): Contender {
  return name === 'ours' ? ours(port) : bullmq(port);
}

function ours(port: number): Contender {
  const opened: { queue: DelayQueue; redis: Redis }[] = [];
  const open = (): DelayQueue => {
    const redis = new Redis({ port, host: '127.0.0.1' });
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name: QUEUE }) });
    opened.push({ queue, redis });
    return queue;
  };
  const producer = open();
  return {
    add: async (payload, delay) => {
      await producer.add(TOPIC, payload, { delay });
    },
    addBulk: async (jobs) => {
      await producer.addBulk(jobs.map((job) => ({ topic: TOPIC, payload: job.payload, options: { delay: job.delay } })));
    },
    counts: async () => {
      await producer.counts(TOPIC);
    },
    limit: async (rate) => {
      await producer.setLimits(TOPIC, { rate, intervalMs: 1_000 });
    },
    consume: (consumers, concurrency, onJob) => {
      for (let i = 0; i < consumers; i++) open().process<Payload>(TOPIC, (job) => onJob(job.payload, job.dueAt + job.lateness), { concurrency });
    },
    scheduleEvery: async (count, everyMs) => {
      await inChunks(count, (i) => producer.schedule(TOPIC, `every-${i}`, { everyMs }, payload(i)));
    },
    consumeTicks: (consumers, concurrency, onTick) => {
      for (let i = 0; i < consumers; i++) open().process(TOPIC, (job) => onTick(job.dueAt), { concurrency });
    },
    close: async () => {
      for (const { queue, redis } of opened) {
        await queue.close();
        await redis.quit();
      }
    },
  };
}

function bullmq(port: number): Contender {
  const connection = { host: '127.0.0.1', port };
  const queue = new Queue<Payload>(QUEUE, { connection });
  const workers: Worker[] = [];
  return {
    add: async (payload, delay) => {
      await queue.add(TOPIC, payload, { delay, removeOnComplete: true });
    },
    addBulk: async (jobs) => {
      await queue.addBulk(jobs.map((job) => ({ name: TOPIC, data: job.payload, opts: { delay: job.delay, removeOnComplete: true } })));
    },
    counts: async () => {
      await queue.getJobCounts('delayed', 'wait', 'active', 'failed');
    },
    limit: async () => undefined,
    scheduleEvery: async (count, everyMs) => {
      await inChunks(count, (i) => queue.upsertJobScheduler(`every-${i}`, { every: everyMs }, { name: TOPIC, data: payload(i), opts: { removeOnComplete: true } }));
    },
    consumeTicks: (consumers, concurrency, onTick) => {
      for (let i = 0; i < consumers; i++) {
        workers.push(new Worker(QUEUE, async (job) => onTick(Number(job.id!.slice(job.id!.lastIndexOf(':') + 1))), { connection, concurrency }));
      }
    },
    consume: (consumers, concurrency, onJob, rate) => {
      const limiter = rate === undefined ? {} : { limiter: { max: rate, duration: 1_000 } };
      for (let i = 0; i < consumers; i++) {
        workers.push(new Worker<Payload>(QUEUE, async (job) => onJob(job.data, job.processedOn ?? Date.now()), { connection, concurrency, ...limiter }));
      }
    },
    close: async () => {
      await Promise.all(workers.map((worker) => worker.close()));
      await queue.close();
    },
  };
}

/** The schedules' payload: what a reminder would carry. */
function payload(i: number): Payload {
  return { user: i, template: 'reminder', locale: 'en-GB', due: 0 };
}

/** Runs `create(0..count-1)` with 500 in flight. */
async function inChunks(count: number, create: (i: number) => Promise<unknown>): Promise<void> {
  for (let from = 0; from < count; from += 500) await Promise.all(Array.from({ length: Math.min(500, count - from) }, (_, k) => create(from + k)));
}
