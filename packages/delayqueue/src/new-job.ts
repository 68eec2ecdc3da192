/**
 * Everything `add` checks before a backend sees a job: a bad argument throws a typed error and nothing is
 * written. Also the retry-delay computation, which needs the same backoff shape the job was stored with.
 */
import {
  InvalidArgumentError,
  assertBoolean,
  assertKnownKeys,
  assertNumber,
  assertOneOf,
  assertString,
  exponentialBackoff,
  fullJitterBackoff,
  randomToken,
} from '@x/core';
import type { NewJob } from './backend.js';
import { CorruptJobError, PayloadNotSerializableError, PayloadTooLargeError } from './errors.js';
import type { AddOptions, RetryBackoff } from './job.js';

/** Longest id and topic, in characters. */
export const MAX_NAME_LENGTH = 256;
/** Longest delay: about 100 years, far below where epoch-ms arithmetic loses integer precision. */
export const MAX_DELAY_MS = 100 * 365 * 24 * 3600 * 1000;

/** Defaults a queue applies to jobs added without their own. */
export interface JobDefaults {
  ttr: number;
  attempts: number;
  backoff: RetryBackoff;
  /** `backoff` as stored with each job, encoded once. */
  encodedBackoff: string;
}

const ADD_KEYS = ['delay', 'runAt', 'id', 'ttr', 'attempts', 'backoff'];
const BACKOFF_KEYS = ['type', 'delay', 'maxDelay', 'jitter'];
// Control characters (C0, DEL and C1) are refused in ids and topics: they separate fields in the Redis
// backend's records and make logs unreadable. Everything else (spaces, unicode, ':', '{') is allowed.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * A non-empty string of at most 256 characters, without control characters or lone surrogates (each client
 * sends a lone surrogate as U+FFFD, so two different ids would name one job).
 */
export function assertName(argument: string, value: unknown): string {
  assertString(argument, value, MAX_NAME_LENGTH);
  if (CONTROL.test(value as string)) throw new InvalidArgumentError(argument, value, 'a string without control characters');
  return value as string;
}

/** A delay in ms: finite, 0..100 years. Fractions are rounded up so a job never runs early. */
export function assertDelay(argument: string, value: unknown): number {
  return Math.ceil(assertNumber(argument, value, { min: 0, max: MAX_DELAY_MS }));
}

/** Checks a backoff and returns it with its defaults filled in. */
export function checkBackoff(argument: string, value: unknown): Required<RetryBackoff> {
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(argument, value, 'an object');
  assertKnownKeys(argument, value, BACKOFF_KEYS);
  const backoff = value as RetryBackoff;
  const type = assertOneOf(`${argument}.type`, backoff.type, ['fixed', 'exponential']);
  const delay = assertNumber(`${argument}.delay`, backoff.delay, { min: type === 'exponential' ? 1 : 0, max: MAX_DELAY_MS });
  const maxDelay = assertNumber(`${argument}.maxDelay`, backoff.maxDelay ?? Math.max(delay, 3_600_000), { min: delay, max: MAX_DELAY_MS });
  const jitter = assertBoolean(`${argument}.jitter`, backoff.jitter ?? false);
  return { type, delay, maxDelay, jitter };
}

/** Checks queue-level defaults. */
export function checkDefaults(partial: Partial<Omit<JobDefaults, 'encodedBackoff'>>, base: Omit<JobDefaults, 'encodedBackoff'>): JobDefaults {
  const backoff = checkBackoff('options.backoff', partial.backoff ?? base.backoff);
  return {
    ttr: partial.ttr === undefined ? base.ttr : assertNumber('options.ttr', partial.ttr, { min: 1, max: MAX_DELAY_MS, integer: true }),
    attempts:
      partial.attempts === undefined ? base.attempts : assertNumber('options.attempts', partial.attempts, { min: 1, max: 1_000_000, integer: true }),
    backoff,
    encodedBackoff: encodeBackoff(backoff),
  };
}

/** Serializes a payload as JSON, refusing what JSON would silently change or drop at the top level. */
export function serializePayload(payload: unknown, maxBytes: number): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (error) {
    // Cycles and BigInts throw TypeError here; say which.
    throw new PayloadNotSerializableError(error instanceof Error ? error.message : String(error), { cause: error });
  }
  if (text === undefined) throw new PayloadNotSerializableError(`${typeof payload} has no JSON form`);
  // JSON writes these as null or {} without a word: the handler would get something else than was added.
  if (typeof payload === 'number' && !Number.isFinite(payload)) throw new PayloadNotSerializableError(`${payload} has no JSON form (it would arrive as null)`);
  if (payload instanceof Map || payload instanceof Set) throw new PayloadNotSerializableError(`a ${payload.constructor.name} has no JSON form (it would arrive as {})`);
  // Length in UTF-16 units is a lower bound of the UTF-8 size; only measure bytes when it could matter.
  if (text.length * 3 > maxBytes) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) throw new PayloadTooLargeError(bytes, maxBytes);
  }
  return text;
}

/** Turns `add`'s arguments into a {@link NewJob}, or throws before anything is written. */
export function buildJob(
  topic: unknown,
  payload: unknown,
  options: AddOptions | undefined,
  defaults: JobDefaults,
  maxPayloadBytes: number,
  now: number,
): NewJob {
  assertName('topic', topic);
  const opts = options ?? {};
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError('options', opts, 'an object');
  assertKnownKeys('options', opts, ADD_KEYS);
  if (opts.delay !== undefined && opts.runAt !== undefined) {
    throw new InvalidArgumentError('options', opts, 'either delay or runAt, not both');
  }
  let delay = 0;
  let runAt: number | undefined;
  if (opts.delay !== undefined) delay = assertDelay('options.delay', opts.delay);
  if (opts.runAt !== undefined) {
    const at = opts.runAt instanceof Date ? opts.runAt.getTime() : opts.runAt;
    assertNumber('options.runAt', at, { min: 0 });
    delay = assertDelay('options.runAt', Math.max(0, at - now));
    if (delay > 0) runAt = Math.ceil(at);
  }
  const id = opts.id === undefined ? randomToken(12, 'base64url') : assertName('options.id', opts.id);
  const ttr = opts.ttr === undefined ? defaults.ttr : assertNumber('options.ttr', opts.ttr, { min: 1, max: MAX_DELAY_MS, integer: true });
  const maxAttempts =
    opts.attempts === undefined ? defaults.attempts : assertNumber('options.attempts', opts.attempts, { min: 1, max: 1_000_000, integer: true });
  const backoff = opts.backoff === undefined ? undefined : checkBackoff('options.backoff', opts.backoff);
  return {
    id,
    idGenerated: opts.id === undefined,
    topic: topic as string,
    payload: serializePayload(payload, maxPayloadBytes),
    delay,
    ...(runAt === undefined ? {} : { runAt }),
    maxAttempts,
    ttr,
    backoff: backoff === undefined ? defaults.encodedBackoff : encodeBackoff(backoff),
  };
}

/**
 * A backoff in a few bytes, stored with every job (a pending job's record is most of its memory):
 * `f` or `e`, the delay, `/`, the max delay, and `j` when jittered; e.g. `e1000/3600000j`.
 */
export function encodeBackoff({ type, delay, maxDelay, jitter }: Required<RetryBackoff>): string {
  return `${type === 'fixed' ? 'f' : 'e'}${delay}/${maxDelay}${jitter ? 'j' : ''}`;
}

export function decodeBackoff(text: string): Required<RetryBackoff> {
  const match = /^([fe])([\d.e+-]+)\/([\d.e+-]+)(j?)$/.exec(text);
  if (!match) throw new CorruptJobError(`corrupt backoff ${JSON.stringify(text)}`);
  return { type: match[1] === 'f' ? 'fixed' : 'exponential', delay: Number(match[2]), maxDelay: Number(match[3]), jitter: match[4] === 'j' };
}

/** The delay before the retry that follows failed delivery number `attempt`, from the job's stored backoff. */
export function retryDelay(serializedBackoff: string, attempt: number): number {
  const { type, delay, maxDelay, jitter } = decodeBackoff(serializedBackoff);
  if (type === 'fixed') return Math.ceil(jitter ? Math.random() * delay : delay);
  const policy = (jitter ? fullJitterBackoff : exponentialBackoff)({ initial: delay, max: maxDelay });
  return Math.ceil(policy.delay(attempt));
}
