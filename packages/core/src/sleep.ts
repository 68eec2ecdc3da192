import { type Clock, systemClock } from './clock.js';
import { abortReason } from './signals.js';
import { assertNumber } from './validate.js';

/** Options of {@link sleep}. */
export interface SleepOptions {
  /** Rejects the sleep early with the signal's reason. */
  signal?: AbortSignal;
  /** Clock whose timers measure the sleep (default {@link systemClock}). */
  clock?: Clock;
  /** When false, the pending sleep does not keep the process alive (default true). */
  ref?: boolean;
}

/**
 * Resolves after `ms` milliseconds; rejects with the abort reason as soon as `signal` aborts, and removes its
 * listener either way (no leak when sleeping in a loop on a long-lived signal).
 *
 * @example
 * ```ts
 * await sleep(policy.delay(attempt), { signal });
 * ```
 */
export function sleep(ms: number, options: SleepOptions = {}): Promise<void> {
  assertNumber('ms', ms, { min: 0 });
  const { signal, clock = systemClock, ref = true } = options;
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      timer.cancel();
      reject(abortReason(signal!));
    };
    const timer = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (!ref) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
