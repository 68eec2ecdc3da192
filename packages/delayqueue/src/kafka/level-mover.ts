/**
 * Moves records down the delay levels: a parallel consumer (from @x/kafka-fast) over every level topic, whose
 * handler waits until the record's level wait has passed since it was produced, produces it to wherever its
 * time left sends it, and completes only once that produce was acknowledged, so the offset is committed only
 * then (a crash in between duplicates a record, never loses one). Records of a level all wait the same time,
 * so a partition's records come due in offset order: kafka-fast's `notBefore` pauses a level partition whose
 * next record is due more than LOOKAHEAD_MS away, until it is that close. The window of records waiting at once
 * (`window`) therefore holds only what comes due soon: jobs due in days never take the places of jobs due in
 * seconds (with the window filled by whatever was fetched first, 10,050 jobs of 20 s held a 2 s job 15.4 s).
 */
import { setMaxListeners } from 'node:events';
import { AbortError, sleep, type Clock } from '@x/core';
import { CorruptJobError, MoveFailedError } from '../errors.js';
import { ParallelConsumer, type ConsumedRecord, type HandlerContext, type KafkaClient } from '@x/kafka-fast';
import type { JobMessage } from '../broker/job-message.js';
import { readRecordJob } from './record-job.js';
import { RestartingConsumer } from './restarting-consumer.js';
import type { KafkaTopics } from './topics.js';

/**
 * How long before it is due a record is taken on: more than the mover's longest fetch wait (1 s), which a
 * resumed partition may wait for the next fetch.
 */
const LOOKAHEAD_MS = 2_000;

export class LevelMover {
  private readonly consumer: RestartingConsumer;
  private readonly clock: Clock;
  /**
   * Per partition: aborted when a rebalance takes the partition away, and forgotten (records still sleeping then
   * are given back, see move); with it, each assignment's signal joined with it (one per assignment, not per record).
   */
  private readonly givingBack = new Map<string, { controller: AbortController; signals: WeakMap<AbortSignal, AbortSignal> }>();

  constructor(
    private readonly topics: KafkaTopics,
    options: {
      kafka: KafkaClient;
      /** Waiting records this process holds at once. */
      window: number;
      clock: Clock;
      consumerConfig: Record<string, unknown>;
    },
    private readonly forward: (job: JobMessage) => Promise<void>,
    private readonly reportError: (error: unknown) => void,
  ) {
    this.clock = options.clock;
    const makeConsumer = (): ParallelConsumer => {
      const consumer = new ParallelConsumer({
        kafka: options.kafka,
        groupId: topics.moverGroup,
        topics: Array.from({ length: topics.levels }, (_, level) => topics.levelTopic(level)),
        handler: (record, context) => this.move(record, context),
        ordering: 'unordered',
        // Every held record's handler sleeps until it is due: a place for each, so that no sleeper keeps a due
        // record from starting.
        maxConcurrency: options.window,
        maxBuffered: options.window,
        notBefore: (record) => Date.now() + (this.releaseOf(record) - this.clock.wallNow()),
        lookaheadMs: LOOKAHEAD_MS,
        // Never given up on: a failed produce is tried again, and the record stays uncommitted meanwhile.
        maxAttempts: 1_000_000,
        commitIntervalMs: 200,
        fromBeginning: true,
        // An idle fetch returns within a second, so leaving the group (close) does not wait kafkajs's 5 s.
        consumerConfig: { maxWaitTimeInMs: 1_000, ...options.consumerConfig },
      });
      consumer.on('rebalancing', ({ partitions }) => this.onRebalancing(partitions));
      // A write on that keeps failing is said (at the 1st, 2nd, 4th, 8th... try of a job), not retried in silence.
      consumer.on('retry', ({ record, attempt, error }) => {
        if ((attempt & (attempt - 1)) !== 0) return;
        this.reportError(new MoveFailedError(readRecordJob(record)?.id ?? `at offset ${record.offset}`, `${record.topic}[${record.partition}]`, attempt, error));
      });
      return consumer;
    };
    this.consumer = new RestartingConsumer(makeConsumer, reportError, this.clock);
  }

  start(): Promise<void> {
    return this.consumer.start();
  }

  /** Leaves the group at once: records still waiting are not committed and the next mover takes them. */
  close(): Promise<void> {
    return this.consumer.close();
  }

  private async move(record: ConsumedRecord, context: HandlerContext): Promise<void> {
    const job = readRecordJob(record);
    const level = this.topics.levelOf(record.topic);
    if (job === undefined || level < 0) {
      this.reportError(new CorruptJobError(`skipped a record without delay-queue headers in ${record.topic} at offset ${record.offset}`));
      return;
    }
    const wait = this.releaseOf(record) - this.clock.wallNow();
    if (wait > 0) await sleep(wait, { signal: this.sleepSignal(record, context.signal), clock: this.clock });
    await this.forward(job);
  }

  /**
   * A rebalance began: every sleeping record of the partitions taken away (all of them, with kafkajs's eager
   * protocol) is given back at once (its sleep rejects), so the member gives them up without waiting out
   * kafka-fast's drain for records not due yet; they sleep again on whoever owns their partition next. Records
   * being forwarded finish within the drain and are committed; partitions that stay sleep on.
   */
  private onRebalancing(partitions: { topic: string; partition: number }[] | undefined): void {
    const keys = partitions === undefined ? [...this.givingBack.keys()] : partitions.map(partitionKey);
    for (const key of keys) {
      const entry = this.givingBack.get(key);
      if (entry === undefined) continue;
      this.givingBack.delete(key);
      entry.controller.abort(new AbortError('a rebalance began'));
    }
  }

  /** The signal a record's sleep ends on: its partition's (kafka-fast's revocation) or its partition's give-back. */
  private sleepSignal(record: ConsumedRecord, partitionSignal: AbortSignal): AbortSignal {
    const key = partitionKey(record);
    let entry = this.givingBack.get(key);
    if (entry === undefined) this.givingBack.set(key, (entry = { controller: new AbortController(), signals: new WeakMap() }));
    let signal = entry.signals.get(partitionSignal);
    if (signal === undefined) {
      signal = AbortSignal.any([partitionSignal, entry.controller.signal]);
      // Every sleeping record of the partition listens to it: not the leak Node's limit of 10 warns about.
      setMaxListeners(0, signal);
      entry.signals.set(partitionSignal, signal);
    }
    return signal;
  }

  /** When a record's level wait ends, on the backend's clock (records of a level wait the same time). */
  private releaseOf(record: ConsumedRecord): number {
    const level = this.topics.levelOf(record.topic);
    return Number(record.timestamp) + (level < 0 ? 0 : this.topics.waitOf(level));
  }
}

function partitionKey({ topic, partition }: { topic: string; partition: number }): string {
  return `${topic}:${partition}`;
}
