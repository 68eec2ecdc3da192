/** A job as a RabbitMQ message: the broker-neutral headers, plus the route to its queue and its redeliveries. */
import { type JobMessage, jobHeaders, readJob } from '../broker/job-message.js';
import { ROUTE_HEADER } from './topology.js';

/** The parts of an amqplib message this file reads. */
export interface ReceivedMessage {
  readonly content: Buffer;
  readonly fields: { readonly redelivered: boolean };
  readonly properties: { readonly headers?: Record<string, unknown> };
}

/** Publish options carrying `job` to the ready queue `to` (persistent, so a broker restart keeps it). */
export function publishOptions(job: JobMessage, to: string): { persistent: true; messageId: string; headers: Record<string, string> } {
  return { persistent: true, messageId: job.id, headers: { ...jobHeaders(job), [ROUTE_HEADER]: to } };
}

/**
 * Reads a job back, or undefined when the message was not written by this library. A message handed out
 * again after its consumer's channel closed (a crash) counts as a new attempt: quorum queues say how many
 * times (`x-delivery-count`), classic queues only that it happened. Never past the last attempt, though: the
 * broker cannot say whether the job ran or only sat in the consumer's prefetch, so it gets its last attempt
 * rather than an attempt number beyond `maxAttempts` (or a dead letter without ever running).
 */
export function readJobMessage(message: ReceivedMessage): JobMessage | undefined {
  const headers = message.properties.headers ?? {};
  const job = readJob(headers, message.content);
  if (job === undefined) return undefined;
  const deliveryCount = headers['x-delivery-count'];
  const redeliveries = typeof deliveryCount === 'number' ? deliveryCount : message.fields.redelivered ? 1 : 0;
  return redeliveries === 0 ? job : { ...job, attempt: Math.max(job.attempt, Math.min(job.attempt + redeliveries, job.maxAttempts)) };
}
