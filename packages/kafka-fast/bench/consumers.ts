/**
 * The consumers compared: ours (on kafkajs, on kafkajs on a worker thread, on @platformatic/kafka), the
 * hand-written consumer a careful user writes on each client, and plain kafkajs eachMessage.
 */
import { type KafkaClient, ParallelConsumer } from '@x/kafka-fast';
import { Consumer as PlatformaticConsumer, type Message } from '@platformatic/kafka';
import { kafkaBrokers } from '@x/testkit';
import type { Consumer } from 'kafkajs';
import { type Meter, type Work, groupId, indexOf, kafka, platformatic, sleep, workerClient } from './workload.js';

export interface Running {
  stop(): Promise<void>;
}

/** Waits until the consumer has joined its group and holds partitions (so timed work excludes the join). */
function joined(consumer: Consumer): Promise<void> {
  return new Promise((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
}

/** How ours is set up beyond its workload: where kafkajs runs, the buffer, kafkajs consumer options. */
export interface OursSetup {
  fromBeginning?: boolean;
  maxBuffered?: number;
  client?: KafkaClient;
  consumerConfig?: Record<string, unknown>;
}

/** Ours with kafkajs on a worker thread (workerThreadClient), and a buffer of 8 records per slot. */
export function oursOnWorker(topic: string, meter: Meter, work: Work, maxConcurrency: number, setup: OursSetup = {}): Promise<Running> {
  return ours(topic, meter, work, maxConcurrency, { maxBuffered: 8 * maxConcurrency, client: workerClient, ...setup });
}

export async function ours(topic: string, meter: Meter, work: Work, maxConcurrency: number, setup: OursSetup = {}): Promise<Running> {
  const { fromBeginning = true, maxBuffered, client = kafka, consumerConfig } = setup;
  const consumer = new ParallelConsumer({
    kafka: client,
    groupId: groupId(),
    topics: [topic],
    fromBeginning,
    maxConcurrency,
    ...(maxBuffered === undefined ? {} : { maxBuffered }),
    ...(consumerConfig === undefined ? {} : { consumerConfig }),
    handler: async (record) => {
      meter.started();
      await sleep(work(indexOf(record.value)));
      meter.ended(record.timestamp);
    },
  });
  const assigned = new Promise<void>((resolve) => consumer.once('assigned', () => resolve()));
  await consumer.start();
  await assigned;
  return { stop: () => consumer.close() };
}

/** Ours on @platformatic/kafka (Kafka 4's consumer protocol). */
export function oursOnPlatformatic(topic: string, meter: Meter, work: Work, maxConcurrency: number, setup: OursSetup = {}): Promise<Running> {
  return ours(topic, meter, work, maxConcurrency, { client: platformatic, ...setup });
}

/**
 * The consumer a careful @platformatic/kafka user writes: its message stream (consumer protocol, no autocommit)
 * read with `for await` into a batch of at most PLATFORMATIC_BATCH messages (the reader waits while a batch is
 * that full), each batch grouped by key, keys side by side with `Promise.all`, records of a key one after
 * another, then each partition's last message of the batch committed. (Reading the stream with `read()` until
 * it returns null stopped delivering after the first commit here, with @platformatic/kafka 2.12.1.)
 */
export async function handWrittenOnPlatformatic(topic: string, meter: Meter, work: Work, fromBeginning = true): Promise<Running> {
  const consumer = new PlatformaticConsumer({ clientId: 'x-kafka-fast-bench', bootstrapBrokers: kafkaBrokers(), groupId: groupId(), groupProtocol: 'consumer' });
  const stream = await consumer.consume({ topics: [topic], mode: fromBeginning ? 'earliest' : 'latest', autocommit: false, maxWaitTime: 50 });
  type PlatformaticMessage = Message<Buffer, Buffer, Buffer, Buffer>;
  let pending: PlatformaticMessage[] = [];
  let wakeProcessor: (() => void) | undefined;
  let wakeReader: (() => void) | undefined;
  let running = true;
  const reader = (async () => {
    for await (const message of stream) {
      pending.push(message);
      wakeProcessor?.();
      if (pending.length >= PLATFORMATIC_BATCH) await new Promise<void>((resolve) => (wakeReader = resolve));
    }
  })().catch(() => undefined);
  const processor = (async () => {
    while (running) {
      if (pending.length === 0) {
        await new Promise<void>((resolve) => {
          wakeProcessor = resolve;
          setTimeout(resolve, 50);
        });
        wakeProcessor = undefined;
        continue;
      }
      const batch = pending;
      pending = [];
      wakeReader?.();
      wakeReader = undefined;
      await Promise.all(
        groupByKey(batch).map(async (messages) => {
          for (const message of messages) {
            meter.started();
            await sleep(work(indexOf(message.value)));
            meter.ended(message.timestamp.toString());
          }
        }),
      );
      const lastOfPartition = new Map(batch.map((message) => [message.partition, message]));
      await Promise.all([...lastOfPartition.values()].map((message) => message.commit()));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await processor;
      await stream.close();
      await reader;
      await consumer.close();
    },
  };
}

/** The most messages the hand-written @platformatic/kafka consumer holds: ours' default buffer (`maxBuffered`). */
const PLATFORMATIC_BATCH = 10_000;

/** A hand-written consumer's batch split by key, each key's messages in their order. */
function groupByKey<M extends { key: Buffer | null }>(messages: M[]): M[][] {
  const byKey = new Map<string, M[]>();
  for (const message of messages) {
    const key = message.key?.toString() ?? '';
    const list = byKey.get(key);
    if (list) list.push(message);
    else byKey.set(key, [message]);
  }
  return [...byKey.values()];
}

/** Ours with a batch handler: up to `batchSize` records of distinct keys per call. */
export async function oursBatched(topic: string, meter: Meter, work: Work, maxConcurrency: number, batchSize: number): Promise<Running> {
  const consumer = new ParallelConsumer({
    kafka,
    groupId: groupId(),
    topics: [topic],
    fromBeginning: true,
    maxConcurrency,
    batchSize,
    batchHandler: async (records) => {
      meter.started();
      await sleep(Math.max(...records.map((record) => work(indexOf(record.value)))));
      for (const record of records) meter.ended(record.timestamp);
    },
  });
  const assigned = new Promise<void>((resolve) => consumer.once('assigned', () => resolve()));
  await consumer.start();
  await assigned;
  return { stop: () => consumer.close() };
}

/** eachBatch, group by key, keys concurrently with Promise.all (one key's records in sequence), resolve, heartbeat. */
export async function handWritten(topic: string, meter: Meter, work: Work, fromBeginning = true): Promise<Running> {
  const consumer = kafka.consumer({ groupId: groupId() });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning });
  const ready = joined(consumer);
  await consumer.run({
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning }) => {
      await Promise.all(
        groupByKey(batch.messages).map(async (messages) => {
          for (const message of messages) {
            if (!isRunning()) return;
            meter.started();
            await sleep(work(indexOf(message.value)));
            meter.ended(message.timestamp);
          }
        }),
      );
      resolveOffset(batch.lastOffset());
      await heartbeat();
    },
  });
  await ready;
  return { stop: () => consumer.disconnect() };
}

export async function eachMessage(topic: string, meter: Meter, work: Work, partitions: number): Promise<Running> {
  const consumer = kafka.consumer({ groupId: groupId() });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const ready = joined(consumer);
  await consumer.run({
    partitionsConsumedConcurrently: partitions,
    eachMessage: async ({ message }) => {
      meter.started();
      await sleep(work(indexOf(message.value)));
      meter.ended();
    },
  });
  await ready;
  return { stop: () => consumer.disconnect() };
}
