/** The failure vocabulary of @x/delayqueue. Bad arguments throw core's `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`). */
import { XError } from '@x/core';

/** The payload cannot be stored as JSON (a function, a BigInt, a cycle, `undefined`...). Nothing was written. */
export class PayloadNotSerializableError extends XError<'ERR_PAYLOAD_NOT_SERIALIZABLE'> {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('ERR_PAYLOAD_NOT_SERIALIZABLE', `the job payload cannot be serialized as JSON: ${reason}`, options);
  }
}

/**
 * The serialized payload is larger than the queue's `maxPayloadBytes`, or (Kafka) the job's whole record is
 * larger than its topics take. Nothing was written.
 */
export class PayloadTooLargeError extends XError<'ERR_PAYLOAD_TOO_LARGE'> {
  constructor(
    /** Size in bytes of the serialized payload, or (Kafka) of the job's record: payload, key and headers. */
    readonly bytes: number,
    /** The limit in bytes: the queue's, or (Kafka) what the topics' `max.message.bytes` leaves for a record. */
    readonly limit: number,
    message = `the job payload is ${bytes} bytes as JSON, more than the limit of ${limit}`,
  ) {
    super('ERR_PAYLOAD_TOO_LARGE', message);
  }
}

/**
 * A stored job or a broker message this version cannot read: a corrupt record, a record of an unknown version,
 * a message without the delay queue's headers. Reported on `error` (the queue skips or buries what it cannot
 * read), or thrown by `get` and `dead`.
 */
export class CorruptJobError extends XError<'ERR_CORRUPT_JOB'> {
  constructor(detail: string) {
    super('ERR_CORRUPT_JOB', detail);
  }
}

/**
 * The broker could not route a job to any queue (its ready or level queue was deleted, say): the job was not
 * stored. The backend declares its queues again on the next add.
 */
export class UnroutableJobError extends XError<'ERR_UNROUTABLE'> {
  constructor(
    readonly jobId: string,
    readonly route: string,
  ) {
    super('ERR_UNROUTABLE', `the broker had no queue for job ${jobId} (${route}); it was not stored`);
  }
}

/**
 * A Kafka mover could not write a job on to its next topic (a level or the ready topic): the broker refused it or
 * did not answer. Nothing is lost: the job stays in its level, uncommitted, and the mover tries again with backoff
 * (up to 10 s apart) until the write goes through. Reported at the 1st, 2nd, 4th, 8th... failure of a job, so
 * that a job stuck for good (a topic whose `max.message.bytes` was lowered under it, say) keeps being said
 * without flooding. `cause` is the client's error.
 */
export class MoveFailedError extends XError<'ERR_MOVE_FAILED'> {
  constructor(
    readonly jobId: string,
    readonly from: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super('ERR_MOVE_FAILED', `the mover could not write job ${jobId} on from ${from} (${attempts} ${attempts === 1 ? 'try' : 'tries'} so far; it keeps trying): ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/**
 * Some jobs of one `add`/`addBulk` were stored and some were not (a broker refused a later part of the write).
 * `written` lists the ids the broker confirmed stored; `notWritten` the others. Retrying only `notWritten` adds no
 * duplicate, unless the cause is a `TimeoutError` (no confirm in time: those jobs may be stored).
 */
export class PartialWriteError extends XError<'ERR_PARTIAL_WRITE'> {
  constructor(
    readonly written: readonly string[],
    readonly notWritten: readonly string[],
    cause: unknown,
  ) {
    super('ERR_PARTIAL_WRITE', `${written.length} of ${written.length + notWritten.length} jobs were stored, then the broker refused the rest`, { cause });
  }
}

/**
 * A Kafka topic of the queue exists with a setting that would lose jobs (a level topic that deletes records
 * before they have waited their time). Names the topic and the setting it needs; nothing is changed for you.
 */
export class TopicConfigError extends XError<'ERR_TOPIC_CONFIG'> {
  constructor(
    readonly topic: string,
    readonly setting: string,
    readonly found: string,
    readonly needed: string,
  ) {
    super('ERR_TOPIC_CONFIG', `topic ${topic} has ${setting}=${found}; it needs ${needed} (kafka-configs --alter --entity-type topics --entity-name ${topic} --add-config ${setting}=...)`);
  }
}

/** A backend cannot perform this operation at all (for instance, cancel on a log-based broker). */
export class UnsupportedOperationError extends XError<'ERR_UNSUPPORTED_OPERATION'> {
  constructor(
    readonly operation: string,
    readonly backend: string,
  ) {
    super('ERR_UNSUPPORTED_OPERATION', `the ${backend} backend does not support ${operation}`);
  }
}
