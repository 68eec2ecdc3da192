/** The backends the broker benches run, each opened as one process of a queue would open it. */
import { Redis } from 'ioredis';
import { type ChannelModel, connect } from 'amqplib';
import { type Backend, MemoryBackend } from '@x/delayqueue';
import { RedisBackend } from '@x/delayqueue/redis';
import { RabbitMqBackend } from '@x/delayqueue/rabbitmq';
import { KafkaBackend } from '@x/delayqueue/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { kafkaBrokers, rabbitMqUrl } from '@x/testkit';

export type KindName = 'memory' | 'redis' | 'rabbitmq-quorum' | 'rabbitmq-classic' | 'kafka' | 'kafka-session-10s' | 'kafka-platformatic';
export const KIND_NAMES: readonly KindName[] = ['memory', 'redis', 'rabbitmq-quorum', 'rabbitmq-classic', 'kafka', 'kafka-session-10s', 'kafka-platformatic'];

/** Opens the backend of one process of a queue; `close` releases what `open` made. */
export interface BackendKind {
  readonly name: KindName;
  open(queueName: string): Promise<{ backend: Backend; close(): Promise<void> }>;
  /** Deletes what a round left on the server (`topics`: the job topics it used). */
  cleanup(queueName: string, topics: string[]): Promise<void>;
  /** How long before the first job is due the adds start: consumer groups take seconds to form. */
  readonly leadMs: number;
  /** Run by the failover case only (a setting that changes nothing else). */
  readonly failoverOnly?: boolean;
  /**
   * Resolves once the queue's consumers have settled on the server (Kafka: its consumer groups are stable with
   * `members` members), so a round does not time a group still forming.
   */
  settled?(queueName: string, topics: string[], members: number): Promise<void>;
}

/**
 * Waits until every group is Stable with at least `members` members, seen twice a second apart: a group's first
 * member holds every partition until the next heartbeat (3 s by default) tells it that the others joined, and the
 * rebalance then stops the group's fetches for a moment. A round started before that times the rebalance.
 */
async function kafkaGroupsStable(kafka: Kafka, groupIds: string[], members: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const deadline = Date.now() + 60_000;
    let stableInARow = 0;
    while (stableInARow < 2) {
      if (Date.now() > deadline) throw new Error(`consumer groups ${groupIds.join(', ')} not stable within 60 s`);
      const { groups } = await admin.describeGroups(groupIds);
      const stable = groups.length === groupIds.length && groups.every((g) => g.state === 'Stable' && g.members.length >= members);
      stableInARow = stable ? stableInARow + 1 : 0;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * RabbitMQ levels of the bench's own (16^7 ms, 3.1 days, where the default 8 levels reach 49.7 days): level
 * queues are shared by every queue on the broker with the same type, radix and depth, and a round purges them.
 */
const BENCH_LEVELS = 7;

/** Where the servers are: a private redis-server's port; RabbitMQ and Kafka from the test environment. */
export async function backendKinds(redisPort: number): Promise<{ kinds: BackendKind[]; close(): Promise<void> }> {
  const redisAdmin = new Redis({ port: redisPort, host: '127.0.0.1' });
  const rabbitAdmin: ChannelModel = await connect(rabbitMqUrl());
  const kafka = new Kafka({ clientId: 'delayqueue-bench', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const rabbitKind = (queueType: 'quorum' | 'classic'): BackendKind => ({
    name: `rabbitmq-${queueType}`,
    leadMs: 2_000,
    open: async (queueName) => {
      const connection = await connect(rabbitMqUrl());
      return { backend: new RabbitMqBackend({ connection, name: queueName, queueType, levels: BENCH_LEVELS, prefetch: Number(process.env.X_PREFETCH ?? 100) }), close: () => connection.close() };
    },
    cleanup: async (queueName, topics) => {
      const cleaner = new RabbitMqBackend({ connection: rabbitAdmin, name: queueName, queueType, levels: BENCH_LEVELS });
      await cleaner.destroy(topics);
      await cleaner.close();
      // Jobs due tomorrow would walk the levels for a day and then wait in the unroutable queue.
      const channel = await rabbitAdmin.createChannel();
      const { topology } = cleaner;
      for (let level = 1; level < topology.levels; level++) {
        for (let digit = 1; digit < topology.radix; digit++) await channel.purgeQueue(topology.waitQueue(level, digit));
      }
      await channel.close();
    },
  });
  const kafkaKind = (name: KindName, consumerConfig: Record<string, unknown>): BackendKind => ({
    name,
    leadMs: 10_000,
    // Default levels (1 s base) and consumer settings but `consumerConfig`: what a user gets without tuning.
    open: async (queueName) => ({ backend: new KafkaBackend({ kafka, name: queueName, consumerConfig }), close: async () => undefined }),
    cleanup: async (queueName, topics) => {
      const cleaner = new KafkaBackend({ kafka, name: queueName });
      await cleaner.destroy(topics);
      await cleaner.close();
    },
    settled: (queueName, topics, members) => kafkaGroupsStable(kafka, [`${queueName}.movers`, ...topics.map((t) => `${queueName}.readers.${t}`)], members),
  });
  const kinds: BackendKind[] = [
    {
      name: 'memory',
      leadMs: 2_000,
      open: async () => ({ backend: new MemoryBackend(), close: async () => undefined }),
      cleanup: async () => undefined,
    },
    {
      name: 'redis',
      leadMs: 2_000,
      open: async (queueName) => {
        const redis = new Redis({ port: redisPort, host: '127.0.0.1' });
        return { backend: new RedisBackend({ redis, name: queueName }), close: async () => void (await redis.quit()) };
      },
      cleanup: async () => void (await redisAdmin.flushall()),
    },
    rabbitKind('quorum'),
    rabbitKind('classic'),
    kafkaKind('kafka', {}),
    // A dead member is noticed after its session timeout: a third of kafkajs's 30 s default.
    { ...kafkaKind('kafka-session-10s', { sessionTimeout: 10_000, heartbeatInterval: 1_000 }), failoverOnly: true },
    {
      // The consumers on @platformatic/kafka, in Kafka 4's consumer protocol (the session is the broker's: 45 s by default, 10 s on `npm run services`' broker).
      ...kafkaKind('kafka-platformatic', {}),
      open: async (queueName) => {
        const { platformaticClient } = await import('@x/delayqueue/platformatic');
        const client = platformaticClient({ clientId: 'delayqueue-bench', bootstrapBrokers: kafkaBrokers() });
        return { backend: new KafkaBackend({ kafka: client, name: queueName }), close: async () => undefined };
      },
      // The classic DescribeGroups does not describe a consumer-protocol group: two heartbeats (5 s each by
      // default) bring every member its assignment.
      settled: () => new Promise((resolve) => setTimeout(resolve, 10_000)),
    },
  ];
  return {
    kinds,
    close: async () => {
      // The bench's own level queues go at the end of the run: quorum queues each cost the broker a Raft log.
      for (const queueType of ['quorum', 'classic'] as const) {
        const { topology } = new RabbitMqBackend({ connection: rabbitAdmin, queueType, levels: BENCH_LEVELS });
        const channel = await rabbitAdmin.createChannel();
        for (let level = 1; level < topology.levels; level++) {
          for (let digit = 1; digit < topology.radix; digit++) await channel.deleteQueue(topology.waitQueue(level, digit));
        }
        await channel.close();
      }
      await rabbitAdmin.close();
      await redisAdmin.quit();
    },
  };
}
