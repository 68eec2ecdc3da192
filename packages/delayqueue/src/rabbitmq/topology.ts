/**
 * The exchanges and queues a RabbitMQ delay queue is made of, and how a delay becomes a route through them.
 *
 * A delay is written in base `radix` (16 by default), one digit per level, highest level first. Level L has a
 * topic exchange and, for each digit d in 1..radix-1, a queue whose messages all live exactly d * radix^L ms
 * (per-queue `x-message-ttl`) and are then dead-lettered to level L-1's exchange (level 0's to the deliver
 * exchange). Level L's exchange sends a message into its digit's queue, or straight on to level L-1 when the
 * digit is 0. Dead-lettering keeps the routing key, so a message walks down the levels on the broker alone and
 * waits once per non-zero digit: 1,000 ms = 0x3E8 is two waits (768 and 224 ms) and 8 ms on the consumer's
 * timer (see below). Within one queue every
 * message waits the same time, so the head is always the next to expire (the reason per-message TTLs are not
 * used: RabbitMQ only expires the head of a queue).
 *
 * The lowest level has no queues: its digit (under `radix` ms) is waited out by the consumer, on a timer,
 * which saves a hop for 15 jobs in 16.
 *
 * Why radix 16 rather than 2: a hop costs the broker a dead-letter publish, and hops are what limits
 * throughput. Base 2 needs a wait per set bit (six for 1,000 ms, about half of log2(delay) in general);
 * base 16 about a quarter as many, for 15 queues per level instead of 1.
 *
 * The deliver exchange is a headers exchange that sends each message to its ready queue named in the
 * `delayqueue-to` header, so topic names need not be valid routing-key words. (Not an `x-` header: a headers
 * exchange ignores those when matching, and a binding on nothing else matches every message.)
 *
 * The levels and the deliver exchange are shared by every delay queue on the broker with the same queue type,
 * radix and number of levels (their names say all three): a broker carries one set of delay queues, not one
 * per application, and a queue's own footprint is a ready queue (and a dead-letter queue) per topic.
 */
import { InvalidArgumentError } from '@x/core';

/** Queue type of every queue of the topology. */
export type QueueType = 'quorum' | 'classic';

/** The header that routes a message from the deliver exchange to its ready queue. */
export const ROUTE_HEADER = 'delayqueue-to';

const SHARED_PREFIX = 'x-delayqueue';

// AMQP 0-9-1 names (queues, exchanges) are short strings: at most 255 bytes.
const MAX_AMQP_NAME_BYTES = 255;

/** The channel operations the topology needs (amqplib's `Channel`). */
export interface TopologyChannel {
  assertExchange(exchange: string, type: string, options?: { durable?: boolean; arguments?: Record<string, unknown> }): Promise<unknown>;
  assertQueue(queue: string, options?: { durable?: boolean; arguments?: Record<string, unknown> }): Promise<unknown>;
  bindQueue(queue: string, source: string, pattern: string, args?: Record<string, unknown>): Promise<unknown>;
  bindExchange(destination: string, source: string, pattern: string): Promise<unknown>;
  deleteQueue(queue: string): Promise<unknown>;
  deleteExchange(exchange: string): Promise<unknown>;
}

/** Names and routes of one delay queue on a broker. */
export class Topology {
  /** Longest delay one walk down the levels gives, ms (radix^levels - radix: the lowest digit is the consumer's). */
  readonly maxRoutedDelay: number;
  /**
   * Where every level ends (shared by all queues of the broker): routes each message to its ready queue by its
   * route header.
   */
  readonly deliverExchange = `${SHARED_PREFIX}.due`;
  /**
   * The deliver exchange's alternate exchange, and the queue behind it: a message whose ready queue is gone
   * (deleted by hand, or by `destroy()` while jobs were still walking the levels) is kept here for an operator.
   * Without it the message would have nowhere to go, and a quorum level queue, which dead-letters at least once,
   * keeps such a message at its head: every delayed job of every queue on the broker would wait behind it.
   */
  readonly unroutable = `${SHARED_PREFIX}.unroutable`;

  constructor(
    readonly name: string,
    readonly queueType: QueueType,
    readonly radix: number,
    readonly levels: number,
  ) {
    this.maxRoutedDelay = radix ** levels - radix;
    assertAmqpName('options.name', this.deadQueue(''), name);
  }

  /** The exchange of a level (shared by all queues of this type, radix and depth). */
  levelName(level: number): string {
    return `${SHARED_PREFIX}.${this.queueType}.r${this.radix}x${this.levels}.${level}`;
  }

  /** The queue where messages with digit `digit` at `level` wait digit * radix^level ms. */
  waitQueue(level: number, digit: number): string {
    return `${this.levelName(level)}.${digit}`;
  }

  readyQueue(topic: string): string {
    return `${this.name}.ready.${topic}`;
  }

  deadQueue(topic: string): string {
    return `${this.name}.dead.${topic}`;
  }

  /** Throws InvalidArgumentError when a topic's queue names would be too long for AMQP. */
  assertTopic(topic: string): void {
    assertAmqpName('topic', this.readyQueue(topic), topic);
    assertAmqpName('topic', this.deadQueue(topic), topic);
  }

  /**
   * Where to publish a message that must wait `delay` ms (0 <= delay <= maxRoutedDelay): the exchange of its
   * highest non-zero digit (or the deliver exchange when it need not wait) and the routing key spelling the
   * delay, one word per level, highest first. The lowest digit is always 0: that much is left to the consumer.
   */
  route(delay: number): { exchange: string; routingKey: string } {
    const words = new Array<string>(this.levels);
    let highest = -1;
    for (let level = this.levels - 1, rest = delay - (delay % this.radix); level >= 0; level--) {
      const weight = this.radix ** level;
      const digit = Math.floor(rest / weight);
      rest -= digit * weight;
      if (digit > 0 && highest < 0) highest = level;
      words[this.levels - 1 - level] = String(digit);
    }
    return { exchange: highest < 0 ? this.deliverExchange : this.levelName(highest), routingKey: words.join('.') };
  }

  /** Declares the levels and the deliver exchange (idempotent; fails if they exist with other arguments). */
  async declare(channel: TopologyChannel): Promise<void> {
    await channel.assertExchange(this.unroutable, 'fanout', { durable: true });
    await channel.assertQueue(this.unroutable, { durable: true });
    await channel.bindQueue(this.unroutable, this.unroutable, '');
    await channel.assertExchange(this.deliverExchange, 'headers', { durable: true, arguments: { 'alternate-exchange': this.unroutable } });
    for (let level = 0; level < this.levels; level++) {
      await channel.assertExchange(this.levelName(level), 'topic', { durable: true });
    }
    for (let level = 0; level < this.levels; level++) {
      const exchange = this.levelName(level);
      const next = level === 0 ? this.deliverExchange : this.levelName(level - 1);
      for (let digit = 1; digit < this.radix && level > 0; digit++) {
        const queue = this.waitQueue(level, digit);
        await channel.assertQueue(queue, {
          durable: true,
          arguments: { ...this.queueArguments(true), 'x-message-ttl': digit * this.radix ** level, 'x-dead-letter-exchange': next },
        });
        await channel.bindQueue(queue, exchange, this.levelPattern(level, String(digit)));
      }
      await channel.bindExchange(next, exchange, this.levelPattern(level, '0'));
    }
  }

  /** Declares a topic's ready queue and its binding to the deliver exchange. */
  async declareTopic(channel: TopologyChannel, topic: string): Promise<void> {
    const queue = this.readyQueue(topic);
    await channel.assertQueue(queue, { durable: true, arguments: this.queueArguments(false) });
    await channel.bindQueue(queue, this.deliverExchange, '', { 'x-match': 'all', [ROUTE_HEADER]: queue });
  }

  async declareDead(channel: TopologyChannel, topic: string): Promise<void> {
    await channel.assertQueue(this.deadQueue(topic), { durable: true, arguments: this.queueArguments(false) });
  }

  /**
   * Deletes the given topics' ready and dead-letter queues, with whatever they hold (never the shared levels).
   * Jobs of those topics still walking the levels end in the unroutable queue.
   */
  async destroy(channel: TopologyChannel, topics: Iterable<string>): Promise<void> {
    for (const topic of topics) {
      await channel.deleteQueue(this.readyQueue(topic));
      await channel.deleteQueue(this.deadQueue(topic));
    }
  }

  /** Level L decides on word `levels - 1 - L` of the routing key. */
  private levelPattern(level: number, digit: string): string {
    const position = this.levels - 1 - level;
    return Array.from({ length: this.levels }, (_, i) => (i === position ? digit : '*')).join('.');
  }

  private queueArguments(deadLetters: boolean): Record<string, unknown> {
    if (this.queueType === 'classic') return {};
    // Quorum queues dead-letter at-least-once only with reject-publish overflow (RabbitMQ >= 3.10); classic
    // queues dead-letter at most once, so a broker crash mid-hop may lose a message (see the README).
    return deadLetters
      ? { 'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
      : { 'x-queue-type': 'quorum' };
  }
}

function assertAmqpName(argument: string, name: string, value: string = name): void {
  if (Buffer.byteLength(name) > MAX_AMQP_NAME_BYTES) {
    throw new InvalidArgumentError(argument, value, `short enough that "${name.slice(0, 40)}..." fits AMQP's ${MAX_AMQP_NAME_BYTES}-byte names`);
  }
}
