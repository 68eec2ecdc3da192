/**
 * The Kafka backend: delays walk binary delay-level topics (topics.ts), moved by a consumer group of level
 * movers (level-mover.ts), into a ready topic per job topic read by the queue's consumers (topic-reader.ts).
 * Kafka keeps no index of its records and cannot delete one, so this backend cannot find a job by id: no
 * `get`, `cancel`, `reschedule`, deduplicating ids, `dead` or `requeue` (UnsupportedOperationError). Dead
 * letters go to a topic per job topic (`<name>.dead.<topic>`).
 */
import { type Clock, ClosedError, InvalidArgumentError, TimeoutError, assertKnownKeys, assertNumber, assertString, randomToken, sleep, systemClock } from '@x/core';
import { type BatchMessage, type BatchProducer, type ClientAdmin, type ClientProducer, type KafkaClientWithTopics, type TopicAdmin, assertConsumerConfig, coPartitionedAssigner } from '@x/kafka-fast';
import { PartialWriteError, PayloadTooLargeError, TopicConfigError } from '../errors.js';
import { partitionOf } from './partition-of.js';
import type { NewJob, TopicWatch } from '../backend.js';
import { BrokerBackend, type TopicSource } from '../broker/broker-backend.js';
import type { DeskHost } from '../broker/delivery-desk.js';
import { type JobMessage, firstMessage, jobHeaders } from '../broker/job-message.js';
import { LevelMover } from './level-mover.js';
import { PublishBatcher } from './publish-batcher.js';
import { TopicReader } from './topic-reader.js';
import { KafkaTopics } from './topics.js';

/** Options of {@link KafkaBackend}. */
export interface KafkaBackendOptions {
  /**
   * A kafkajs `Kafka` client, or `platformaticClient(...)` of `@x/delayqueue/platformatic` (@platformatic/kafka,
   * consumers in Kafka 4's consumer group protocol); the backend makes its own producer, admin and consumers from
   * it and closes them.
   */
  kafka: KafkaClientWithTopics;
  /** Prefix of every topic and consumer group. Default `delayqueue`. */
  name?: string;
  /** Wait of the finest level, ms (10..60,000, default 1,000): shorter remainders are held by the reader's timer. */
  levelBaseMs?: number;
  /** Levels; one walk covers base * (2^levels - 1) ms, longer delays walk again (1..40, default 22: 48 days at 1 s). */
  levels?: number;
  /** Partitions of the topics it creates (default 3). */
  partitions?: number;
  /** Replication factor of the topics it creates (default -1: the broker's default). */
  replicationFactor?: number;
  /** Records of a job topic a consuming process holds at once, ready or running (1..100,000, default 1,000). */
  prefetch?: number;
  /**
   * Records waiting in the levels a moving process holds at once (1..1,000,000, default 10,000). It takes on only
   * records due within the next 2 s (a level partition whose next record is further away is paused until then),
   * so this bounds a burst, not the jobs scheduled ahead.
   */
  moveWindow?: number;
  /**
   * How long before its due time a job is routed to reach its ready topic, ms (0..500, default 250); the consumer
   * holds it back on a timer until it is due, so it is never delivered early. The last hop (a produce, then the
   * reader's fetch) takes time, the more so when many jobs come due at once. 0 routes by the exact delay.
   */
  earlyArrivalMs?: number;
  /**
   * At a rebalance, how long the jobs of a partition this consumer has just been given wait before the first one
   * starts, ms (0..60,000, default 1,000). The partition's previous owner aborted its running jobs' signals at
   * that moment (`DeliveryLostError`): a handler that stops within this time never runs beside this consumer's
   * delivery of the same job. Partitions a consumer keeps do not wait.
   */
  handoverGraceMs?: number;
  /** kafkajs consumer options for its consumers (`sessionTimeout`, `heartbeatInterval`, ...), groupId aside. */
  consumerConfig?: Record<string, unknown>;
  /** Clock for ttr timers, waits and due times. Default `systemClock`. */
  clock?: Clock;
}

const TOPIC_READY_TIMEOUT_MS = 30_000;
/**
 * Most bytes of records in one produce request. kafkajs sends a partition's records of a request as one batch,
 * and the broker refuses a batch above the topic's `max.message.bytes` (1 MiB by default): half of that leaves
 * room for framing. A record bigger than this goes alone.
 */
const MAX_REQUEST_BYTES = 512 * 1024;
/** What a record costs besides its key, value and headers: Kafka's record and batch framing, generously. */
const RECORD_FRAMING_BYTES = 128;
const OPTION_KEYS = ['kafka', 'name', 'levelBaseMs', 'levels', 'partitions', 'replicationFactor', 'prefetch', 'moveWindow', 'earlyArrivalMs', 'handoverGraceMs', 'consumerConfig', 'clock'];
const MAX_EARLY_ARRIVAL_MS = 500;
/** A topic, in describeConfigs: kafkajs's ConfigResourceTypes.TOPIC, Kafka's own number for it. */
const TOPIC_RESOURCE = 2;

/**
 * Jobs as Kafka records.
 *
 * @example
 * ```ts
 * import { Kafka } from 'kafkajs';
 * import { DelayQueue } from '@x/delayqueue';
 * import { KafkaBackend } from '@x/delayqueue/kafka';
 *
 * const kafka = new Kafka({ clientId: 'billing', brokers: ['127.0.0.1:9092'] });
 * const queue = new DelayQueue({ backend: new KafkaBackend({ kafka, name: 'billing' }) });
 * ```
 */
export class KafkaBackend extends BrokerBackend {
  readonly name = 'kafka';
  /** Topic and group names, and how delays are routed. */
  readonly topics: KafkaTopics;
  protected readonly maxHoldMs: number;
  private readonly kafka: KafkaClientWithTopics;
  private readonly partitions: number;
  /** Largest job record the queue's topics take (their smallest `max.message.bytes`, less framing); read from the broker. */
  private maxRecordBytes = Infinity;
  private readonly replicationFactor: number;
  private readonly prefetch: number;
  private readonly moveWindow: number;
  private readonly consumerConfig: Record<string, unknown>;
  private readonly handoverGraceMs: number;
  private producer: Promise<ClientProducer & BatchProducer> | undefined;
  private admin: Promise<ClientAdmin & TopicAdmin> | undefined;
  private levelsReady: Promise<void> | undefined;
  private readonly topicsReady = new Map<string, Promise<void>>();
  /** Partitions per topic this backend writes to, as the broker reported them. */
  private readonly partitionCount = new Map<string, number>();
  private mover: LevelMover | undefined;
  private readonly publishes = new PublishBatcher((jobs) => this.send(jobs));

  constructor(options: KafkaBackendOptions) {
    assertKnownKeys('options', options, OPTION_KEYS);
    super(options.clock ?? systemClock);
    const { kafka } = options;
    if (typeof kafka?.producer !== 'function' || typeof kafka.consumer !== 'function' || typeof kafka.admin !== 'function') {
      throw new InvalidArgumentError('options.kafka', kafka, "a kafkajs Kafka client or @x/delayqueue/platformatic's platformaticClient()");
    }
    this.kafka = kafka;
    const name = assertString('options.name', options.name ?? 'delayqueue', 200);
    const base = assertNumber('options.levelBaseMs', options.levelBaseMs ?? 1_000, { min: 10, max: 60_000, integer: true });
    const levels = assertNumber('options.levels', options.levels ?? 22, {
      min: 1,
      max: 40,
      integer: true,
    });
    this.partitions = assertNumber('options.partitions', options.partitions ?? 3, { min: 1, max: 10_000, integer: true });
    this.replicationFactor = assertNumber('options.replicationFactor', options.replicationFactor ?? -1, { min: -1, max: 100, integer: true });
    // 0 copies is no topic: creating one timed out after 30 s waiting for leaders.
    if (this.replicationFactor === 0) throw new InvalidArgumentError('options.replicationFactor', 0, '-1 (the broker default) or 1..100');
    this.prefetch = assertNumber('options.prefetch', options.prefetch ?? 1_000, { min: 1, max: 100_000, integer: true });
    this.moveWindow = assertNumber('options.moveWindow', options.moveWindow ?? 10_000, { min: 1, max: 1_000_000, integer: true });
    // Checked now, as the consumers made from it later will check it, not when the first one starts.
    this.consumerConfig = withCoPartitioning(kafka, assertConsumerConfig(options.consumerConfig, 'derived from options.name'));
    this.handoverGraceMs = assertNumber('options.handoverGraceMs', options.handoverGraceMs ?? 1_000, { min: 0, max: 60_000 });
    const early = assertNumber('options.earlyArrivalMs', options.earlyArrivalMs ?? 250, { min: 0, max: MAX_EARLY_ARRIVAL_MS });
    this.topics = new KafkaTopics(name, base, levels, early);
    // Records reach a ready topic up to a level base and earlyArrivalMs early; more means a delay beyond one walk.
    this.maxHoldMs = base + 1_000;
  }

  async add(jobs: readonly NewJob[]): Promise<boolean[]> {
    this.assertOpen();
    // The due instant is fixed now: declaring topology on first use must not stretch the delay.
    const now = this.clock.wallNow();
    for (const job of jobs) this.topics.assertTopic(job.topic);
    await Promise.all([...new Set(jobs.map((job) => job.topic))].map((topic) => this.ensureTopic(topic)));
    // One job (an add()): written with the others of its turn, as the movers' releases are; 3,000 add() calls of
    // one turn took 2.5 s as 3,000 produce requests (0.35 s as one addBulk).
    if (jobs.length === 1) await this.publishes.publish(firstMessage(jobs[0]!, now));
    else await this.send(jobs.map((job) => firstMessage(job, now)));
    return jobs.map(() => true);
  }

  /** Starts consuming a topic; a consuming process also moves the levels, so delays progress wherever consumers run. */
  override watch(topic: string): TopicWatch {
    const watch = super.watch(topic);
    void this.startMover().catch((error: unknown) => {
      // Closed while the level topics were still being created: the mover never started, nothing went wrong.
      if (!(error instanceof ClosedError)) this.listener?.error(error);
    });
    return watch;
  }

  protected assertTopic(topic: string): void {
    this.topics.assertTopic(topic);
  }

  protected openSource(topic: string, host: DeskHost): TopicSource {
    return new TopicReader(
      topic,
      {
        kafka: this.kafka,
        groupId: this.topics.readerGroup(topic),
        readyTopic: this.topics.readyTopic(topic),
        prefetch: this.prefetch,
        consumerConfig: this.consumerConfig,
        handoverGraceMs: this.handoverGraceMs,
        ready: () => this.ensureTopic(topic),
        clock: this.clock,
      },
      host,
    );
  }

  /**
   * Deletes the queue's level topics and the ready and dead topics of `topics` and of every topic this backend
   * used, with their records, and the consumer groups that read them, with their committed offsets. For tests and
   * teardown; the backend must not be closed yet. A group that still has a member (a consumer killed less than a
   * session timeout ago) is left: the broker refuses to delete it.
   */
  async destroy(topics: Iterable<string> = []): Promise<void> {
    // After close the admin client is gone: say so (ClosedError, as RabbitMQ's does), not kafkajs's closed connection.
    this.assertOpen();
    const names = new Set<string>();
    const groups = [this.topics.moverGroup];
    for (let level = 0; level < this.topics.levels; level++) names.add(this.topics.levelTopic(level));
    for (const topic of new Set([...this.topicsReady.keys(), ...topics])) {
      names.add(this.topics.readyTopic(topic));
      names.add(this.topics.deadTopic(topic));
      groups.push(this.topics.readerGroup(topic));
    }
    const admin = await this.connectedAdmin();
    const existing = new Set(await admin.listTopics());
    const doomed = [...names].filter((name) => existing.has(name));
    if (doomed.length > 0) await admin.deleteTopics({ topics: doomed });
    // One request per group: a refusal (never created, or a member still in it) leaves the others deleted.
    await Promise.allSettled(groups.map((group) => admin.deleteGroups([group])));
    this.levelsReady = undefined;
    this.topicsReady.clear();
    this.partitionCount.clear();
  }

  protected async closeConnections(): Promise<void> {
    await this.mover?.close();
    const producer = await this.producer?.catch(() => undefined);
    await producer?.disconnect().catch(() => undefined);
    const admin = await this.admin?.catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
  }

  /** One job at a time (the movers' releases, retries): written with the others published in the same turn. */
  protected publish(job: JobMessage): Promise<void> {
    return this.publishes.publish(job);
  }

  /**
   * Produces jobs to wherever their time left sends them; resolves once every write was acknowledged. A job
   * larger than its topics take is refused before any request goes out (once the topics it needs exist, so
   * their `max.message.bytes` is known). Each produce request holds the records of one partition only, and the
   * broker answers per partition: when it refuses some, what was stored is exactly what the other requests held
   * (PartialWriteError lists it). A partition's requests go one after another (its records stay in order, and
   * none goes out after one was refused); partitions go side by side.
   */
  private async send(jobs: readonly JobMessage[]): Promise<void> {
    if (jobs.length === 0) return;
    const now = this.clock.wallNow();
    const destinations = jobs.map((job) => this.topics.next(job.topic, job.dueAt - now));
    if (destinations.some((topic) => this.topics.levelOf(topic) >= 0)) await this.ensureLevels();
    const counts = await this.partitionCounts(new Set(destinations));
    const byPartition = new Map<string, { topic: string; messages: BatchMessage[] }>();
    jobs.forEach((job, i) => {
      const topic = destinations[i]!;
      const partition = partitionOf(job.id, counts.get(topic)!);
      const key = `${partition}:${topic}`;
      let group = byPartition.get(key);
      if (group === undefined) byPartition.set(key, (group = { topic, messages: [] }));
      group.messages.push({ ...toRecord(job), partition });
    });
    // Every request is made (and every size checked) before the first goes out.
    const chains = [...byPartition.values()].map(({ topic, messages }) => requestsOf(topic, messages, this.maxRecordBytes));
    const producer = await this.connectedProducer();
    const written: string[] = [];
    const refusals: unknown[] = [];
    await Promise.all(
      chains.map(async (requests) => {
        for (const request of requests) {
          try {
            await producer.sendBatch({ acks: -1, topicMessages: [{ topic: request.topic, messages: request.messages }] });
          } catch (error) {
            refusals.push(error);
            return;
          }
          written.push(...request.ids);
        }
      }),
    );
    if (refusals.length === 0) return;
    if (written.length === 0) throw refusals[0];
    const done = new Set(written);
    throw new PartialWriteError(written, jobs.map((job) => job.id).filter((id) => !done.has(id)), refusals[0]);
  }

  /**
   * The partition count of each of `topics`, from the metadata read when this backend made them, or asked of
   * the broker once for a topic made elsewhere (a ready topic another process added to, read by this one's mover).
   */
  private async partitionCounts(topics: Set<string>): Promise<Map<string, number>> {
    const unknown = [...topics].filter((topic) => !this.partitionCount.has(topic));
    if (unknown.length > 0) await this.readPartitionCounts(unknown);
    return this.partitionCount;
  }

  private async readPartitionCounts(topics: string[]): Promise<void> {
    const admin = await this.connectedAdmin();
    const { topics: found } = await admin.fetchTopicMetadata({ topics });
    for (const { name, partitions } of found) if (partitions.length > 0) this.partitionCount.set(name, partitions.length);
    const missing = topics.filter((topic) => !this.partitionCount.has(topic));
    if (missing.length > 0) throw new Error(`the broker reported no partitions for ${missing.join(', ')}`);
  }

  protected async publishDead(job: JobMessage, error: string): Promise<void> {
    const producer = await this.connectedProducer();
    await producer.sendBatch({
      acks: -1,
      topicMessages: [{ topic: this.topics.deadTopic(job.topic), messages: [{ key: job.id, value: job.payload, headers: jobHeaders({ ...job, lastError: error }) }] }],
    });
  }

  private startMover(): Promise<void> {
    if (this.mover === undefined) {
      this.mover = new LevelMover(
        this.topics,
        {
          kafka: this.kafka,
          window: this.moveWindow,
          clock: this.clock,
          consumerConfig: this.consumerConfig,
        },
        (job) => this.publish(job),
        (error) => this.listener?.error(error),
      );
    }
    const mover = this.mover;
    return this.ensureLevels()
      .then(() => mover.start())
      .catch(async (error: unknown) => {
        // A mover that could not start cannot start again: the next watch makes a new one.
        if (this.mover === mover) this.mover = undefined;
        await mover.close();
        throw error;
      });
  }

  private ensureLevels(): Promise<void> {
    if (this.levelsReady === undefined) {
      const names = Array.from({ length: this.topics.levels }, (_, level) => this.topics.levelTopic(level));
      const ready = this.createTopics(
        names,
        (name) => [
          { name: 'retention.ms', value: String(this.topics.retentionOf(this.topics.levelOf(name))) },
          { name: 'retention.bytes', value: '-1' },
        ],
      ).then(() => this.checkLevelRetention(names));
      ready.catch(() => {
        if (this.levelsReady === ready) this.levelsReady = undefined;
      });
      this.levelsReady = ready;
    }
    return this.levelsReady;
  }

  /** The topic's ready and dead topics: a record produced to a missing topic would wait for it to be created. */
  private ensureTopic(topic: string): Promise<void> {
    let ready = this.topicsReady.get(topic);
    if (ready === undefined) {
      const names = [this.topics.readyTopic(topic), this.topics.deadTopic(topic)];
      ready = this.createTopics(names).then(async () => void (await this.describeTopics(names)));
      ready.catch(() => this.topicsReady.delete(topic));
      this.topicsReady.set(topic, ready);
    }
    return ready;
  }

  /**
   * Creates topics and resolves once every partition has a leader, by asking for metadata until it says so.
   * Not kafkajs's `waitForLeaders`: its wait lets an UNKNOWN_TOPIC_OR_PARTITION escape as an unhandled
   * rejection (seen with several processes creating the same topics at once), and when another process created
   * the topics a moment ago createTopics answers before their leaders are known anyway.
   */
  private async createTopics(names: string[], configOf?: (name: string) => { name: string; value: string }[]): Promise<void> {
    const admin = await this.connectedAdmin();
    let creationError: unknown;
    await admin
      .createTopics({
        waitForLeaders: false,
        topics: names.map((topic) => ({
          topic,
          numPartitions: this.partitions,
          replicationFactor: this.replicationFactor,
          ...(configOf === undefined ? {} : { configEntries: configOf(topic) }),
        })),
      })
      .catch((error: unknown) => {
        // Most often another process created them first; the metadata below tells.
        creationError = error;
      });
    // Kafka refuses a name that collides with an existing topic's ('.' and '_' count as the same): no wait for it.
    const refused = refusedTopics(creationError);
    if (refused.length > 0) {
      throw new InvalidArgumentError('topic', refused.join(', '), 'a name Kafka accepts (it refused these topics: a name that differs from an existing topic only by "." against "_" collides with it)');
    }
    const deadline = this.clock.now() + TOPIC_READY_TIMEOUT_MS;
    // Closing stops the wait: polling a client that close() disconnects would go on until the deadline.
    const signal = this.closeSignal;
    for (;;) {
      if (signal.aborted) throw new ClosedError('the Kafka backend');
      const ready = await admin.fetchTopicMetadata({ topics: names }).then(
        ({ topics }) => {
          const led = topics.length === names.length && topics.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0));
          // Where this backend's records go: partitionOf() needs each topic's count (it may differ from
          // options.partitions for a topic made elsewhere).
          if (led) for (const { name, partitions } of topics) this.partitionCount.set(name, partitions.length);
          return led;
        },
        () => false,
      );
      if (ready) return;
      if (this.clock.now() > deadline) {
        throw new TimeoutError(TOPIC_READY_TIMEOUT_MS, `topics ${names.join(', ')} have no leaders after ${TOPIC_READY_TIMEOUT_MS} ms`, { cause: creationError });
      }
      await sleep(100, { clock: this.clock, signal }).catch(() => undefined);
    }
  }

  /**
   * Level topics made elsewhere (by hand, by an older version, by another process with other levels) may delete
   * records before they have waited: refused with TopicConfigError rather than losing jobs.
   */
  private async checkLevelRetention(names: string[]): Promise<void> {
    for (const resource of await this.describeTopics(names)) {
      const value = (setting: string): number => Number(resource.configEntries.find((entry) => entry.configName === setting)?.configValue ?? '-1');
      const needed = this.topics.retentionOf(this.topics.levelOf(resource.resourceName));
      const ms = value('retention.ms');
      if (ms >= 0 && ms < needed) throw new TopicConfigError(resource.resourceName, 'retention.ms', String(ms), `at least ${needed} (-1 for ever)`);
      const bytes = value('retention.bytes');
      if (bytes >= 0) throw new TopicConfigError(resource.resourceName, 'retention.bytes', String(bytes), '-1 (no size limit: records must stay until they have waited)');
    }
  }

  /** The topics' retention and record-size settings; also lowers `maxRecordBytes` to the smallest record limit. */
  private async describeTopics(names: string[]): Promise<{ resourceName: string; configEntries: { configName: string; configValue: string }[] }[]> {
    const admin = await this.connectedAdmin();
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: names.map((name) => ({ type: TOPIC_RESOURCE, name, configNames: ['retention.ms', 'retention.bytes', 'max.message.bytes'] })),
    });
    for (const resource of resources) {
      const limit = Number(resource.configEntries.find((entry) => entry.configName === 'max.message.bytes')?.configValue);
      if (Number.isFinite(limit) && limit > 0) this.maxRecordBytes = Math.min(this.maxRecordBytes, limit - RECORD_FRAMING_BYTES);
    }
    return resources;
  }

  private connectedProducer(): Promise<ClientProducer & BatchProducer> {
    if (this.producer === undefined) {
      const producer = this.kafka.producer({ allowAutoTopicCreation: false });
      const connecting = producer.connect().then(() => producer);
      connecting.catch(() => {
        if (this.producer === connecting) this.producer = undefined;
      });
      this.producer = connecting;
    }
    return this.producer;
  }

  private connectedAdmin(): Promise<ClientAdmin & TopicAdmin> {
    if (this.admin === undefined) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined;
      });
      this.admin = connecting;
    }
    return this.admin;
  }
}

/** A job as the record that carries it. */
function toRecord(job: JobMessage): BatchMessage {
  return { key: job.id, value: job.payload, headers: jobHeaders(job) };
}

/** Bytes a record takes on the wire, near enough: key, value, headers and framing. */
function recordBytes(message: BatchMessage): number {
  let bytes = RECORD_FRAMING_BYTES + Buffer.byteLength(String(message.key ?? '')) + Buffer.byteLength(message.value as string);
  for (const [name, value] of Object.entries(message.headers ?? {})) bytes += Buffer.byteLength(name) + Buffer.byteLength(String(value));
  return bytes;
}

/**
 * One partition's messages split into produce requests of at most MAX_REQUEST_BYTES (a bigger record alone), in
 * order. Throws PayloadTooLargeError, before anything is sent, for a record above `maxRecordBytes`.
 */
function requestsOf(topic: string, messages: BatchMessage[], maxRecordBytes: number): { topic: string; messages: BatchMessage[]; ids: string[] }[] {
  const requests: { topic: string; messages: BatchMessage[]; ids: string[] }[] = [];
  let current = { topic, messages: [] as BatchMessage[], ids: [] as string[] };
  let bytes = 0;
  for (const message of messages) {
    const size = recordBytes(message);
    if (size > maxRecordBytes) {
      throw new PayloadTooLargeError(
        size,
        maxRecordBytes,
        `the job's Kafka record is ${size} bytes (its payload, id and headers), more than the ${maxRecordBytes} its topics take (max.message.bytes less framing); a 1 MiB topic limit leaves a little under 1 MiB for the payload`,
      );
    }
    if (current.ids.length > 0 && bytes + size > MAX_REQUEST_BYTES) {
      requests.push(current);
      current = { topic, messages: [], ids: [] };
      bytes = 0;
    }
    current.messages.push(message);
    current.ids.push(String(message.key));
    bytes += size;
  }
  if (current.ids.length > 0) requests.push(current);
  return requests;
}

/** The topics a kafkajs createTopics error says Kafka refused as invalid names. */
function refusedTopics(error: unknown): string[] {
  const errors = (error as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors.flatMap((e: { type?: unknown; topic?: unknown }) => (e?.type === 'INVALID_TOPIC_EXCEPTION' && typeof e.topic === 'string' ? [e.topic] : []));
}

/**
 * This process's movers and readers take the same partition numbers of every level topic and of its ready
 * topics, one key per backend: on kafkajs through coPartitionedAssigner, on Kafka 4's consumer protocol
 * (`platformaticClient`) through the broker's `range` assignor and member ids that start with that key (the
 * assignor orders members by id, so a process has the same place in both groups). A job's records are keyed by
 * its id, so its whole walk stays on one partition number: when a process dies, only the jobs of its own
 * partitions wait for the group to notice, not every job whose walk passed one of its level partitions (with
 * kafkajs's round robin or the broker's uniform assignor, a process owns a different share of every topic, and
 * most walks pass one of them). The caller's own `partitionAssigners`, `serverAssignor` or `memberIdPrefix` is
 * kept. Other adapters take no functions.
 */
function withCoPartitioning(kafka: KafkaClientWithTopics, config: Record<string, unknown>): Record<string, unknown> {
  const processKey = randomToken(8);
  if (kafka.adapter === 'platformatic') {
    if (config.serverAssignor !== undefined || config.memberIdPrefix !== undefined) return config;
    return { ...config, serverAssignor: 'range', memberIdPrefix: processKey };
  }
  if (kafka.adapter !== undefined || config.partitionAssigners !== undefined) return config;
  return { ...config, partitionAssigners: [coPartitionedAssigner(processKey)] };
}
