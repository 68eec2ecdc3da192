/** The failure vocabulary of @x/kafka-fast. Bad options throw core's `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`). */
import { XError } from '@x/core';

/** Reason given to handlers' signals when their partition was taken away by a rebalance. */
export class PartitionRevokedError extends XError<'ERR_PARTITION_REVOKED'> {
  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {
    super('ERR_PARTITION_REVOKED', `${topic}[${partition}] was assigned to another consumer; its records are no longer this consumer's to finish`);
  }
}

/**
 * The client's consumer stopped for good: kafkajs gave up restarting it after an error it does not retry, or the
 * worker thread of a `workerThreadClient` died. The ParallelConsumer emits this as 'error' and closes itself;
 * records not committed are consumed again by the next owner. `cause` is the client's error.
 */
export class ConsumerCrashedError extends XError<'ERR_CONSUMER_CRASHED'> {
  constructor(cause: unknown) {
    super('ERR_CONSUMER_CRASHED', `the Kafka consumer stopped for good (${cause instanceof Error ? cause.message : String(cause)}); closing`, { cause });
  }
}

/**
 * A function the consumer calls back (an option such as `notBefore`, or an event listener) threw or returned what
 * it cannot use; the message says what the consumer did instead (it goes on: a callback's failure never stops a
 * partition). `callback` names it; `cause` is what it threw.
 */
export class CallbackError extends XError<'ERR_CALLBACK_FAILED'> {
  constructor(
    readonly callback: string,
    consequence: string,
    cause: unknown,
  ) {
    super('ERR_CALLBACK_FAILED', `${callback} failed (${cause instanceof Error ? cause.message : String(cause)}); ${consequence}`, { cause });
  }
}

/**
 * The broker refused a commit because its offset map was larger than the broker's `offset.metadata.max.bytes`
 * (4096 by default): `metadataLimitBytes` is set above it. Nothing of that commit was stored; the consumer tries
 * again on the next tick, and fails the same way while the map stays that large. `cause` is the client's error.
 */
export class MetadataTooLargeError extends XError<'ERR_METADATA_TOO_LARGE'> {
  constructor(
    readonly metadataBytes: number,
    readonly metadataLimitBytes: number,
    cause: unknown,
  ) {
    super(
      'ERR_METADATA_TOO_LARGE',
      `the broker refused a commit with a ${metadataBytes}-byte offset map: metadataLimitBytes (${metadataLimitBytes}) is above the broker's offset.metadata.max.bytes (4096 unless raised); lower it, or raise the broker's`,
      { cause },
    );
  }
}

/** `start()` was called on a consumer that is already started (a closed one says `ERR_CLOSED`). */
export class AlreadyStartedError extends XError<'ERR_ALREADY_STARTED'> {
  constructor() {
    super('ERR_ALREADY_STARTED', 'this ParallelConsumer is already started: start() is called once');
  }
}

/**
 * The worker thread of a `workerThreadClient` consumer ended without being asked to (an uncaught error in it,
 * `process.exit` from a handler module, the thread terminated from outside). The consumer stops with a
 * {@link ConsumerCrashedError} whose `cause` is this.
 */
export class WorkerExitedError extends XError<'ERR_WORKER_EXITED'> {
  constructor(readonly exitCode: number) {
    super('ERR_WORKER_EXITED', `the Kafka consumer's worker thread exited with code ${exitCode}`);
  }
}

/** A client's consumer, admin or producer (`workerThreadClient`, `platformaticClient`) was used before `connect()`. */
export class NotConnectedError extends XError<'ERR_NOT_CONNECTED'> {
  constructor() {
    super('ERR_NOT_CONNECTED', 'the Kafka consumer is not connected: connect first');
  }
}

/**
 * The broker does not offer Kafka 4's consumer group protocol (KIP-848), which `@x/kafka-fast/platformatic`
 * joins with: a broker older than Kafka 4.0, or one whose `group.coordinator.rebalance.protocols` leaves
 * `consumer` out. kafkajs (the classic protocol) works with such a broker. `cause` is the client's error.
 */
export class ConsumerProtocolUnsupportedError extends XError<'ERR_CONSUMER_PROTOCOL_UNSUPPORTED'> {
  constructor(cause: unknown) {
    super('ERR_CONSUMER_PROTOCOL_UNSUPPORTED', "the broker does not offer Kafka 4's consumer group protocol (KIP-848): use kafkajs, or Kafka 4.0+ with group.coordinator.rebalance.protocols including consumer", { cause });
  }
}

/**
 * `start()` reached no broker: none of the client's bootstrap brokers accepted a connection before the client's
 * own retries ran out (a wrong address or port, a broker down, a network cut). `cause` is the client's error.
 */
export class BrokerUnreachableError extends XError<'ERR_BROKER_UNREACHABLE'> {
  constructor(cause: unknown) {
    super('ERR_BROKER_UNREACHABLE', `no Kafka broker could be reached (${innermostMessage(cause)}); check the client's brokers`, { cause });
  }
}

/**
 * `start()` subscribed to a topic the broker does not have. A broker with `auto.create.topics.enable` (Kafka's
 * default) creates it on that request but answers it as unknown first: a later start finds it. `cause` is the
 * client's error.
 */
export class UnknownTopicError extends XError<'ERR_UNKNOWN_TOPIC'> {
  constructor(
    readonly topic: string,
    cause: unknown,
  ) {
    super('ERR_UNKNOWN_TOPIC', `the broker has no topic ${JSON.stringify(topic)}`, { cause });
  }
}

/** The message of the deepest error in `error`'s cause chain: the one that says what happened on the wire. */
function innermostMessage(error: unknown): string {
  let current = error;
  for (let depth = 0; depth < 5; depth++) {
    const { cause, errors } = (current ?? {}) as { cause?: unknown; errors?: unknown };
    const next = cause ?? (Array.isArray(errors) ? errors[0] : undefined);
    if (next === undefined || next === null) break;
    current = next;
  }
  return current instanceof Error ? current.message : String(current);
}
