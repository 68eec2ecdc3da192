/**
 * Tells the two ways a start fails for reasons outside the consumer, the same way on every client: no broker
 * reachable, and a topic the broker does not have. Each client words them differently (kafkajs: a
 * `KafkaJSConnectionError` wrapped once its retries ran out, or a `KafkaJSProtocolError` of type
 * `UNKNOWN_TOPIC_OR_PARTITION`; @platformatic/kafka: `PLT_KFK_NETWORK` errors inside aggregates, and the
 * broker's error name as `apiId`), so the errors, their causes and aggregated `errors` are searched.
 */
import { errorTree } from './error-tree.js';
import { BrokerUnreachableError, UnknownTopicError } from './errors.js';

/** Socket errors that mean the broker's address did not answer. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN', 'PLT_KFK_NETWORK']);

/** kafkajs's: no connection, or one the other side closed (a service that is not Kafka, say). */
const CONNECTION_ERRORS = new Set(['KafkaJSConnectionError', 'KafkaJSConnectionClosedError']);

/** `error` from connecting as a BrokerUnreachableError when that is what it says, else as it is. */
export function connectFailure(error: unknown): unknown {
  return someError(error, (e) => CONNECTION_ERRORS.has(String(e.name)) || (typeof e.code === 'string' && UNREACHABLE_CODES.has(e.code))) ? new BrokerUnreachableError(error) : error;
}

/** `error` from subscribing to `topic` as an UnknownTopicError when that is what it says, else as connectFailure. */
export function subscribeFailure(error: unknown, topic: string): unknown {
  return someError(error, (e) => e.type === 'UNKNOWN_TOPIC_OR_PARTITION' || e.apiId === 'UNKNOWN_TOPIC_OR_PARTITION') ? new UnknownTopicError(topic, error) : connectFailure(error);
}

interface ErrorFields {
  name?: unknown;
  code?: unknown;
  type?: unknown;
  apiId?: unknown;
}

/** Whether `error`, its causes or the errors it aggregates (a few levels deep) pass `test`. */
function someError(error: unknown, test: (fields: ErrorFields) => boolean): boolean {
  for (const inner of errorTree(error, 5)) if (test(inner as ErrorFields)) return true;
  return false;
}
