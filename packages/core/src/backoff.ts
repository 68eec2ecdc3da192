/**
 * Retry delays. The three policies are the ones compared in the AWS Architecture Blog's "Exponential Backoff
 * and Jitter": plain exponential (synchronised clients retry in waves), full jitter (spreads them; the usual
 * best choice), and decorrelated jitter (grows from the previous delay; fewer calls under heavy contention).
 *
 * Policies are stateless: the caller keeps the attempt number (and, for decorrelated jitter, the previous
 * delay), so a policy can be shared, and a delay can be recomputed from state persisted elsewhere (a job's
 * attempt counter in Redis, for instance).
 */
import { assertNumber } from './validate.js';

/** Computes the delay before retry number `attempt`. */
export interface BackoffPolicy {
  /**
   * @param attempt - 1 for the first retry, 2 for the second, ...
   * @param previousDelay - the delay this policy returned for the previous attempt (decorrelated jitter uses it).
   * @returns the delay in milliseconds, within `[0, max]`.
   */
  delay(attempt: number, previousDelay?: number): number;
}

/** Options shared by the backoff policies. */
export interface BackoffOptions {
  /** Delay of the first retry, ms (> 0). */
  initial: number;
  /** Upper bound of any delay, ms (>= initial). */
  max: number;
  /** Growth per attempt (>= 1, default 2). Ignored by decorrelated jitter, which always grows by up to 3x. */
  factor?: number;
  /** Source of uniform numbers in [0, 1); inject a seeded one for reproducible tests. Default `Math.random`. */
  random?: () => number;
}

interface CheckedOptions {
  initial: number;
  max: number;
  factor: number;
  random: () => number;
}

function check(options: BackoffOptions): CheckedOptions {
  const initial = assertNumber('options.initial', options.initial, { min: Number.MIN_VALUE });
  const max = assertNumber('options.max', options.max, { min: initial });
  const factor = assertNumber('options.factor', options.factor ?? 2, { min: 1 });
  return { initial, max, factor, random: options.random ?? Math.random };
}

function ceiling({ initial, max, factor }: CheckedOptions, attempt: number): number {
  assertNumber('attempt', attempt, { min: 1, integer: true });
  // Computed in the exponent's domain so large attempt numbers cannot overflow to Infinity * 0 = NaN.
  const exponent = attempt - 1;
  if (factor === 1 || exponent < Math.log(max / initial) / Math.log(factor)) {
    return Math.min(max, initial * factor ** exponent);
  }
  return max;
}

/**
 * `min(max, initial * factor^(attempt-1))`, no randomness.
 *
 * @example
 * ```ts
 * const policy = exponentialBackoff({ initial: 100, max: 10_000 });
 * policy.delay(1); // 100
 * policy.delay(4); // 800
 * ```
 */
export function exponentialBackoff(options: BackoffOptions): BackoffPolicy {
  const o = check(options);
  return { delay: (attempt) => ceiling(o, attempt) };
}

/**
 * Uniform in `[0, min(max, initial * factor^(attempt-1))]`.
 *
 * @example
 * ```ts
 * const policy = fullJitterBackoff({ initial: 50, max: 5_000 });
 * await sleep(policy.delay(attempt));
 * ```
 */
export function fullJitterBackoff(options: BackoffOptions): BackoffPolicy {
  const o = check(options);
  return { delay: (attempt) => o.random() * ceiling(o, attempt) };
}

/**
 * `min(max, uniform(initial, previous * 3))`, with `previous = initial` on the first attempt.
 *
 * @example
 * ```ts
 * const policy = decorrelatedJitterBackoff({ initial: 50, max: 5_000 });
 * let delay: number | undefined;
 * for (let attempt = 1; !(await tryOnce()); attempt++) {
 *   delay = policy.delay(attempt, delay);
 *   await sleep(delay);
 * }
 * ```
 */
export function decorrelatedJitterBackoff(options: BackoffOptions): BackoffPolicy {
  const o = check(options);
  return {
    delay(attempt, previousDelay) {
      assertNumber('attempt', attempt, { min: 1, integer: true });
      const previous = previousDelay === undefined ? o.initial : assertNumber('previousDelay', previousDelay, { min: 0 });
      const upper = Math.max(o.initial, previous * 3);
      return Math.min(o.max, o.initial + o.random() * (upper - o.initial));
    },
  };
}
