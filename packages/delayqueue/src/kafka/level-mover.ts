/**
 * Moves records down the delay levels: a parallel consumer (from @x/kafka-fast) over every level topic, whose
 * handler waits until the record's level wait has passed since it was produced, produces it to wherever its
 * time left sends it, and completes only once that produce was acknowledged, so the offset is committed only
 * then (a crash in between duplicates a record, never loses one). Records of a level all wait the same time,
 * so the first fetched are the first due: each level partition holds at most `window` waiting records and is
 * paused above that while the others go on, so records due in days never take the places of records due in
 * seconds. A paused partition resumes once a tenth of its records moved on, long before the rest are due.
 */
import { sleep, type Clock } from '@x/core';
import { CorruptJobError } from '../errors.js';
import { ParallelConsumer, type ConsumedRecord, type HandlerContext } from '@x/kafka-fast';
import type { Kafka } from 'kafkajs';
import type { JobMessage } from '../broker/job-message.js';
import { readRecordJob } from './record-job.js';
import { RestartingConsumer } from './restarting-consumer.js';
import type { KafkaTopics } from './topics.js';

/** kafka-fast's most handlers at once: a bound only configurations of millions of held records reach. */
const MAX_HELD = 1_000_000;

export class LevelMover {
  private readonly consumer: RestartingConsumer;
  private readonly clock: Clock;

  constructor(
    private readonly topics: KafkaTopics,
    options: {
      kafka: Kafka;
      /** Waiting records one level partition may hold. */
      window: number;
      /** Partitions of each level topic. */
      partitions: number;
      clock: Clock;
      consumerConfig: Record<string, unknown>;
    },
    private readonly forward: (job: JobMessage) => Promise<void>,
    private readonly reportError: (error: unknown) => void,
  ) {
    this.clock = options.clock;
    const heldAtMost = Math.min(MAX_HELD, options.window * topics.levels * options.partitions);
    const makeConsumer = (): ParallelConsumer =>
      new ParallelConsumer({
        kafka: options.kafka,
        groupId: topics.moverGroup,
        topics: Array.from({ length: topics.levels }, (_, level) => topics.levelTopic(level)),
        handler: (record, context) => this.move(record, context),
        ordering: 'unordered',
        // Every held record's handler is asleep until it is due: places for all of them, so that no sleeper
        // keeps a due record from starting. What bounds them is each partition's share.
        maxConcurrency: heldAtMost,
        maxBuffered: heldAtMost,
        maxBufferedPerPartition: options.window,
        // Never given up on: a failed produce is tried again, and the record stays uncommitted meanwhile.
        maxAttempts: 1_000_000,
        commitIntervalMs: 200,
        fromBeginning: true,
        // An idle fetch returns within a second, so leaving the group (close) does not wait kafkajs's 5 s.
        consumerConfig: { maxWaitTimeInMs: 1_000, ...options.consumerConfig },
      });
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
    const release = Number(record.timestamp) + this.topics.waitOf(level);
    const wait = release - this.clock.wallNow();
    if (wait > 0) await sleep(wait, { signal: context.signal, clock: this.clock });
    await this.forward(job);
  }
}
