/** Helpers for tests against the real broker: fresh topics, produced contents, and waiting. */
import { Kafka, logLevel } from 'kafkajs';
import { createKafkaTopics, eventually as waitFor, jestCanRequireEsm, kafkaBrokers, requireKafka, uniqueName } from '@x/testkit';
import { join } from 'node:path';
import { type ConfluentKafkaLike, type KafkaClient, confluentClient, workerThreadClient } from '../src/index.js';
import type * as PlatformaticEntry from '../src/platformatic/index.js';

/** Plain data, so that workerThreadClient can copy it to its thread. */
export const kafkaConfig = { clientId: 'x-kafka-fast-test', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING };
export const kafka = new Kafka(kafkaConfig);

/**
 * The clients every broker test runs on: kafkajs on the handlers' thread, kafkajs on a worker thread, and
 * @platformatic/kafka with Kafka 4's consumer group protocol. `incremental`: a rebalance moves only the
 * partitions that must move and the others run on (the consumer protocol), instead of stopping the group.
 */
export const clients: [string, () => KafkaClient, { incremental: boolean }][] = [
  ["kafkajs on the handlers' thread", () => kafka, { incremental: false }],
  ['workerThreadClient', () => workerThreadClient(kafkaConfig), { incremental: false }],
];
if (jestCanRequireEsm()) {
  clients.push(['platformaticClient (consumer protocol)', () => platformatic().platformaticClient({ clientId: 'x-kafka-fast-test', bootstrapBrokers: kafkaBrokers() }), { incremental: true }]);
}
// @confluentinc/kafka-javascript builds librdkafka from source here (its prebuilt binary comes from outside the
// npm registry): opt in with X_CONFLUENT_DIR, a directory where `scripts/confluent` installed it.
if (process.env.X_CONFLUENT_DIR && confluentLoads()) {
  clients.push(['confluentClient (librdkafka)', () => confluentClient(confluentKafka()), { incremental: false }]);
}

/** Whether the package in X_CONFLUENT_DIR loads here: its native binary is built for one Node line (ABI). */
function confluentLoads(): boolean {
  try {
    confluentKafka();
    return true;
  } catch (error) {
    console.warn(`confluentClient tests left out on Node ${process.versions.node}: ${String(error).split('\n')[0]}`);
    return false;
  }
}

/** A Kafka client of @confluentinc/kafka-javascript's KafkaJS API, from X_CONFLUENT_DIR. */
function confluentKafka(): ConfluentKafkaLike {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- installed outside the workspace, opt-in
  const { KafkaJS } = require(join(process.env.X_CONFLUENT_DIR!, 'node_modules', '@confluentinc', 'kafka-javascript')) as {
    KafkaJS: { Kafka: new (config: unknown) => ConfluentKafkaLike; logLevel: { NOTHING: number } };
  };
  return new KafkaJS.Kafka({ kafkaJS: { clientId: 'x-kafka-fast-test', brokers: kafkaBrokers(), logLevel: KafkaJS.logLevel.NOTHING } });
}

/** Loaded only where it can be. */
export function platformatic(): typeof PlatformaticEntry {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a static import would load it everywhere
  return require('../src/platformatic/index.js') as typeof PlatformaticEntry;
}

/** Creates a topic with `partitions` partitions and a unique name. */
export async function freshTopic(partitions = 1): Promise<string> {
  const admin = await requireKafka();
  const topic = uniqueName('kf');
  try {
    await createKafkaTopics(admin, [{ topic, numPartitions: partitions }]);
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Produces `count` records: key `k${i % keys}`, value `${i}` (so per-key sequences can be checked). */
export async function produce(topic: string, count: number, keys: number): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    for (let start = 0; start < count; start += 2_000) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 2_000); i++) messages.push({ key: `k${i % keys}`, value: String(i) });
      await producer.send({ topic, messages, acks: -1 });
    }
  } finally {
    await producer.disconnect();
  }
}

/** Resolves when `predicate` holds (polling every 20 ms); rejects after `ms` (default 60 s, broker joins are slow). */
export function eventually(predicate: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  return waitFor(predicate, what, ms, 20);
}

export { uniqueName };
