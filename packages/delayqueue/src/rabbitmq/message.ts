/**
 * A job as a RabbitMQ message: the payload's JSON is the body (readable in any broker tool), everything else
 * travels in headers, as strings (AMQP integers are 32-bit in some clients; epoch ms are not).
 */
import { ROUTE_HEADER } from './topology.js';

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
}

/** The parts of an amqplib message this file reads. */
export interface ReceivedMessage {
  readonly content: Buffer;
  readonly fields: { readonly redelivered: boolean };
  readonly properties: { readonly headers?: Record<string, unknown> };
}

/** Publish options carrying `job` to the ready queue `to` (persistent, so a broker restart keeps it). */
export function publishOptions(job: JobMessage, to: string): { persistent: true; messageId: string; headers: Record<string, string> } {
  const headers: Record<string, string> = {
    [ROUTE_HEADER]: to,
    'x-dq-topic': job.topic,
    'x-dq-id': job.id,
    'x-dq-attempt': String(job.attempt),
    'x-dq-max-attempts': String(job.maxAttempts),
    'x-dq-ttr': String(job.ttr),
    'x-dq-backoff': job.backoff,
    'x-dq-due': String(job.dueAt),
  };
  if (job.lastError !== undefined) headers['x-dq-error'] = job.lastError;
  return { persistent: true, messageId: job.id, headers };
}

/**
 * Reads a job back, or undefined when the message was not written by this library. A message handed out
 * again after its consumer's channel closed (a crash) counts as a new attempt: quorum queues say how many
 * times (`x-delivery-count`), classic queues only that it happened.
 */
export function readJobMessage(message: ReceivedMessage): JobMessage | undefined {
  const headers = message.properties.headers ?? {};
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
  const deliveryCount = headers['x-delivery-count'];
  const redeliveries = typeof deliveryCount === 'number' ? deliveryCount : message.fields.redelivered ? 1 : 0;
  const lastError = text('x-dq-error');
  return {
    id,
    topic,
    payload: message.content.toString(),
    attempt: attempt + redeliveries,
    maxAttempts,
    ttr,
    backoff,
    dueAt,
    ...(lastError === undefined ? {} : { lastError }),
  };
}
