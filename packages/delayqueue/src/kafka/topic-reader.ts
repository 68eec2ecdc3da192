/**
 * This process's reader of one job topic's ready topic: a parallel consumer (from @x/kafka-fast) whose
 * handler hands each record to the delivery desk and completes when the desk is done with it, so an offset is
 * committed only once its job was acked or replaced (kafka-fast commits the contiguous completed prefix, and
 * remembers completed records beyond it). A reader that stops parks what it fetches instead: parked records
 * are never completed, so whoever reads the partition next gets them.
 */
import { AbortError, type Clock } from '@x/core';
import { ParallelConsumer, type ConsumedRecord, type HandlerContext, type KafkaClient } from '@x/kafka-fast';
import type { TopicSource } from '../broker/broker-backend.js';
import { CorruptJobError } from '../errors.js';
import { DeliveryDesk, type DeskEntry, type DeskHost } from '../broker/delivery-desk.js';
import { readRecordJob } from './record-job.js';
import { RestartingConsumer } from './restarting-consumer.js';

export class TopicReader implements TopicSource {
  readonly desk: DeliveryDesk;
  private readonly consumer: RestartingConsumer;
  private started: Promise<void> | undefined;
  private stopped = false;
  private readonly parked: DeskEntry[] = [];
  /** Resolves once the ready topic exists (subscribing to a missing topic fails). */
  private readonly ready: () => Promise<void>;

  constructor(
    readonly topic: string,
    options: {
      kafka: KafkaClient;
      groupId: string;
      readyTopic: string;
      prefetch: number;
      consumerConfig: Record<string, unknown>;
      handoverGraceMs: number;
      ready: () => Promise<void>;
      clock: Clock;
    },
    private readonly host: DeskHost,
  ) {
    this.desk = new DeliveryDesk(topic, host);
    this.ready = options.ready;
    const makeConsumer = (): ParallelConsumer => {
      const consumer = new ParallelConsumer({
        kafka: options.kafka,
        groupId: options.groupId,
        topics: [options.readyTopic],
        handler: (record, context) => this.handle(record, context),
        ordering: 'unordered',
        maxConcurrency: options.prefetch,
        maxBuffered: options.prefetch,
        // A record is never given up on here: a failure (a released message) runs it again.
        maxAttempts: 1_000_000,
        retryDelayMs: 10,
        maxRetryDelayMs: 1_000,
        commitIntervalMs: 200,
        handoverGraceMs: options.handoverGraceMs,
        fromBeginning: true,
        // An idle fetch returns within a second, so leaving the group (close) does not wait kafkajs's 5 s.
        consumerConfig: { maxWaitTimeInMs: 1_000, ...options.consumerConfig },
      });
      // At a rebalance the partitions taken away (every partition, with kafkajs's eager protocol): what no
      // handler has begun goes back at once (not waited for until the drain ends, then delivered here while the
      // next owner delivers it too). Jobs of partitions that stay are kept.
      consumer.on('rebalancing', ({ partitions }) => this.releaseUnspent(partitions === undefined ? undefined : new Set(partitions.map((p) => String(p.partition)))));
      return consumer;
    };
    this.consumer = new RestartingConsumer(makeConsumer, (error) => this.host.error(error), options.clock);
  }

  async wait(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    this.started ??= this.start();
    await this.started;
    await this.desk.wait(signal);
  }

  /** Joins the group; if that fails, the next wait tries again (with a new consumer). */
  private async start(): Promise<void> {
    try {
      await this.ready();
      await this.consumer.start();
    } catch (error) {
      this.started = undefined;
      throw error;
    }
  }

  /** Stops offering records (they are parked) and hands back the unspent ones. Outstanding deliveries stay. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.desk.handBackUnspent();
  }

  resume(): void {
    this.stopped = false;
    for (const entry of this.parked.splice(0)) if (entry.live()) this.desk.offer(entry);
  }

  /**
   * Gives back to kafka-fast every record not yet delivered (of the partitions named, when they are): it runs
   * again here or on the partition's next owner.
   */
  private releaseUnspent(partitions: ReadonlySet<string> | undefined): void {
    const leaving = (entry: DeskEntry): boolean => partitions === undefined || partitions.has(entry.source!);
    const parked = this.parked.splice(0);
    this.parked.push(...parked.filter((entry) => !leaving(entry)));
    for (const entry of parked) if (leaving(entry)) entry.release();
    this.desk.releaseUnspent(partitions);
  }

  /** Leaves the group: what was not completed (parked, or outstanding past the queue's close) goes to the next reader. */
  async close(): Promise<void> {
    this.stopped = true;
    this.desk.clear();
    // Handlers still running belong to deliveries nobody will finish here: abort them at once.
    await this.started?.catch(() => undefined);
    await this.consumer.close();
  }

  private handle(record: ConsumedRecord, context: HandlerContext): Promise<void> {
    const job = readRecordJob(record);
    if (job === undefined) {
      this.host.error(new CorruptJobError(`skipped a record without delay-queue headers in ${record.topic} at offset ${record.offset}`));
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      const finish = (outcome: () => void): void => {
        if (finished) return;
        finished = true;
        context.signal.removeEventListener('abort', onAbort);
        outcome();
      };
      const onAbort = (): void => {
        finish(() => reject(context.signal.reason));
        this.desk.forgetLost(context.signal.reason);
      };
      context.signal.addEventListener('abort', onAbort, { once: true });
      const entry: DeskEntry = {
        job,
        ack: () => finish(resolve),
        release: () => finish(() => reject(new AbortError('released to be delivered again'))),
        live: () => !finished && !context.signal.aborted,
        source: String(record.partition),
      };
      if (this.stopped) this.parked.push(entry);
      else this.desk.offer(entry);
    });
  }
}
