/**
 * A {@link KafkaClient} over @confluentinc/kafka-javascript (librdkafka) through its KafkaJS-compatible API. The
 * user makes the client (`new KafkaJS.Kafka({ kafkaJS: { brokers } })`) and passes it in: nothing here imports
 * the package, whose native binary is the user's to install.
 *
 * Where that API differs from kafkajs's, the adapter bridges: it has no instrumentation events (`on` throws Not
 * implemented), so the assignment comes from its `rebalance_cb`, which it awaits, so a revocation waits for the
 * consumer to let go of the partitions (as Kafka 4's consumer protocol client does); `fromBeginning` and
 * `autoCommit` belong to the consumer's config, not to `subscribe` and `run`, so the librdkafka consumer is made at
 * `run()`, once the topics are known; and a producer's `acks` belongs to its config, not to `send`.
 */
import { EventEmitter } from 'node:events';
import { InvalidArgumentError } from '@x/core';
import type { ClientAdmin, ClientBatchPayload, ClientConsumer, ClientEvent, ClientProducer, KafkaClient, RecordHeaders, RevocationListener } from './client.js';
import { NotConnectedError } from './errors.js';

/** librdkafka's rebalance codes, as the callback's `err.code`. */
const ASSIGN_PARTITIONS = -175;
const REVOKE_PARTITIONS = -174;

/** The consumer options kafkajs names that the KafkaJS-compatible API takes (its own list). */
const KAFKAJS_CONSUMER_KEYS = new Set([
  'partitionAssigners',
  'partitionAssignors',
  'sessionTimeout',
  'rebalanceTimeout',
  'heartbeatInterval',
  'metadataMaxAge',
  'allowAutoTopicCreation',
  'maxBytesPerPartition',
  'maxWaitTimeInMs',
  'minBytes',
  'maxBytes',
  'readUncommitted',
  'maxInFlightRequests',
  'rackId',
]);

type TopicPartitions = { topic: string; partition: number }[];

/** The part of @confluentinc/kafka-javascript's `KafkaJS.Kafka` this adapter uses. */
export interface ConfluentKafkaLike {
  consumer(config: {
    kafkaJS: Record<string, unknown>;
    rebalance_cb: (error: { code: number }, assignment: TopicPartitions) => Promise<void>;
    [librdkafkaProperty: string]: unknown;
  }): ConfluentConsumerLike;
  producer(config: { kafkaJS: Record<string, unknown> }): ConfluentProducerLike;
  admin(): ClientAdmin;
}

/** The part of its consumer this adapter uses. */
export interface ConfluentConsumerLike {
  connect(): Promise<void>;
  subscribe(subscription: { topics: string[] }): Promise<void>;
  run(config: { eachBatchAutoResolve: boolean; partitionsConsumedConcurrently: number; eachBatch: (payload: ClientBatchPayload) => Promise<void> }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void>;
  disconnect(): Promise<void>;
}

/** The part of its producer this adapter uses. */
export interface ConfluentProducerLike {
  connect(): Promise<void>;
  send(request: { topic: string; messages: { key: Buffer | null; value: Buffer | null; headers: RecordHeaders }[] }): Promise<unknown>;
  disconnect(): Promise<void>;
}

/**
 * A client for {@link ParallelConsumer} on @confluentinc/kafka-javascript. Of `consumerConfig` it passes the
 * options kafkajs names (`sessionTimeout`, `heartbeatInterval`, ...) to the KafkaJS-compatible API, and keys
 * with a dot (`'group.protocol': 'consumer'`, say) to librdkafka as they are; another key is refused.
 *
 * @example
 * ```ts
 * import { KafkaJS } from '@confluentinc/kafka-javascript';
 * import { ParallelConsumer, confluentClient } from '@x/kafka-fast';
 *
 * const kafka = confluentClient(new KafkaJS.Kafka({ kafkaJS: { brokers: ['127.0.0.1:9092'] } }));
 * const consumer = new ParallelConsumer({ kafka, groupId: 'billing', topics: ['orders'], handler: async () => {} });
 * ```
 */
export function confluentClient(kafka: ConfluentKafkaLike): KafkaClient {
  if (typeof kafka?.consumer !== 'function' || typeof kafka.producer !== 'function' || typeof kafka.admin !== 'function') {
    throw new InvalidArgumentError('kafka', kafka, "a Kafka client of @confluentinc/kafka-javascript's KafkaJS API");
  }
  return {
    adapter: 'confluent',
    consumer: (config) => new ConfluentConsumer(kafka, config),
    admin: () => kafka.admin(),
    producer: (config) => confluentProducer(kafka, config),
  };
}

class ConfluentConsumer implements ClientConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', REBALANCING: 'consumer.rebalancing', CRASH: 'consumer.crash' } as const;
  /** librdkafka runs `rebalance_cb` in its poll: a batch handler that waits keeps it from hearing of one. */
  readonly learnsOfRebalancesByFetching = true;
  private readonly emitter = new EventEmitter();
  private readonly groupId: string;
  private readonly kafkaJS: Record<string, unknown> = {};
  private readonly librdkafka: Record<string, unknown> = {};
  private readonly topics: string[] = [];
  private fromBeginning = false;
  private made: ConfluentConsumerLike | undefined;
  private revocationListener: RevocationListener | undefined;
  /** The partitions this member owns, `topic:partition`. */
  private readonly owned = new Map<string, { topic: string; partition: number }>();

  constructor(
    private readonly kafka: ConfluentKafkaLike,
    config: { groupId: string } & Record<string, unknown>,
  ) {
    this.groupId = config.groupId;
    for (const [key, value] of Object.entries(config)) {
      if (key === 'groupId' || value === undefined) continue;
      if (KAFKAJS_CONSUMER_KEYS.has(key)) this.kafkaJS[key] = value;
      else if (key.includes('.')) this.librdkafka[key] = value;
      else throw new InvalidArgumentError(`options.consumerConfig.${key}`, value, "an option of @confluentinc/kafka-javascript's KafkaJS consumer, or a librdkafka property (a dotted name)");
    }
  }

  /** The librdkafka consumer is made and connected at `run()`, once the topics and `fromBeginning` are known. */
  async connect(): Promise<void> {}

  async subscribe({ topic, fromBeginning }: { topic: string; fromBeginning?: boolean }): Promise<void> {
    this.topics.push(topic);
    this.fromBeginning ||= fromBeginning === true;
  }

  async run(config: Parameters<ClientConsumer['run']>[0]): Promise<void> {
    const made = this.kafka.consumer({
      ...this.librdkafka,
      kafkaJS: { ...this.kafkaJS, groupId: this.groupId, fromBeginning: this.fromBeginning, autoCommit: config.autoCommit },
      rebalance_cb: (error, assignment) => this.onRebalance(error.code, assignment),
    });
    this.made = made;
    await made.connect();
    await made.subscribe({ topics: [...this.topics] });
    await made.run({ eachBatchAutoResolve: config.eachBatchAutoResolve, partitionsConsumedConcurrently: config.partitionsConsumedConcurrently, eachBatch: config.eachBatch });
  }

  commitOffsets(offsets: Parameters<ClientConsumer['commitOffsets']>[0]): Promise<void> {
    if (this.made === undefined) throw new NotConnectedError();
    return this.made.commitOffsets(offsets);
  }

  async disconnect(): Promise<void> {
    await this.made?.disconnect();
  }

  on(event: string, listener: (event: ClientEvent) => void): this {
    this.emitter.on(event, listener);
    return this;
  }

  setRevocationListener(listener: RevocationListener): void {
    this.revocationListener = listener;
  }

  // Awaited by the client before it hands the partitions back (revocation) or starts fetching (assignment).
  private async onRebalance(code: number, assignment: TopicPartitions): Promise<void> {
    if (code === REVOKE_PARTITIONS) {
      await this.revocationListener?.(assignment.map(({ topic, partition }) => ({ topic, partition })));
      for (const { topic, partition } of assignment) this.owned.delete(`${topic}:${partition}`);
      return;
    }
    if (code !== ASSIGN_PARTITIONS) return;
    // An eager assignment names every partition now owned (the revocation came first); an incremental one (the
    // cooperative assignor) names those added.
    for (const { topic, partition } of assignment) this.owned.set(`${topic}:${partition}`, { topic, partition });
    const memberAssignment: Record<string, number[]> = {};
    for (const { topic, partition } of this.owned.values()) (memberAssignment[topic] ??= []).push(partition);
    this.emitter.emit(this.events.GROUP_JOIN, { payload: { memberAssignment } } satisfies ClientEvent);
  }
}

/**
 * A producer. Its API takes `acks` in the producer's config, not in `send`: every producer here writes with all
 * in-sync replicas' acknowledgement (-1, what this package's dead letters use), and a send asking for other
 * acks is refused.
 */
function confluentProducer(kafka: ConfluentKafkaLike, config: Record<string, unknown>): ClientProducer {
  let made: ConfluentProducerLike | undefined;
  return {
    async connect() {
      made ??= kafka.producer({ kafkaJS: { ...config, acks: -1 } });
      await made.connect();
    },
    async send({ topic, acks, messages }) {
      if (made === undefined) throw new NotConnectedError();
      if (acks !== -1) throw new InvalidArgumentError('acks', acks, '-1 (all in-sync replicas): the only acks this producer is made with');
      return made.send({ topic, messages });
    },
    async disconnect() {
      await made?.disconnect();
    },
  };
}
