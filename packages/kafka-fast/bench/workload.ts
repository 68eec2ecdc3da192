/** The benchmark's topics, handlers and measurement, shared by every case. */
import { Kafka, logLevel } from 'kafkajs';
import { type KafkaClient, workerThreadClient } from '@x/kafka-fast';
import { platformaticClient } from '@x/kafka-fast/platformatic';
import { createKafkaTopics, kafkaBrokers, requireKafka } from '@x/testkit';

const kafkaConfig = { clientId: 'x-kafka-fast-bench', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING };
export const kafka = new Kafka(kafkaConfig);

/**
 * The client whose consumers run kafkajs on a worker thread. One for the whole run, as `kafka` is: each round's
 * consumer runs on the thread the last round's left, so its kafkajs is as warm as the main thread's.
 */
export const workerClient = workerThreadClient(kafkaConfig);
/** The client on @platformatic/kafka, whose consumers join with Kafka 4's consumer protocol. */
export const platformatic: KafkaClient = platformaticClient({ clientId: 'x-kafka-fast-bench', bootstrapBrokers: kafkaBrokers() });
export const KEYS = 1_000;
const VALUE_PAD = 'x'.repeat(100);

let topicSeq = 0;

/** A fresh topic holding `count` records: key `k${i % 1000}`, a 100-byte value starting with `${i}|`. */
export async function filledTopic(count: number, partitions: number): Promise<string> {
  const topic = `kf-bench-${process.pid}-${Date.now().toString(36)}-${topicSeq++}`;
  const admin = await requireKafka();
  await createKafkaTopics(admin, [{ topic, numPartitions: partitions }]);
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let start = 0; start < count; start += 5_000) {
    const messages = [];
    for (let i = start; i < Math.min(count, start + 5_000); i++) messages.push({ key: `k${i % KEYS}`, value: valueOf(i) });
    await producer.send({ topic, messages, acks: 1 });
  }
  await producer.disconnect();
  return topic;
}

export function valueOf(i: number): string {
  return `${i}|${VALUE_PAD}`.slice(0, 100);
}

export function indexOf(value: Buffer | null): number {
  const text = value!.toString('latin1');
  return Number(text.slice(0, text.indexOf('|')));
}

/** How long record i's handler takes. */
export type Work = (i: number) => number;
export const uniform: Work = () => 5;
/** 1 record in 100 takes 250 ms, spread over all keys. */
export const skewed: Work = (i) => ((Math.floor(i / 1000) * 37 + i) % 100 === 99 ? 250 : 5);
export const noop: Work = () => 0;

export function sleep(ms: number): Promise<void> {
  return ms === 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/** Counts handled records and times first handler start to last handler end. */
export class Meter {
  private first = 0;
  private last = 0;
  count = 0;
  private resolve!: () => void;
  readonly done: Promise<void>;
  readonly latencies: number[] = [];

  constructor(private readonly target: number) {
    this.done = new Promise((r) => (this.resolve = r));
  }

  started(): void {
    if (this.first === 0) this.first = performance.now();
  }

  ended(timestamp?: string): void {
    this.last = performance.now();
    if (timestamp !== undefined) this.latencies.push(Date.now() - Number(timestamp));
    if (++this.count === this.target) this.resolve();
  }

  get rate(): number {
    return this.count / ((this.last - this.first) / 1000);
  }
}

let groupSeq = 0;
export function groupId(): string {
  return `kf-bench-${process.pid}-${groupSeq++}`;
}
