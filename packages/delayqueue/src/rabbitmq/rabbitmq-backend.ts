/**
 * The RabbitMQ backend: delays walk down binary levels of TTL queues on the broker (topology.ts), then reach
 * a ready queue per topic, consumed with manual acks. Works on a stock broker, no plugin needed.
 *
 * A broker keeps no index of its messages, so this backend cannot find a job by id: no `get`, `cancel`,
 * `reschedule`, deduplicating ids, `dead` or `requeue` (they throw UnsupportedOperationError). Dead letters
 * are kept, in a queue per topic (`<name>.dead.<topic>`), for broker tools to inspect or shovel back.
 */
import { type Clock, ClosedError, InvalidArgumentError, assertKnownKeys, assertNumber, assertOneOf, assertString, systemClock } from '@x/core';
import type { Backend, BackendListener, BackendSupport, Delivery, NewJob, TopicWatch } from '../backend.js';
import { UnsupportedOperationError } from '../errors.js';
import type { JobInfo } from '../job.js';
import { type AmqpConnection, ConfirmedPublisher, LazyChannel } from './channels.js';
import type { JobMessage } from '../broker/job-message.js';
import { publishOptions } from './message.js';
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
   * How much sooner than its delay a message is routed, per level it waits at, ms (0..50, default 2): a hop
   * costs the broker about that much, and the consumer holds an early message back to its due time, so this
   * trades nothing for lower lateness. 0 routes by the exact delay.
   */
  hopAllowanceMs?: number;
  /** Clock for ttr timers and due times. Default `systemClock`. */
  clock?: Clock;
}

const OPTION_KEYS = ['connection', 'name', 'radix', 'levels', 'queueType', 'prefetch', 'hopAllowanceMs', 'clock'];
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
export class RabbitMqBackend implements Backend {
  readonly name = 'rabbitmq';
  readonly supports: BackendSupport = Object.freeze({ ids: false, cancel: false, reschedule: false, get: false, deadLetters: false });
  /** Exchange and queue names, and how delays are routed. */
  readonly topology: Topology;
  private readonly connection: AmqpConnection;
  private readonly clock: Clock;
  private readonly prefetch: number;
  private readonly hopAllowanceMs: number;
  private readonly publisher: ConfirmedPublisher;
  private readonly admin: LazyChannel<Awaited<ReturnType<AmqpConnection['createChannel']>>>;
  private listener: BackendListener | undefined;
  private declared: Promise<void> | undefined;
  private readonly topics = new Map<string, Promise<void>>();
  private readonly deadTopics = new Map<string, Promise<void>>();
  private readonly consumers = new Map<string, TopicConsumer>();
  private closed = false;

  constructor(options: RabbitMqBackendOptions) {
    assertKnownKeys('options', options, OPTION_KEYS);
    const { connection } = options;
    if (typeof connection?.createChannel !== 'function' || typeof connection.createConfirmChannel !== 'function') {
      throw new InvalidArgumentError('options.connection', connection, 'an amqplib connection (from amqp.connect)');
    }
    this.connection = connection;
    const name = assertString('options.name', options.name ?? 'delayqueue', 200);
    const radix = assertNumber('options.radix', options.radix ?? 16, { min: 2, max: 16, integer: true });
    // Digits enough for 2^32 ms by default; at most what stays below 2^53 ms, where ms arithmetic stays exact.
    const maxLevels = Math.floor(53 / Math.log2(radix));
    const levels = assertNumber('options.levels', options.levels ?? Math.ceil(32 / Math.log2(radix)), { min: 1, max: maxLevels, integer: true });
    const queueType = assertOneOf('options.queueType', options.queueType ?? 'quorum', ['quorum', 'classic'] as const);
    this.prefetch = assertNumber('options.prefetch', options.prefetch ?? 100, { min: 1, max: 10_000, integer: true });
    this.hopAllowanceMs = assertNumber('options.hopAllowanceMs', options.hopAllowanceMs ?? 2, { min: 0, max: 50 });
    this.clock = options.clock ?? systemClock;
    this.topology = new Topology(name, queueType, radix, levels);
    const report = (error: unknown): void => this.listener?.error(error);
    this.publisher = new ConfirmedPublisher(connection, report);
    this.admin = new LazyChannel(() => connection.createChannel(), report);
  }

  bind(listener: BackendListener): void {
    this.listener = listener;
  }

  async add(jobs: readonly NewJob[]): Promise<boolean[]> {
    this.assertOpen();
    // The due instant is fixed now: declaring topology on first use must not stretch the delay.
    const now = this.clock.wallNow();
    for (const job of jobs) this.topology.assertTopic(job.topic);
    await Promise.all([...new Set(jobs.map((job) => job.topic))].map((topic) => this.ensureTopic(topic)));
    const sent = this.clock.wallNow();
    await Promise.all(
      jobs.map((job) =>
        this.publish(
          {
            id: job.id,
            topic: job.topic,
            payload: job.payload,
            attempt: 1,
            maxAttempts: job.maxAttempts,
            ttr: job.ttr,
            backoff: job.backoff,
            dueAt: now + job.delay,
          },
          Math.max(0, now + job.delay - sent),
        ),
      ),
    );
    return jobs.map(() => true);
  }

  reserve(topic: string, max: number): Promise<Delivery[]> {
    this.assertOpen();
    return Promise.resolve(this.consumers.get(topic)?.reserve(max) ?? []);
  }

  async ack(topic: string, id: string, attempt: number): Promise<boolean> {
    return this.consumers.get(topic)?.ack(id, attempt) ?? false;
  }

  async retry(topic: string, id: string, attempt: number, delay: number, error: string): Promise<boolean> {
    const consumer = this.consumers.get(topic);
    if (consumer === undefined) return false;
    return consumer.settle(id, attempt, (job) =>
      this.publish({ ...job, attempt: attempt + 1, dueAt: this.clock.wallNow() + delay, lastError: error }, delay),
    );
  }

  async bury(topic: string, id: string, attempt: number, error: string): Promise<boolean> {
    const consumer = this.consumers.get(topic);
    if (consumer === undefined) return false;
    return consumer.settle(id, attempt, (job) => this.buryMessage(job, error));
  }

  async extend(topic: string, id: string, attempt: number, ttr: number): Promise<boolean> {
    return this.consumers.get(topic)?.extend(id, attempt, ttr) ?? false;
  }

  watch(topic: string): TopicWatch {
    this.assertOpen();
    this.topology.assertTopic(topic);
    let consumer = this.consumers.get(topic);
    if (consumer === undefined) {
      consumer = new TopicConsumer(topic, this.topology.readyQueue(topic), this.prefetch, () => this.openConsumerChannel(topic), {
        clock: this.clock,
        maxHoldMs: MAX_HOLD_MS,
        republish: (job, delay) => this.publish(job, delay),
        bury: (job, error) => this.buryMessage(job, error),
        due: (t, count) => this.listener?.due(t, count),
        expired: (t, count, dead) => this.listener?.expired(t, count, dead),
        error: (error) => this.listener?.error(error),
      });
      this.consumers.set(topic, consumer);
    }
    const watched = consumer;
    watched.users++;
    watched.resume();
    let open = true;
    return {
      wait: (signal) => watched.wait(signal),
      close: async () => {
        if (!open) return;
        open = false;
        if (--watched.users === 0) await watched.stop();
      },
    };
  }

  cancel(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('cancel', this.name));
  }

  reschedule(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('reschedule', this.name));
  }

  get(): Promise<JobInfo<string> | undefined> {
    return Promise.reject(new UnsupportedOperationError('get', this.name));
  }

  dead(): Promise<JobInfo<string>[]> {
    return Promise.reject(new UnsupportedOperationError('dead', this.name));
  }

  requeue(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('requeue', this.name));
  }

  /**
   * Deletes this queue's ready and dead-letter queues, with every message in them, for `topics` and every topic
   * this backend used (the delay levels are shared by other queues and stay). Not needed in normal use (the
   * queues are durable and shared by every process of the queue); for tests and teardown. Jobs still walking
   * the levels are dropped when they reach the deleted queue.
   */
  async destroy(topics: Iterable<string> = []): Promise<void> {
    const all = new Set([...this.topics.keys(), ...topics]);
    const channel = await this.admin.get();
    await this.topology.destroy(channel, all);
    this.topics.clear();
    this.deadTopics.clear();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers.values()].map((consumer) => consumer.close()));
    this.consumers.clear();
    await this.publisher.close();
    await this.admin.close();
  }

  /** Publishes a job to reach its ready queue after `delay` ms: routed a little early, never delivered early. */
  private async publish(job: JobMessage, delay: number): Promise<void> {
    const routed = Math.min(this.topology.maxRoutedDelay, Math.max(0, Math.floor(delay - this.allowance(delay))));
    const { exchange, routingKey } = this.topology.route(routed);
    await this.publisher.publish(exchange, routingKey, Buffer.from(job.payload), publishOptions(job, this.topology.readyQueue(job.topic)));
  }

  /** Time the broker's hops are expected to take for a delay: one hop per level waited at (a non-zero digit). */
  private allowance(delay: number): number {
    return this.hopAllowanceMs === 0 ? 0 : this.topology.hops(delay) * this.hopAllowanceMs;
  }

  private async buryMessage(job: JobMessage, error: string): Promise<void> {
    let declared = this.deadTopics.get(job.topic);
    if (declared === undefined) {
      declared = this.admin.get().then((channel) => this.topology.declareDead(channel, job.topic));
      declared.catch(() => this.deadTopics.delete(job.topic));
      this.deadTopics.set(job.topic, declared);
    }
    await declared;
    await this.publisher.publish('', this.topology.deadQueue(job.topic), Buffer.from(job.payload), publishOptions({ ...job, lastError: error }, this.topology.deadQueue(job.topic)));
  }

  /** The levels, then the topic's ready queue: a message routed before its queue exists would be dropped. */
  private ensureTopic(topic: string): Promise<void> {
    let declared = this.topics.get(topic);
    if (declared === undefined) {
      declared = this.ensureLevels().then(async () => this.topology.declareTopic(await this.admin.get(), topic));
      declared.catch(() => this.topics.delete(topic));
      this.topics.set(topic, declared);
    }
    return declared;
  }

  private ensureLevels(): Promise<void> {
    if (this.declared === undefined) {
      const declared = this.admin.get().then((channel) => this.topology.declare(channel));
      declared.catch(() => {
        if (this.declared === declared) this.declared = undefined;
      });
      this.declared = declared;
    }
    return this.declared;
  }

  private async openConsumerChannel(topic: string): Promise<Awaited<ReturnType<AmqpConnection['createChannel']>>> {
    await this.ensureTopic(topic);
    return this.connection.createChannel();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the RabbitMQ backend');
  }
}
