/**
 * Deadlines: a default for calls that set none (grpc-gateway's DefaultContextTimeout; grpc-js calls without a
 * deadline wait forever), the `grpc-timeout` wire format, and server-side helpers to pass what is left of a
 * call's deadline on to the work it starts.
 */
import { type CallOptions, type Interceptor, InterceptingCall } from '@grpc/grpc-js';
import { AbortError, type DisposableSignal, MAX_TIMEOUT_MS, assertKnownKeys, assertNumber, linkedSignal } from '@x/core';
import { GrpcTimeoutFormatError } from './errors.js';

/**
 * The deadline `ms` from now, as grpc-js can keep it (a call option `deadline`). grpc-js arms a timer for the
 * deadline, and Node fires a timer of more than 2^31-1 ms (24.8 days) after 1 ms: such a call failed
 * DEADLINE_EXCEEDED at once. A deadline that far is no deadline (Infinity) for any real call.
 *
 * @example
 * ```ts
 * client.getBook(request, { deadline: deadlineIn(decodeGrpcTimeout(header)) }, callback);
 * ```
 */
export function deadlineIn(ms: number): number {
  return ms > MAX_TIMEOUT_MS ? Infinity : Date.now() + ms;
}

/**
 * A client interceptor that gives every call without a deadline one `timeoutMs` from its start. Calls with a
 * deadline keep theirs.
 *
 * @example
 * ```ts
 * const client = new Greeter(address, credentials.createInsecure(), { interceptors: [withDefaultDeadline(5_000)] });
 * ```
 */
export function withDefaultDeadline(timeoutMs: number): Interceptor {
  assertNumber('timeoutMs', timeoutMs, { min: 1 });
  return (options, nextCall) => {
    const deadline = options.deadline;
    const hasDeadline = deadline !== undefined && deadline !== Infinity && !(deadline instanceof Date && !Number.isFinite(deadline.getTime()));
    return new InterceptingCall(nextCall(hasDeadline ? options : { ...options, deadline: deadlineIn(timeoutMs) }));
  };
}

const UNITS: [unit: string, msPerUnit: number][] = [
  ['n', 1e-6],
  ['u', 1e-3],
  ['m', 1],
  ['S', 1e3],
  ['M', 60e3],
  ['H', 3600e3],
];
const MAX_DIGITS_VALUE = 99_999_999;

/**
 * Encodes a timeout as the `grpc-timeout` header: at most 8 digits and a unit, the finest unit that fits,
 * rounded up (a deadline is never made shorter). A timeout at or below 0 becomes `1n`: already expired.
 */
export function encodeGrpcTimeout(timeoutMs: number): string {
  assertNumber('timeoutMs', timeoutMs, {});
  if (!(timeoutMs > 0)) return '1n';
  for (const [unit, msPerUnit] of UNITS) {
    const value = Math.ceil(timeoutMs / msPerUnit - 1e-9);
    if (value <= MAX_DIGITS_VALUE) return `${value}${unit}`;
  }
  return `${MAX_DIGITS_VALUE}H`;
}

/** Decodes a `grpc-timeout` header to milliseconds. Throws {@link GrpcTimeoutFormatError} on anything else. */
export function decodeGrpcTimeout(value: string): number {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) throw new GrpcTimeoutFormatError(value);
  const msPerUnit = UNITS.find(([unit]) => unit === match[2])![1];
  return Number(match[1]) * msPerUnit;
}

/** What a server handler needs of its call: grpc-js's `ServerUnaryCall` and friends all have it. */
export interface CallWithDeadline {
  getDeadline(): Date | number;
  on(event: 'cancelled', listener: () => void): unknown;
}

/** Milliseconds left before the call's deadline (Infinity when it has none; negative when passed). */
export function remainingMs(call: Pick<CallWithDeadline, 'getDeadline'>, now = Date.now()): number {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - now : Infinity;
}

/**
 * Call options for an outgoing call made while serving `call`: its deadline, `marginMs` earlier (time to send
 * the answer back). Without a deadline on `call`, `fallbackMs` from now (none if not given).
 */
export function propagatedCallOptions(call: Pick<CallWithDeadline, 'getDeadline'>, options: { marginMs?: number; fallbackMs?: number } = {}): CallOptions {
  assertKnownKeys('options', options, ['marginMs', 'fallbackMs']);
  const margin = assertNumber('options.marginMs', options.marginMs ?? 0, { min: 0 });
  const left = remainingMs(call);
  if (Number.isFinite(left)) return { deadline: deadlineIn(left - margin) };
  return options.fallbackMs === undefined ? {} : { deadline: deadlineIn(assertNumber('options.fallbackMs', options.fallbackMs, { min: 0 })) };
}

/**
 * A signal that aborts when the call's deadline passes (with a TimeoutError) or the client cancels, for work the
 * handler starts (fetch, a database query). Dispose it (`using`) when the handler is done, to release the timer.
 *
 * @example
 * ```ts
 * async Lookup(call, callback) {
 *   using linked = callSignal(call);
 *   callback(null, await db.query(sql, { signal: linked.signal }));
 * }
 * ```
 */
export function callSignal(call: CallWithDeadline): DisposableSignal {
  const cancelled = new AbortController();
  call.on('cancelled', () => cancelled.abort(new AbortError('the client cancelled the call')));
  const left = remainingMs(call);
  return linkedSignal(cancelled.signal, Number.isFinite(left) ? { timeoutMs: Math.max(0, left) } : {});
}
