/**
 * The RabbitMQ backend: delays walk down levels of TTL queues on the broker, one per digit of the delay in its
 * radix (topology.ts), then reach a ready queue per topic, consumed with manual acks. Works on a stock broker,
 * no plugin needed.
 *
 * A broker keeps no index of its messages, so this backend cannot find a job by id: no `get`, `cancel`,
 * `reschedule`, deduplicating ids, `dead` or `requeue` (they throw UnsupportedOperationError). Dead letters
 * are kept, in a queue per topic (`<name>.dead.<topic>`), for broker tools to inspect or shovel back.
 */
import { assertName } from '../new-job.js';
import { type Clock, InvalidArgumentError, assertKnownKeys, assertNumber, assertOneOf, assertString, systemClock, within } from '@x/core';
import type { NewJob } from '../backend.js';
import { BrokerBackend, type TopicSource } from '../broker/broker-backend.js';
import type { DeskHost } from '../broker/delivery-desk.js';
import { type AmqpConnection, ConfirmedPublisher, LazyChannel } from './channels.js';
import { type JobMessage, firstMessage } from '../broker/job-message.js';
import { publishOptions } from './message.js';
import { PartialWriteError, UnroutableJobError } from '../errors.js';
import { TopicConsumer } from './topic-consumer.js';
import { type QueueType, Topology } from './topology.js';

/** Options of {@link RabbitMqBackend}. */
export interface RabbitMqBackendOptions {
  /** An amqplib connection (`await amqp.connect(url)`); the backend opens channels on it and closes only those. */
  connection: AmqpConnection;
  /** Prefix of every exchange and queue name. Default `delayqueue`. */
  name?: string;
  /** Base in which delays are written, one level per digit (2..16, default 16). See the README for the trade. */
  radix?: number;
  /**
   * Levels (digits) of a delay: one walk down them covers radix^levels - 1 ms; longer delays take several walks.
   * Default: enough for 2^32 ms (49.7 days), 8 for radix 16.
   */
  levels?: number;
  /**
   * `quorum` (default): replicated, and dead-lettering between levels is at-least-once. `classic`: faster
   * hops, but RabbitMQ dead-letters classic queues at most once, so a broker crash mid-hop can lose a job.
   */
  queueType?: QueueType;
  /** Messages of a topic a consuming process holds unacknowledged (1..10000, default 100). */
  prefetch?: number;
  /**
   * How long before its due time a delayed message is routed to reach its ready queue, ms (0..500, default
   * 250); the consumer holds it back on a timer until it is due, so it is never delivered early. The broker's
   * hops take time (about 20 ms each on quorum queues), and a burst is published and dead-lettered over a
   * while: 500 jobs due at once reached their ready queue 37-192 ms after their due time when routed 4 ms early.
   * 0 routes by the exact delay.
   */
  earlyArrivalMs?: number;
  /**
   * How long a write waits for the broker's confirm, ms (100..600000, default 30,000). Past it the write rejects
   * with `TimeoutError` (the job may or may not be stored) and the channel is replaced: a broker that stopped
   * confirming (seen on RabbitMQ 3.10 when a quorum queue was deleted under a burst) no longer hangs `add()` and
   * `close()` for ever.
   */
  confirmTimeoutMs?: number;
  /** Clock for ttr timers and due times. Default `systemClock`. */
  clock?: Clock;
}

const OPTION_KEYS = ['connection', 'name', 'radix', 'levels', 'queueType', 'prefetch', 'earlyArrivalMs', 'confirmTimeoutMs', 'clock'];
// A message that reaches its ready queue more than this early (a delay longer than one walk) goes round again.
const MAX_HOLD_MS = 1_000;

/**
 * Jobs as RabbitMQ messages.
 *
 * @example
 * ```ts
 * import amqp from 'amqplib';
 * import { DelayQueue } from '@x/delayqueue';
 * import { RabbitMqBackend } from '@x/delayqueue/rabbitmq';
 *
 * const connection = await amqp.connect('amqp://guest:guest@127.0.0.1:5672');
 * const queue = new DelayQueue({ backend: new RabbitMqBackend({ connection, name: 'billing' }) });
 * ```
 */
export class RabbitMqBackend extends BrokerBackend {
  readonly name = 'rabbitmq';
  /** Exchange and queue names, and how delays are routed. */
  readonly topology: Topology;
  protected readonly maxHoldMs = MAX_HOLD_MS;
  private readonly connection: AmqpConnection;
  private readonly prefetch: number;
  private readonly earlyArrivalMs: number;
  private readonly publisher: ConfirmedPublisher;
  /** How long the broker may take to confirm a write. */
  private readonly confirmTimeoutMs: number;
  /** How long it may take to open a channel or declare queues (declaring the levels takes seconds on a busy broker). */
  private readonly declareTimeoutMs: number;
  private readonly admin: LazyChannel<Awaited<ReturnType<AmqpConnection['createChannel']>>>;
  private declared: Promise<void> | undefined;
  private readonly topics = new Map<string, Promise<void>>();
  private readonly deadTopics = new Map<string, Promise<void>>();

  constructor(options: RabbitMqBackendOptions) {
    assertKnownKeys('options', options, OPTION_KEYS);
    super(options.clock ?? systemClock);
    const { connection } = options;
    if (typeof connection?.createChannel !== 'function' || typeof connection.createConfirmChannel !== 'function') {
      throw new InvalidArgumentError('options.connection', connection, 'an amqplib connection (from amqp.connect)');
    }
    this.connection = connection;
    // Queue and exchange names: no control characters (the broker takes them, and they make names nobody can type).
    const name = assertString('options.name', assertName('options.name', options.name ?? 'delayqueue'), 200);
    const radix = assertNumber('options.radix', options.radix ?? 16, { min: 2, max: 16, integer: true });
    // Digits enough for 2^32 ms by default; at most what stays below 2^53 ms, where ms arithmetic stays exact.
    const maxLevels = Math.floor(53 / Math.log2(radix));
    const levels = assertNumber('options.levels', options.levels ?? Math.ceil(32 / Math.log2(radix)), { min: 1, max: maxLevels, integer: true });
    const queueType = assertOneOf('options.queueType', options.queueType ?? 'quorum', ['quorum', 'classic'] as const);
    this.prefetch = assertNumber('options.prefetch', options.prefetch ?? 100, { min: 1, max: 10_000, integer: true });
    this.earlyArrivalMs = assertNumber('options.earlyArrivalMs', options.earlyArrivalMs ?? 250, { min: 0, max: MAX_HOLD_MS / 2 });
    this.topology = new Topology(name, queueType, radix, levels);
    const report = (error: unknown): void => this.listener?.error(error);
    this.confirmTimeoutMs = assertNumber('options.confirmTimeoutMs', options.confirmTimeoutMs ?? 30_000, { min: 100, max: 600_000 });
    this.declareTimeoutMs = Math.max(this.confirmTimeoutMs, MIN_DECLARE_TIMEOUT_MS);
    this.publisher = new ConfirmedPublisher(connection, report, this.confirmTimeoutMs, this.declareTimeoutMs);
    this.admin = new LazyChannel(() => connection.createChannel(), report, this.declareTimeoutMs);
  }

  async add(jobs: readonly NewJob[]): Promise<boolean[]> {
    this.assertOpen();
    // The due instant is fixed now: declaring topology on first use must not stretch the delay.
    const now = this.clock.wallNow();
    for (const job of jobs) this.topology.assertTopic(job.topic);
    await Promise.all([...new Set(jobs.map((job) => job.topic))].map((topic) => this.ensureTopic(topic)));
    const outcomes = await Promise.allSettled(jobs.map((job) => this.publish(firstMessage(job, now))));
    const refused = outcomes.findIndex((outcome) => outcome.status === 'rejected');
    if (refused >= 0) {
      // RabbitMQ has no write of several messages that is all or nothing: say exactly which jobs were stored.
      const cause = (outcomes[refused] as PromiseRejectedResult).reason;
      const written = jobs.filter((_, i) => outcomes[i]!.status === 'fulfilled').map((job) => job.id);
      if (written.length === 0) throw cause;
      throw new PartialWriteError(written, jobs.filter((_, i) => outcomes[i]!.status === 'rejected').map((job) => job.id), cause);
    }
    return jobs.map(() => true);
  }

  protected assertTopic(topic: string): void {
    this.topology.assertTopic(topic);
  }

  protected openSource(topic: string, host: DeskHost): TopicSource {
    return new TopicConsumer(topic, this.topology.readyQueue(topic), this.prefetch, () => this.connection.createChannel(), host, {
      ensure: () => this.ensureTopic(topic),
      forget: () => this.forgetTopic(topic),
    });
  }

  /**
   * Deletes this queue's ready and dead-letter queues, with every message in them, for `topics` and every topic
   * this backend used (the delay levels are shared by other queues and stay). Not needed in normal use (the
   * queues are durable and shared by every process of the queue); for tests and teardown. Jobs still walking
   * the levels end in the broker's `x-delayqueue.unroutable` queue when they reach the deleted one.
   */
  async destroy(topics: Iterable<string> = []): Promise<void> {
    const all = new Set([...this.topics.keys(), ...topics]);
    const channel = await this.admin.get();
    await this.topology.destroy(channel, all);
    this.topics.clear();
    this.deadTopics.clear();
  }

  protected async closeConnections(): Promise<void> {
    await this.publisher.close();
    await this.admin.close();
  }

  /**
   * Publishes a job to reach its ready queue at its due time, measured now (not when it was added: declaring
   * topology on first use takes time): routed a little early, never delivered early.
   */
  protected async publish(job: JobMessage): Promise<void> {
    const route = this.topology.route(this.routedDelay(Math.max(0, job.dueAt - this.clock.wallNow())));
    const readyQueue = this.topology.readyQueue(job.topic);
    // A job due now goes straight to its ready queue, so that a missing queue returns it (the deliver exchange
    // would keep it in the unroutable queue instead).
    const { exchange, routingKey } = route.exchange === this.topology.deliverExchange ? { exchange: '', routingKey: readyQueue } : route;
    await this.publisher
      .publish(exchange, routingKey, Buffer.from(job.payload), publishOptions(job, readyQueue))
      .catch((error: unknown) => this.forgetIfUnroutable(error, job.topic));
  }

  /**
   * @internal The delay a job with `delay` ms to go is routed by: earlyArrivalMs less, so that it reaches its
   * ready queue that much before it is due (the consumer holds it to the instant).
   */
  routedDelay(delay: number): number {
    return Math.min(this.topology.maxRoutedDelay, Math.max(0, Math.floor(delay - this.earlyArrivalMs)));
  }

  /** A returned message means a queue is gone: declare the topology again on the next add, and rethrow. */
  private forgetIfUnroutable(error: unknown, topic: string): never {
    if (error instanceof UnroutableJobError) this.forgetTopic(topic);
    throw error;
  }

  /** A queue of `topic` (or a level) is gone: its declarations are made again on next use. */
  private forgetTopic(topic: string): void {
    this.topics.delete(topic);
    this.deadTopics.delete(topic);
    this.declared = undefined;
  }

  protected async publishDead(job: JobMessage, error: string): Promise<void> {
    let declared = this.deadTopics.get(job.topic);
    if (declared === undefined) {
      declared = this.admin.get().then((channel) => within(this.topology.declareDead(channel, job.topic), this.declareTimeoutMs, 'the broker did not declare the dead-letter queue', { ref: false }));
      declared.catch(() => this.deadTopics.delete(job.topic));
      this.deadTopics.set(job.topic, declared);
    }
    await declared;
    await this.publisher
      .publish('', this.topology.deadQueue(job.topic), Buffer.from(job.payload), publishOptions({ ...job, lastError: error }, this.topology.deadQueue(job.topic)))
      .catch((failure: unknown) => this.forgetIfUnroutable(failure, job.topic));
  }

  /** The levels, then the topic's ready queue: a message routed before its queue exists would be dropped. */
  private ensureTopic(topic: string): Promise<void> {
    let declared = this.topics.get(topic);
    if (declared === undefined) {
      declared = this.ensureLevels().then(async () =>
        within(this.topology.declareTopic(await this.admin.get(), topic), this.declareTimeoutMs, 'the broker did not declare the queues', { ref: false }),
      );
      declared.catch(() => this.topics.delete(topic));
      this.topics.set(topic, declared);
    }
    return declared;
  }

  private ensureLevels(): Promise<void> {
    if (this.declared === undefined) {
      const declared = this.admin.get().then((channel) => within(this.topology.declare(channel), this.declareTimeoutMs, 'the broker did not declare the delay levels', { ref: false }));
      declared.catch(() => {
        if (this.declared === declared) this.declared = undefined;
      });
      this.declared = declared;
    }
    return this.declared;
  }

}

/** The least time opening a channel or declaring queues may take before it fails, ms. */
const MIN_DECLARE_TIMEOUT_MS = 30_000;
