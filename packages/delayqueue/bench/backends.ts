/**
 * `npm run bench:backends -w @x/delayqueue [-- --quick] [--only=redis,kafka]`: delivery lateness of the same load on each backend
 * of one DelayQueue API, one JSON line per backend (the Redis backend's is the reference the others sit
 * beside). Needs RabbitMQ (X_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672) and Kafka
 * (X_KAFKA_BROKERS, default 127.0.0.1:19092); Redis is a private redis-server started for the run.
 *
 *   10,000 jobs due evenly across 5 s, added ahead of time; 4 consumers (own connections) x 50 handlers;
 *   lateness = delivery time - due time, ms; medians of the rounds' p50 and p99.
 */
import { Redis } from 'ioredis';
import { type ChannelModel, connect } from 'amqplib';
import { type Backend, DelayQueue, MemoryBackend } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { RabbitMqBackend } from '@x/delayqueue/rabbitmq';
import { KafkaBackend } from '@x/delayqueue/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { isQuick, kafkaBrokers, median, rabbitMqUrl, startRedisServer, uniqueName } from '@x/testkit';

const quick = isQuick();
const JOBS = 10_000;
const WINDOW_MS = 5_000;
const LEAD_MS = 2_000;
const CONSUMERS = 4;
const CONCURRENCY = 50;
const ROUNDS = quick ? 1 : 3;
const TOPIC = 'email';

/** Opens the backend of one process of a queue; `close` releases what `open` made. */
interface BackendKind {
  readonly name: string;
  open(queueName: string): Promise<{ backend: Backend; close(): Promise<void> }>;
  /** Deletes what a round left on the server. */
  cleanup(queueName: string): Promise<void>;
  /** How long before the first job is due the adds start (default LEAD_MS): consumer groups take seconds to form. */
  leadMs?: number;
}

void (async () => {
  console.log(`# delayqueue backend lateness — node ${process.version}${quick ? ', --quick' : ''}`);
  const redisServer = await startRedisServer();
  const admin = new Redis({ port: redisServer.port, host: '127.0.0.1' });
  const rabbitAdmin: ChannelModel = await connect(rabbitMqUrl());
  const kafka = new Kafka({ clientId: 'delayqueue-bench', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const rabbitKind = (queueType: 'quorum' | 'classic'): BackendKind => ({
    name: `rabbitmq-${queueType}`,
    open: async (queueName) => {
      const connection = await connect(rabbitMqUrl());
      return { backend: new RabbitMqBackend({ connection, name: queueName, queueType }), close: () => connection.close() };
    },
    cleanup: async (queueName) => {
      const channel = await rabbitAdmin.createChannel();
      await new RabbitMqBackend({ connection: rabbitAdmin, name: queueName, queueType }).destroy([TOPIC]);
      await channel.close();
    },
  });
  const kinds: BackendKind[] = [
    {
      name: 'redis',
      open: async (queueName) => {
        const redis = new Redis({ port: redisServer.port, host: '127.0.0.1' });
        return { backend: new RedisBackend({ redis, name: queueName }), close: async () => void (await redis.quit()) };
      },
      cleanup: async () => void (await admin.flushall()),
    },
    rabbitKind('quorum'),
    rabbitKind('classic'),
    {
      name: 'kafka',
      leadMs: 10_000,
      // Default levels (1 s base): the 2-7 s delays walk one to three of them, the rest is held by a timer.
      open: async (queueName) => ({ backend: new KafkaBackend({ kafka, name: queueName }), close: async () => undefined }),
      cleanup: async (queueName) => {
        const cleaner = new KafkaBackend({ kafka, name: queueName });
        await cleaner.destroy([TOPIC]);
        await cleaner.close();
      },
    },
  ];
  const memory: BackendKind = {
    name: 'memory',
    open: async () => ({ backend: new MemoryBackend(), close: async () => undefined }),
    cleanup: async () => undefined,
  };

  // `-- --only=kafka,redis` runs some backends only.
  const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
  for (const kind of [memory, ...kinds].filter((k) => only === undefined || only.includes(k.name))) {
    const p50s: number[] = [];
    const p99s: number[] = [];
    let early = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const result = await measure(kind);
      p50s.push(result.p50);
      p99s.push(result.p99);
      early += result.early;
    }
    const line = { bench: 'delayqueue.backend-lateness', backend: kind.name, jobs: JOBS, windowMs: WINDOW_MS, unit: 'ms', p50: median(p50s), p99: median(p99s), early };
    console.log(JSON.stringify(line));
  }
  await rabbitAdmin.close();
  await admin.quit();
  await redisServer.stop();
})();

async function measure(kind: BackendKind): Promise<{ p50: number; p99: number; early: number }> {
  const queueName = uniqueName('bench');
  // Memory keeps jobs in one process: its producer is its consumer.
  const shared = kind.name === 'memory' ? await kind.open(queueName) : undefined;
  const opened = await Promise.all(Array.from({ length: CONSUMERS + 1 }, async () => shared ?? (await kind.open(queueName))));
  const queues = opened.map(({ backend }, i) => (shared && i > 0 ? undefined : new DelayQueue({ backend })));
  const producer = queues[0]!;
  const late: number[] = [];
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const onJob = (due: number): void => {
    late.push(Date.now() - due);
    if (late.length === JOBS) done();
  };
  for (let i = 0; i < CONSUMERS; i++) {
    const queue = queues[i + 1] ?? producer;
    queue.process<{ due: number }>(TOPIC, (job) => onJob(job.payload.due), { concurrency: CONCURRENCY });
    if (shared) break;
  }
  const lead = kind.leadMs ?? LEAD_MS;
  const start = Date.now() + lead;
  for (let i = 0; i < JOBS; i += 1_000) {
    const now = Date.now();
    await producer.addBulk(
      Array.from({ length: 1_000 }, (_, k) => {
        const due = start + Math.floor(((i + k) * WINDOW_MS) / JOBS);
        return { topic: TOPIC, payload: { due }, options: { delay: Math.max(0, due - now) } };
      }),
    );
  }
  const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), lead + WINDOW_MS + 60_000).unref());
  const outcome = await Promise.race([all.then(() => 'done' as const), timeout]);
  for (const queue of queues) await queue?.close();
  for (const { close } of new Set(opened)) await close();
  await kind.cleanup(queueName);
  late.sort((a, b) => a - b);
  const at = (q: number): number => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN;
  console.log(`  ${kind.name.padEnd(16)} ${late.length}/${JOBS}${outcome === 'timeout' ? ' (timed out)' : ''}  p50 ${at(0.5)} ms  p99 ${at(0.99)} ms  max ${late.at(-1)} ms`);
  return { p50: at(0.5), p99: outcome === 'timeout' ? Infinity : at(0.99), early: late.filter((l) => l < 0).length };
}
