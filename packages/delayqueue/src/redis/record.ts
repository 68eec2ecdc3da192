/**
 * A job as stored in the pool hash: one string, so a pending job costs one hash field. Fields are separated by
 * U+001F, which ids and topics may not contain and JSON always escapes; the payload comes last.
 *
 *   version US topic US maxAttempts US ttr US backoff US payload
 */
import type { NewJob } from '../backend.js';
import { CorruptJobError } from '../errors.js';

const SEP = '\u001f';
const VERSION = '1';

export interface StoredJob {
  topic: string;
  maxAttempts: number;
  ttr: number;
  backoff: string;
  payload: string;
}

export function encodeRecord(job: NewJob): string {
  return [VERSION, job.topic, job.maxAttempts, job.ttr, job.backoff, job.payload].join(SEP);
}

export function decodeRecord(record: string): StoredJob {
  let at = 0;
  const field = (): string => {
    const end = record.indexOf(SEP, at);
    if (end < 0) throw new CorruptJobError(`corrupt job record: ${JSON.stringify(record.slice(0, 80))}`);
    const value = record.slice(at, end);
    at = end + 1;
    return value;
  };
  const version = field();
  if (version !== VERSION) throw new CorruptJobError(`job record version ${version} is not supported by this @x/delayqueue`);
  const topic = field();
  const maxAttempts = Number(field());
  const ttr = Number(field());
  const backoff = field();
  return { topic, maxAttempts, ttr, backoff, payload: record.slice(at) };
}

/** The topic alone, without copying the payload. */
export function topicOf(record: string): string {
  const start = record.indexOf(SEP) + 1;
  return record.slice(start, record.indexOf(SEP, start));
}
