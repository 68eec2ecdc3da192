/**
 * A job as a broker message (RabbitMQ, Kafka): the payload's JSON is the body (readable in any broker tool),
 * everything else travels in headers, as strings (AMQP integers are 32-bit in some clients; epoch ms are not).
 */
import type { NewJob, TraceCarrier } from '../backend.js';

/** What a message says about its job. */
export interface JobMessage {
  readonly id: string;
  readonly topic: string;
  readonly payload: string;
  /** Delivery number this message is published for (1 for a new job). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly ttr: number;
  readonly backoff: string;
  /** Epoch ms at which the job is due (the publisher's clock). */
  readonly dueAt: number;
  /** Why the previous delivery failed, when it did. */
  readonly lastError?: string;
  /** The trace context stored at `add`, if any. */
  readonly trace?: TraceCarrier;
}

/** The first message of a new job: due at its `runAt`, else `job.delay` after `now` (epoch ms). */
export function firstMessage(job: NewJob, now: number): JobMessage {
  return {
    id: job.id,
    topic: job.topic,
    payload: job.payload,
    attempt: 1,
    maxAttempts: job.maxAttempts,
    ttr: job.ttr,
    backoff: job.backoff,
    dueAt: job.runAt ?? now + job.delay,
    ...(job.trace === undefined ? {} : { trace: job.trace }),
  };
}

/** The headers that carry `job` (its payload is the message body). */
export function jobHeaders(job: JobMessage): Record<string, string> {
  const headers: Record<string, string> = {
    'x-dq-topic': job.topic,
    'x-dq-id': job.id,
    'x-dq-attempt': String(job.attempt),
    'x-dq-max-attempts': String(job.maxAttempts),
    'x-dq-ttr': String(job.ttr),
    'x-dq-backoff': job.backoff,
    'x-dq-due': String(job.dueAt),
  };
  if (job.lastError !== undefined) headers['x-dq-error'] = job.lastError;
  if (job.trace !== undefined) headers['x-dq-trace'] = JSON.stringify(job.trace);
  return headers;
}

/** Reads a job back from its headers and body, or undefined when the message was not written by this library. */
export function readJob(headers: Readonly<Record<string, unknown>>, body: Buffer): JobMessage | undefined {
  const text = (key: string): string | undefined => {
    const value = headers[key];
    if (typeof value === 'string') return value;
    return Buffer.isBuffer(value) ? value.toString() : undefined;
  };
  const integer = (key: string): number | undefined => {
    const value = Number(text(key));
    return Number.isSafeInteger(value) ? value : undefined;
  };
  const id = text('x-dq-id');
  const topic = text('x-dq-topic');
  const attempt = integer('x-dq-attempt');
  const maxAttempts = integer('x-dq-max-attempts');
  const ttr = integer('x-dq-ttr');
  const backoff = text('x-dq-backoff');
  const dueAt = integer('x-dq-due');
  if (id === undefined || topic === undefined || attempt === undefined || maxAttempts === undefined) return undefined;
  if (ttr === undefined || backoff === undefined || dueAt === undefined) return undefined;
  const lastError = text('x-dq-error');
  const trace = carrierOf(text('x-dq-trace'));
  return {
    id,
    topic,
    payload: body.toString(),
    attempt,
    maxAttempts,
    ttr,
    backoff,
    dueAt,
    ...(lastError === undefined ? {} : { lastError }),
    ...(trace === undefined ? {} : { trace }),
  };
}

/** A stored trace context read back; anything but an object of strings is ignored (a trace is never worth a job). */
export function carrierOf(text: string | undefined): TraceCarrier | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    return Object.values(value).every((v) => typeof v === 'string') ? (value as TraceCarrier) : undefined;
  } catch {
    return undefined;
  }
}
