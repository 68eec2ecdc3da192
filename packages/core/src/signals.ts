/**
 * AbortSignal helpers that clean up after themselves.
 *
 * `AbortSignal.any` and `AbortSignal.timeout` exist in Node, but neither can be released early (listeners and
 * timers live until the signals are collected, a known source of growth when a long-lived signal is combined
 * per request) and `AbortSignal.timeout` cannot be driven by a test clock. Each helper here returns a
 * {@link DisposableSignal}: call `dispose()` (or `using`) when the operation ends.
 */
import { type Clock, type ClockTimer, systemClock } from './clock.js';
import { AbortError, TimeoutError } from './errors.js';
import { assertNumber } from './validate.js';

/** A signal plus the means to detach it from its sources once the guarded operation is over. */
export interface DisposableSignal extends Disposable {
  /** Aborts when any source aborts, with that source's reason. */
  readonly signal: AbortSignal;
  /** Removes listeners and timers; the signal stays as it is (aborted or not). Idempotent. */
  dispose(): void;
}

/**
 * The error to throw for an aborted signal: its own reason when the caller gave one, otherwise an
 * {@link AbortError} (Node's default reason is a DOMException, which carries no `code` to branch on).
 */
export function abortReason(signal: AbortSignal): unknown {
  const reason: unknown = signal.reason;
  if (reason === undefined || (reason instanceof DOMException && reason.name === 'AbortError')) {
    return new AbortError(undefined, reason === undefined ? undefined : { cause: reason });
  }
  return reason;
}

/** Throws {@link abortReason} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortReason(signal);
}

/**
 * A signal that aborts when the first of `signals` aborts (undefined entries are skipped).
 *
 * @example
 * ```ts
 * using linked = anySignal([request.signal, shutdown.signal]);
 * await fetchAll(linked.signal);
 * ```
 */
export function anySignal(signals: Iterable<AbortSignal | undefined>): DisposableSignal {
  const controller = new AbortController();
  const sources: AbortSignal[] = [];
  const detach = (): void => {
    for (const source of sources) source.removeEventListener('abort', onAbort);
    sources.length = 0;
  };
  function onAbort(this: AbortSignal): void {
    detach();
    controller.abort(this.reason);
  }
  for (const source of signals) {
    if (source === undefined) continue;
    if (source.aborted) {
      detach();
      controller.abort(source.reason);
      break;
    }
    sources.push(source);
    source.addEventListener('abort', onAbort, { once: true });
  }
  return disposable(controller.signal, detach);
}

/** Options of {@link timeoutSignal} and {@link linkedSignal}. */
export interface TimeoutSignalOptions {
  /** Clock whose timer measures the timeout (default {@link systemClock}). */
  clock?: Clock;
}

/**
 * A signal that aborts with a {@link TimeoutError} after `ms`. Its timer never keeps the process alive.
 *
 * @example
 * ```ts
 * using timeout = timeoutSignal(5_000);
 * await client.connect({ signal: timeout.signal });
 * ```
 */
export function timeoutSignal(ms: number, options: TimeoutSignalOptions = {}): DisposableSignal {
  assertNumber('ms', ms, { min: 0 });
  const controller = new AbortController();
  const timer: ClockTimer = (options.clock ?? systemClock)
    .setTimer(() => controller.abort(new TimeoutError(ms)), ms)
    .unref();
  return disposable(controller.signal, () => timer.cancel());
}

/**
 * A signal that aborts when `parent` aborts or, if `timeoutMs` is given, when the time runs out: the usual
 * shape of "the caller's signal, bounded by our own deadline".
 *
 * @example
 * ```ts
 * using linked = linkedSignal(options.signal, { timeoutMs: options.acquireTimeout });
 * while (!linked.signal.aborted) { ... }
 * ```
 */
export function linkedSignal(
  parent: AbortSignal | undefined,
  options: TimeoutSignalOptions & { timeoutMs?: number } = {},
): DisposableSignal {
  if (options.timeoutMs === undefined) return anySignal([parent]);
  const timeout = timeoutSignal(options.timeoutMs, options);
  const linked = anySignal([parent, timeout.signal]);
  return disposable(linked.signal, () => {
    linked.dispose();
    timeout.dispose();
  });
}

function disposable(signal: AbortSignal, release: () => void): DisposableSignal {
  let released = false;
  const dispose = (): void => {
    if (released) return;
    released = true;
    release();
  };
  return { signal, dispose, [Symbol.dispose]: dispose };
}
