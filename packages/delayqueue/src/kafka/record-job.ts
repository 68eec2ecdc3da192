/** A job read back from a Kafka record (the broker-neutral reader wants headers as one value each). */
import type { ConsumedRecord } from '@x/kafka-fast';
import { type JobMessage, readJob } from '../broker/job-message.js';

/** The record's job, or undefined when the record was not written by this library. */
export function readRecordJob(record: ConsumedRecord): JobMessage | undefined {
  if (record.value === null) return undefined;
  const headers: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.headers)) headers[key] = Array.isArray(value) ? value[0] : value;
  return readJob(headers, record.value);
}
