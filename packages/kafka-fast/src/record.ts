/** The record a handler receives. */
import type { RecordHeaders } from './client.js';

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offset, as a decimal string (offsets exceed 2^53). */
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: RecordHeaders;
  /** Producer or broker timestamp, epoch ms as a string. */
  readonly timestamp: string;
}

/** What a handler gets besides the record. */
export interface HandlerContext {
  /** 1 for the first delivery. */
  readonly attempt: number;
  /** Aborted when the record's partition is taken away (rebalance) or the consumer closes past its deadline (shared by the partition's records). */
  readonly signal: AbortSignal;
}

/** Resolve when done; throw to retry (after a backoff, holding back only this record's key). */
export type RecordHandler = (record: ConsumedRecord, context: HandlerContext) => Promise<void> | void;

/**
 * Handles up to `batchSize` records in one call: records of distinct keys (ordering 'key'), of distinct
 * partitions ('partition') or any ('unordered'). Resolve when all are done. If it throws, the batch is split:
 * each record runs again alone (a one-record batch) with its own attempts, so one bad record is retried and
 * dead-lettered by itself.
 */
export type BatchHandler = (records: ConsumedRecord[], context: HandlerContext) => Promise<void> | void;
