/**
 * Guards for the public boundary of every package: a bad value becomes an {@link InvalidArgumentError} that
 * names it, before it can reach Redis, Kafka or a syscall.
 */
import { InvalidArgumentError } from './errors.js';

/** Bounds accepted by {@link assertNumber}. */
export interface NumberBounds {
  /** Smallest accepted value (inclusive). */
  min?: number;
  /** Largest accepted value (inclusive). */
  max?: number;
  /** Require an integer. */
  integer?: boolean;
}

/**
 * Asserts `value` is a finite number within `bounds`, and returns it typed.
 *
 * @example
 * ```ts
 * const ttl = assertNumber('options.ttl', options.ttl, { min: 1, integer: true });
 * ```
 */
export function assertNumber(name: string, value: unknown, bounds: NumberBounds = {}): number {
  const { min, max, integer = false } = bounds;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (!integer || Number.isInteger(value)) &&
    (min === undefined || value >= min) &&
    (max === undefined || value <= max);
  if (!ok) throw new InvalidArgumentError(name, value, expectation(bounds));
  return value as number;
}

function expectation({ min, max, integer }: NumberBounds): string {
  const kind = integer ? 'an integer' : 'a finite number';
  if (min !== undefined && max !== undefined) return `${kind} in [${min}, ${max}]`;
  if (min !== undefined) return `${kind} >= ${min}`;
  if (max !== undefined) return `${kind} <= ${max}`;
  return kind;
}

/** Asserts `value` is a boolean (not a truthy or falsy stand-in). */
export function assertBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new InvalidArgumentError(name, value, 'a boolean');
  return value;
}

/** Asserts `value` is a function. */
export function assertFunction<F extends (...args: never[]) => unknown>(name: string, value: unknown): F {
  if (typeof value !== 'function') throw new InvalidArgumentError(name, value, 'a function');
  return value as F;
}

/**
 * Asserts `value` is a non-empty, well-formed string (optionally at most `maxLength` characters). Lone
 * surrogates are refused: a client encoding the string as UTF-8 (ioredis, kafkajs, amqplib) turns each into
 * U+FFFD, so `'a\uD800'` and `'a\uD801'` would name the same key, lock or topic.
 */
export function assertString(name: string, value: unknown, maxLength = Infinity): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || !value.isWellFormed()) {
    const limit = maxLength === Infinity ? '' : ` of at most ${maxLength} characters`;
    throw new InvalidArgumentError(name, value, `a non-empty string${limit} without lone surrogates`);
  }
  return value;
}

/** Asserts `value` is one of `allowed`. */
export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(name, value, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return value as T;
}

/**
 * Asserts that an options object has only known keys, so a misspelt option is reported instead of silently
 * ignored.
 */
export function assertKnownKeys(name: string, value: object, known: readonly string[]): void {
  // null, a string or a number where options go: Object.keys would throw a TypeError, or list a string's indices.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new InvalidArgumentError(name, value, 'an object');
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`${name}.${key}`, (value as Record<string, unknown>)[key], `absent (unknown option; known: ${known.join(', ')})`);
    }
  }
}
