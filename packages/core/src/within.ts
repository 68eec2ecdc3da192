import { type Clock, systemClock } from './clock.js';
import { TimeoutError } from './errors.js';
import { assertNumber } from './validate.js';

/** Options of {@link within} and {@link settlesWithin}. */
export interface WithinOptions {
  /** Clock whose timer bounds the wait (default {@link systemClock}). */
  clock?: Clock;
  /** When false, the bounding timer does not keep the process alive (default true). */
  ref?: boolean;
}

/** Options of {@link within}. */
export interface WithinValueOptions<T> extends WithinOptions {
  /**
   * Gets the value should `promise` resolve after the wait gave up: what it holds (a connection, a channel) is
   * no longer anyone's, and this is where it is closed.
   */
  onLate?: (value: T) => void;
}

/**
 * `promise`, or a {@link TimeoutError} once `ms` passed without it settling (`"<what> within <ms> ms"`). The
 * timer is cleared as soon as `promise` settles, so waiting in a loop leaves nothing behind.
 *
 * @example
 * ```ts
 * const channel = await within(connection.createChannel(), 5_000, 'the broker did not open a channel', {
 *   onLate: (late) => void late.close(),
 * });
 * ```
 */
export function within<T>(promise: Promise<T>, ms: number, what: string, options: WithinValueOptions<T> = {}): Promise<T> {
  assertNumber('ms', ms, { min: 0 });
  const { onLate } = options;
  return bounded(promise, ms, options, (reject) => {
    if (onLate !== undefined) void promise.then(onLate, () => undefined);
    reject(new TimeoutError(ms, `${what} within ${ms} ms`));
  });
}

/**
 * True once `promise` resolved, false when `ms` passed first (it may still settle later); rejects as `promise`
 * does. For waits that may give up quietly, such as a close that a silent peer never answers.
 *
 * @example
 * ```ts
 * if (!(await settlesWithin(client.close().catch(() => undefined), 2_000))) log('left the connection behind');
 * ```
 */
export function settlesWithin(promise: Promise<unknown>, ms: number, options: WithinOptions = {}): Promise<boolean> {
  assertNumber('ms', ms, { min: 0 });
  return bounded(
    promise.then(() => true),
    ms,
    options,
    (_, resolve) => resolve(false),
  );
}

/** Races `promise` against a timer of `ms` whose expiry `expire` handles; the timer goes when either settles. */
function bounded<T>(
  promise: Promise<T>,
  ms: number,
  { clock = systemClock, ref = true }: WithinOptions,
  expire: (reject: (error: unknown) => void, resolve: (value: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimer(() => expire(reject, resolve), ms);
    if (!ref) timer.unref();
    promise.then(
      (value) => {
        timer.cancel();
        resolve(value);
      },
      (error: unknown) => {
        timer.cancel();
        reject(error);
      },
    );
  });
}
