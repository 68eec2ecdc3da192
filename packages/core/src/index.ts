/// <reference types="node" preserve="true" />
// The types below use Node's globals (Buffer, AbortSignal, AsyncDisposable): said here, so a project that does
// not load every @types package by itself (TypeScript 7 does not) still finds them.
export { XError, isXError, describe, describeThrown, InvalidArgumentError, AbortError, TimeoutError, ClosedError, CloseTimeoutError, type XErrorOptions } from './errors.js';
export { assertNumber, assertBoolean, assertFunction, assertString, assertOneOf, assertKnownKeys, type NumberBounds } from './validate.js';
export { systemClock, ManualClock, MAX_TIMEOUT_MS, assertClock, type Clock, type ClockTimer, type ManualClockOptions } from './clock.js';
export {
  exponentialBackoff,
  fullJitterBackoff,
  decorrelatedJitterBackoff,
  type BackoffPolicy,
  type BackoffOptions,
} from './backoff.js';
export { sleep, type SleepOptions } from './sleep.js';
export { within, settlesWithin, type WithinOptions, type WithinValueOptions } from './within.js';
export {
  anySignal,
  timeoutSignal,
  linkedSignal,
  abortReason,
  throwIfAborted,
  type DisposableSignal,
  type TimeoutSignalOptions,
} from './signals.js';
export { ResourceStack, CloseError, type Closeable } from './dispose.js';
export { cacheLineSize, readLineSize, DEFAULT_CACHE_LINE_SIZE } from './cache-line.js';
export { PaddedCounters, type PaddedCountersOptions } from './padded-counters.js';
export { SpscRing, RingLayoutError, type SpscRingOptions } from './spsc-ring.js';
export { randomToken, type TokenEncoding } from './random-token.js';
export {
  packageMeter,
  processInstruments,
  RateSampler,
  DURATION_BUCKETS_S,
  type TelemetryMeter,
  type TelemetryCounter,
  type TelemetryHistogram,
  type TelemetryAttributes,
  type GaugeObservation,
  type InstrumentOptions,
} from './telemetry.js';
export { packageTracer, errorType, type TelemetryTracer, type WorkSpan, type MessageHeaders } from './tracing.js';
export { ProcessTotals, type CountSource, type TotalInstrument } from './process-totals.js';
