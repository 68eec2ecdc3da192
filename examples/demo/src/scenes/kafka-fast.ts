import { type Admin, Kafka, logLevel } from 'kafkajs';
import { type KafkaClient, ParallelConsumer } from '@x/kafka-fast';
import { platformaticClient } from '@x/kafka-fast/platformatic';
import type { Scene } from '../scene.js';
import { reachable } from '../reachable.js';

const BROKER = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const RECORDS = 4_000;
const KEYS = 100;

export const kafkaFastScene: Scene = {
  title: '@x/kafka-fast — 4,000 records of one partition, 5 ms each, in order per key, on kafkajs and on @platformatic/kafka (needs a Kafka broker)',
  async run(log) {
    if (!(await reachable(BROKER))) {
      log(`skipped: no Kafka broker at ${BROKER} (npm run services -- up kafka starts one)`);
      return;
    }
    const kafka = new Kafka({ clientId: 'x-demo', brokers: BROKER.split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topic = `x-demo-${process.pid}-${Date.now()}`;
    // Whatever happens below, the topic goes and the admin connection closes (an open one kept the process alive
    // for the broker's 10 minutes of idle time after a failure).
    try {
      await createTopic(admin, topic);
      await runScene(kafka, topic, log);
    } finally {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  },
};

/** Produces the records, measures eachMessage on them, then ours on each client. */
async function runScene(kafka: Kafka, topic: string, log: (line: string) => void): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: Array.from({ length: RECORDS }, (_, i) => ({ key: `k${i % KEYS}`, value: String(i) })) });
  await producer.disconnect();

  // The peer, measured here: kafkajs's eachMessage on the same topic with the same 5 ms handler, for 2 s.
  const peerRate = await eachMessageRate(kafka, topic, 2_000);
  log(`kafkajs eachMessage, measured now on the same topic: ${Math.round(peerRate)}/s (one record at a time per partition)`);

  const clients: [string, KafkaClient][] = [
    ['kafkajs', kafka],
    ["@platformatic/kafka (Kafka 4's consumer protocol)", platformaticClient({ clientId: 'x-demo', bootstrapBrokers: BROKER.split(',') })],
  ];
  for (const [name, client] of clients) {
    const last = new Map<string, number>();
    let outOfOrder = 0;
    let done = 0;
    let first = 0;
    let finished!: () => void;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId: `${topic}-${name.split(' ')[0]}`,
      topics: [topic],
      fromBeginning: true,
      maxConcurrency: 200,
      handler: async (record) => {
        first ||= performance.now();
        await new Promise((resolve) => setTimeout(resolve, 5));
        const key = record.key!.toString();
        const value = Number(record.value);
        if ((last.get(key) ?? -1) > value) outOfOrder++;
        last.set(key, value);
        if (++done === RECORDS) finished();
      },
    });
    try {
      await consumer.start();
      await within(allDone, 60_000, `${RECORDS} records on ${name}`);
    } finally {
      await consumer.close();
    }
    const seconds = (performance.now() - first) / 1000;
    const partition = consumer.metrics().partitions[0];
    const rate = RECORDS / seconds;
    log(`on ${name}: ${RECORDS} records in ${seconds.toFixed(2)} s = ${Math.round(rate).toLocaleString('en-US')}/s from one partition, ${(rate / peerRate).toFixed(0)}x eachMessage`);
    log(`  out of order within a key: ${outOfOrder}; committed offset after close: ${partition?.committedOffset ?? '?'} of ${RECORDS}`);
  }
}

/** `promise`, or a rejection naming `what` after `ms` (the scene fails rather than hang). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates `topic` and waits until its partition has a leader: on a loaded machine, kafkajs's own wait for leaders
 * failed with UNKNOWN_TOPIC_OR_PARTITION (the metadata had not caught up yet).
 */
async function createTopic(admin: Admin, topic: string): Promise<void> {
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: false });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await admin.fetchTopicMetadata({ topics: [topic] }).then(
      (metadata) => metadata.topics[0]?.partitions.every((p) => p.leader >= 0) === true,
      () => false,
    );
    if (ready) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader 30 s after it was created`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Records per second kafkajs's eachMessage handles from `topic` with a 5 ms handler, over `ms` from its first record. */
async function eachMessageRate(kafka: Kafka, topic: string, ms: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `${topic}-each-message`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let first = 0;
  let handled = 0;
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  await consumer.run({
    eachMessage: async () => {
      first ||= performance.now();
      await new Promise((resolve) => setTimeout(resolve, 5));
      handled++;
      if (performance.now() - first >= ms) stop();
    },
  });
  await stopped;
  const seconds = (performance.now() - first) / 1000;
  await consumer.disconnect();
  return handled / seconds;
}
