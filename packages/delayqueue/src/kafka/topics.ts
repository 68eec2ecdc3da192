/**
 * The Kafka topics of a delay queue and how a delay is routed through them.
 *
 * Level L is a topic whose records each wait exactly `base * 2^L` ms after they were produced (their
 * timestamp); every record of a level waits the same time, so a partition releases its records in order and
 * the records fetched first are the next to be due. A record with R ms to go enters the largest level whose
 * wait is at most R, and after that wait is routed again by what is left: one wait per set bit of R / base.
 * Under `base` ms to go it goes straight to its topic's ready topic, where the consumer holds it on a timer
 * until it is due. Routing by the time left (not by the route planned at the start) means the time a hop
 * spends in Kafka never adds up. The time left is counted to `earlyArrivalMs` before the due time, so the last
 * hop (a produce and the reader's fetch) ends before the job is due instead of starting when it is due.
 */
import { InvalidArgumentError } from '@x/core';

const RETENTION_MARGIN_MS = 7 * 24 * 3600 * 1000;
// Kafka topic names: at most 249 characters of [a-zA-Z0-9._-].
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]+$/;
const MAX_TOPIC_LENGTH = 249;

export class KafkaTopics {
  constructor(
    readonly name: string,
    /** Wait of level 0, ms. */
    readonly base: number,
    readonly levels: number,
    /** How long before its due time a record is routed to reach its ready topic, ms. */
    readonly earlyArrivalMs = 0,
  ) {
    assertTopicName('options.name', this.levelTopic(levels - 1), name);
  }

  /** Longest wait one pass down the levels gives, ms. */
  get maxRoutedDelay(): number {
    return this.base * (2 ** this.levels - 1);
  }

  levelTopic(level: number): string {
    return `${this.name}.delay.${level}`;
  }

  readyTopic(topic: string): string {
    return `${this.name}.ready.${topic}`;
  }

  deadTopic(topic: string): string {
    return `${this.name}.dead.${topic}`;
  }

  /** Consumer group of this queue's level movers. */
  get moverGroup(): string {
    return `${this.name}.movers`;
  }

  readerGroup(topic: string): string {
    return `${this.name}.readers.${topic}`;
  }

  /** Throws InvalidArgumentError when a job topic cannot be part of a Kafka topic name. */
  assertTopic(topic: string): void {
    assertTopicName('topic', this.deadTopic(topic), topic);
    assertTopicName('topic', this.readyTopic(topic), topic);
  }

  /** The level of a level topic, or -1. */
  levelOf(kafkaTopic: string): number {
    const prefix = `${this.name}.delay.`;
    return kafkaTopic.startsWith(prefix) ? Number(kafkaTopic.slice(prefix.length)) : -1;
  }

  /** Wait of `level`, ms. */
  waitOf(level: number): number {
    return this.base * 2 ** level;
  }

  /**
   * How long a level topic keeps its records, ms: the level's wait plus a week (Kafka's default retention), so a
   * record outlives its wait even when no mover ran for days. Kafka's default alone (7 days) would delete a
   * 30-day job while it still waited in the last level.
   */
  retentionOf(level: number): number {
    return this.waitOf(level) + RETENTION_MARGIN_MS;
  }

  /** Where a record with `remaining` ms to go until it is due goes next: a level topic, or its ready topic. */
  next(topic: string, remaining: number): string {
    const routed = remaining - this.earlyArrivalMs;
    if (routed < this.base) return this.readyTopic(topic);
    const level = Math.min(this.levels - 1, Math.floor(Math.log2(routed / this.base)));
    return this.levelTopic(level);
  }
}

function assertTopicName(argument: string, kafkaTopic: string, value: string): void {
  if (kafkaTopic.length > MAX_TOPIC_LENGTH || !LEGAL_TOPIC.test(kafkaTopic)) {
    throw new InvalidArgumentError(
      argument,
      value,
      `letters, digits, '.', '_' and '-' only, short enough for Kafka's ${MAX_TOPIC_LENGTH}-character topic names`,
    );
  }
}
