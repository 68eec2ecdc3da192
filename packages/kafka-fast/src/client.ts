/**
 * The part of a Kafka client this package uses, as narrow structural types. kafkajs's `Kafka` satisfies them
 * as it is; another client with the KafkaJS-shaped API (such as @confluentinc/kafka-javascript's `KafkaJS`
 * namespace) can be passed, or wrapped, without touching the consumer. Nothing here imports a client.
 */

/** Record headers as clients hand them over. */
export interface RecordHeaders {
  [key: string]: Buffer | string | (Buffer | string)[] | undefined;
}

/** A fetched message, as far as the consumer reads it. */
export interface ClientMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: RecordHeaders;
  timestamp: string;
  /**
   * The key's bytes as Latin-1 text (null without a key), for a client that can give it without making the key
   * Buffer first; the consumer orders records by this text. Optional: otherwise it decodes `key`.
   */
  readonly keyLatin1?: string | null;
}

/** What `eachBatch` receives. */
export interface ClientBatchPayload {
  batch: { topic: string; partition: number; highWatermark: string; messages: ClientMessage[] };
  /** Moves the fetch position past `offset` (not a commit). */
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
  /**
   * Pauses this batch's partition and returns what resumes it (kafkajs 2.1+); records not resolved are fetched
   * again after the resume. Without it, the consumer waits inside the batch instead, which holds back the
   * batches of other partitions too.
   */
  pause?(): () => void;
}

/**
 * Called with the partitions a group takes from this member, before the client tells the group they are free;
 * the client waits for it to resolve (up to the group's rebalance timeout).
 */
export type RevocationListener = (partitions: { topic: string; partition: number }[]) => Promise<void>;

export interface ClientConsumer {
  connect(): Promise<void>;
  subscribe(subscription: { topic: string; fromBeginning?: boolean }): Promise<void>;
  run(config: {
    autoCommit: boolean;
    eachBatchAutoResolve: boolean;
    partitionsConsumedConcurrently: number;
    eachBatch: (payload: ClientBatchPayload) => Promise<void>;
  }): Promise<void>;
  commitOffsets(offsets: { topic: string; partition: number; offset: string; metadata?: string | null }[]): Promise<void>;
  disconnect(): Promise<void>;
  /** Instrumentation events; those used here carry the names in `events`. */
  on(event: string, listener: (event: ClientEvent) => void): unknown;
  /** CRASH is optional: a client without it cannot tell that its consumer stopped for good. */
  readonly events: { GROUP_JOIN: string; REBALANCING: string; CRASH?: string };
  /**
   * Optional, for a client whose group waits for a member to give partitions up (Kafka 4's consumer protocol):
   * the consumer lets their running records finish and commits them before the listener resolves, and partitions
   * that stay go on meanwhile. kafkajs has no such hook: it learns of a rebalance from a heartbeat and rejoins.
   */
  setRevocationListener?(listener: RevocationListener): void;
  /**
   * Optional: asks the group now whether this member still belongs to it (after the process stood still for
   * longer than the consumer's session timeout, which may not be the group's). Resolves true when it does, its
   * partitions as they were; false when the group had removed it, in which case the client announces the loss of
   * every partition (GROUP_JOIN without partitions) and joins again.
   */
  confirmMembership?(): Promise<boolean>;
  /**
   * True for a client that learns of a rebalance only when it fetches again (librdkafka: its `rebalance_cb` runs
   * in its poll): the consumer then never waits inside a batch for room in its buffer, which would keep the
   * member from hearing of a rebalance; it pauses the partition and returns instead.
   */
  readonly learnsOfRebalancesByFetching?: boolean;
}

/** What an instrumentation event carries, as far as the consumer reads it. */
export interface ClientEvent {
  payload: {
    /** GROUP_JOIN: the partitions now owned, by topic. */
    memberAssignment?: Record<string, number[]>;
    /** GROUP_JOIN: this member's id in the group (a new one after the member was removed from the group). */
    memberId?: string;
    /** CRASH: why the consumer stopped. */
    error?: unknown;
    /** CRASH: whether the client restarts the consumer by itself (kafkajs does for retriable errors). */
    restart?: boolean;
  };
}

export interface ClientAdmin {
  connect(): Promise<void>;
  fetchOffsets(request: { groupId: string; topics: string[] }): Promise<{ topic: string; partitions: { partition: number; offset: string; metadata: string | null }[] }[]>;
  disconnect(): Promise<void>;
}

export interface ClientProducer {
  connect(): Promise<void>;
  send(request: {
    topic: string;
    acks: number;
    messages: { key: Buffer | null; value: Buffer | null; headers: RecordHeaders }[];
  }): Promise<unknown>;
  disconnect(): Promise<void>;
}

/** A client that makes consumers, admins and producers: kafkajs's `Kafka`, for one. */
export interface KafkaClient {
  /**
   * Which of this package's adapters made the client (`workerThreadClient`, `platformaticClient`,
   * `confluentClient`); absent on kafkajs's own `Kafka`. Libraries built on this one read it to pass
   * kafkajs-only consumer options (functions such as `partitionAssigners`) only where they apply.
   */
  readonly adapter?: 'worker-thread' | 'platformatic' | 'confluent';
  consumer(config: { groupId: string } & Record<string, unknown>): ClientConsumer;
  admin(): ClientAdmin;
  producer(config: Record<string, unknown>): ClientProducer;
}

/**
 * Topic administration in kafkajs's shapes, as far as packages built on this one use it (@x/delayqueue's Kafka
 * backend creates, checks and deletes its topics). kafkajs's `Admin` has it as it is.
 */
export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  /**
   * Resolves once the broker answered; rejects when a topic could not be created, with `errors` listing each
   * refusal as `{ type, topic }` (`type` is Kafka's error name, e.g. `TOPIC_ALREADY_EXISTS`).
   */
  createTopics(request: {
    waitForLeaders?: boolean;
    topics: { topic: string; numPartitions?: number; replicationFactor?: number; configEntries?: { name: string; value: string }[] }[];
  }): Promise<unknown>;
  deleteTopics(request: { topics: string[] }): Promise<void>;
  /** Deletes consumer groups with their committed offsets; rejects when one does not exist or still has members. */
  deleteGroups(groupIds: string[]): Promise<unknown>;
  /** Rejects when a topic does not exist. */
  fetchTopicMetadata(request: { topics: string[] }): Promise<{ topics: { name: string; partitions: { partitionId: number; leader: number }[] }[] }>;
  /** `type` 2 is a topic (kafkajs's ConfigResourceTypes.TOPIC). */
  describeConfigs(request: {
    includeSynonyms: boolean;
    resources: { type: number; name: string; configNames?: string[] }[];
  }): Promise<{ resources: { resourceName: string; configEntries: { configName: string; configValue: string }[] }[] }>;
}

/** A record as written by {@link BatchProducer} (kafkajs's `Message`, as far as it is used). */
export interface BatchMessage {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: { [key: string]: Buffer | string | undefined };
  /** The partition to write to; without it the client's partitioner picks one from the key. */
  partition?: number;
}

/** Writing records to several topics in one request, in kafkajs's shape (`Producer.sendBatch`). */
export interface BatchProducer {
  sendBatch(request: { acks: number; topicMessages: { topic: string; messages: BatchMessage[] }[] }): Promise<unknown>;
}

/**
 * A {@link KafkaClient} whose admins also administer topics and whose producers also write batches:
 * kafkajs's `Kafka`, and the client of `@x/kafka-fast/platformatic`.
 */
export interface KafkaClientWithTopics extends KafkaClient {
  admin(): ClientAdmin & TopicAdmin;
  producer(config: Record<string, unknown>): ClientProducer & BatchProducer;
}
