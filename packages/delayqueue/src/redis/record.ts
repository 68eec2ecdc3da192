/**
 * A job as stored in the pool hash: one string, so a pending job costs one hash field. Fields are separated by
 * U+001F, which ids and topics may not contain and JSON always escapes; the payload comes last.
 *
 *   version US topic US maxAttempts US ttr US backoff US payload            (version 1)
 *   version US topic US maxAttempts US ttr US backoff US trace US payload   (version 2: with a trace context)
 *
 * Version 2 is written only for a job added with a trace context (tracing registered), so that processes of an
 * earlier release, which read version 1 only, keep reading every job of applications that do not trace. The
 * scripts read the first four fields by position, the same in both.
 */
import type { NewJob, TraceCarrier } from '../backend.js';
import { carrierOf } from '../broker/job-message.js';
import { CorruptJobError } from '../errors.js';

const SEP = '\u001f';
const VERSION = '1';
const TRACED = '2';

export interface StoredJob {
  topic: string;
  maxAttempts: number;
  ttr: number;
  backoff: string;
  payload: string;
  trace: TraceCarrier | undefined;
}

export function encodeRecord(job: NewJob): string {
  if (job.trace === undefined) return [VERSION, job.topic, job.maxAttempts, job.ttr, job.backoff, job.payload].join(SEP);
  // JSON escapes U+001F, so the trace cannot end the field early.
  return [TRACED, job.topic, job.maxAttempts, job.ttr, job.backoff, JSON.stringify(job.trace), job.payload].join(SEP);
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
  if (version !== VERSION && version !== TRACED) throw new CorruptJobError(`job record version ${version} is not supported by this @x/delayqueue`);
  const topic = field();
  const maxAttempts = Number(field());
  const ttr = Number(field());
  const backoff = field();
  const trace = version === TRACED ? carrierOf(field()) : undefined;
  return { topic, maxAttempts, ttr, backoff, payload: record.slice(at), trace };
}

/** The topic alone, without copying the payload. */
export function topicOf(record: string): string {
  const start = record.indexOf(SEP) + 1;
  return record.slice(start, record.indexOf(SEP, start));
}
