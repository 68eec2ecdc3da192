/**
 * OpenTelemetry metrics the way libraries record them: through `@opentelemetry/api` only (an optional peer
 * dependency of each package that records), while the application installs the SDK and registers a
 * MeterProvider. Without the API installed, every instrument here is a shared no-op object (a call, nothing
 * allocated); with the API but no provider, the API's own no-op meter answers. Instruments are made when a
 * package's object is made (a consumer, a Redlock): register the SDK before making them.
 */
import { loadOtelApi } from './otel-api.js';

/** Attribute values, as OpenTelemetry takes them. Make attribute objects once and reuse them. */
export type TelemetryAttributes = Readonly<Record<string, string | number | boolean>>;

/** A monotonic sum (a count of events) or, made as an up-down counter, a sum that goes both ways. */
export interface TelemetryCounter {
  add(value: number, attributes?: TelemetryAttributes): void;
}

/** A distribution of values (durations, sizes). */
export interface TelemetryHistogram {
  record(value: number, attributes?: TelemetryAttributes): void;
}

/** What a gauge's callback reports: a value per attribute set. */
export interface GaugeObservation {
  observe(value: number, attributes?: TelemetryAttributes): void;
}

/** Makes a package's instruments. */
export interface TelemetryMeter {
  /** True when instruments record somewhere (the API is installed and a MeterProvider is registered). */
  readonly recording: boolean;
  counter(name: string, options: InstrumentOptions): TelemetryCounter;
  upDownCounter(name: string, options: InstrumentOptions): TelemetryCounter;
  histogram(name: string, options: InstrumentOptions & { buckets?: readonly number[] }): TelemetryHistogram;
  /**
   * A value read when metrics are collected (a depth, a count of open things): `read` runs only then, so a
   * gauge costs nothing between collections. Returns what stops it (when its object closes).
   */
  gauge(name: string, options: InstrumentOptions, read: (observation: GaugeObservation) => void | Promise<void>): () => void;
  /**
   * A monotonic count kept by the caller (a plain number it increments) and read when metrics are collected, as
   * a cumulative total: no cost per event, where a synchronous counter with attributes costs about 1.4 µs a call
   * in the SDK. Returns what stops it.
   */
  observableCounter(name: string, options: InstrumentOptions, read: (observation: GaugeObservation) => void): () => void;
}

export interface InstrumentOptions {
  description: string;
  /** UCUM unit: `s`, `By`, `{record}`, ... */
  unit: string;
}

/** The part of `@opentelemetry/api` used here. */
interface OtelApi {
  metrics: {
    getMeterProvider(): unknown;
    getMeter(name: string, version?: string): OtelMeter;
  };
}

interface OtelMeter {
  createCounter(name: string, options: object): TelemetryCounter;
  createUpDownCounter(name: string, options: object): TelemetryCounter;
  createHistogram(name: string, options: object): TelemetryHistogram;
  createObservableGauge(name: string, options: object): OtelObservable;
  createObservableCounter(name: string, options: object): OtelObservable;
}

interface OtelObservable {
  addCallback(callback: (result: GaugeObservation) => void | Promise<void>): void;
  removeCallback(callback: (result: GaugeObservation) => void | Promise<void>): void;
}

function observe(instrument: OtelObservable, read: (observation: GaugeObservation) => void | Promise<void>): () => void {
  instrument.addCallback(read);
  return () => instrument.removeCallback(read);
}

const NOOP_COUNTER: TelemetryCounter = { add: () => undefined };
const NOOP_HISTOGRAM: TelemetryHistogram = { record: () => undefined };

const NOOP_METER: TelemetryMeter = {
  recording: false,
  counter: () => NOOP_COUNTER,
  upDownCounter: () => NOOP_COUNTER,
  histogram: () => NOOP_HISTOGRAM,
  gauge: () => () => undefined,
  observableCounter: () => () => undefined,
};


/** The registered MeterProvider, or null when nothing records (no API, no SDK registered, `X_TELEMETRY=off`). */
function registeredProvider(otel: OtelApi | null): unknown {
  if (process.env.X_TELEMETRY === 'off' || otel === null) return null;
  const provider = otel.metrics.getMeterProvider() as { constructor?: { name?: string } };
  // The API answers with its own no-op provider until an SDK registers one: nothing to record to. (Told by its
  // class name, which the API does not export; were that to change, its no-op meter would answer instead.)
  return provider?.constructor?.name === 'NoopMeterProvider' ? null : provider;
}

/**
 * The meter of `packageName` (`@x/redlock`, ...), or a no-op meter when the API is not installed or no
 * MeterProvider is registered. `X_TELEMETRY=off` in the environment turns recording off whatever is installed.
 */
export function packageMeter(packageName: string, version: string): TelemetryMeter {
  const otel = loadOtelApi<OtelApi>();
  if (registeredProvider(otel) === null) return NOOP_METER;
  const meter = otel!.metrics.getMeter(packageName, version);
  return {
    recording: true,
    counter: (name, options) => meter.createCounter(name, options),
    upDownCounter: (name, options) => meter.createUpDownCounter(name, options),
    histogram: (name, { buckets, ...options }) =>
      meter.createHistogram(name, buckets === undefined ? options : { ...options, advice: { explicitBucketBoundaries: [...buckets] } }),
    gauge: (name, options, read) => observe(meter.createObservableGauge(name, options), read),
    observableCounter: (name, options, read) => observe(meter.createObservableCounter(name, options), read),
  };
}

/**
 * Instruments a package makes once per process rather than once per object (counts summed over its objects,
 * see ProcessTotals). The returned function gives them, made by `make` at its first call while a MeterProvider
 * is registered, and made again when another provider has been registered since (the first ones would record to
 * the provider that was replaced); undefined while nothing records.
 */
export function processInstruments<T>(packageName: string, version: string, make: (meter: TelemetryMeter) => T): () => T | undefined {
  let made: { provider: unknown; instruments: T } | undefined;
  return () => {
    const provider = registeredProvider(loadOtelApi<OtelApi>());
    if (provider === null) return undefined;
    if (made === undefined || made.provider !== provider) made = { provider, instruments: make(packageMeter(packageName, version)) };
    return made.instruments;
  };
}

/**
 * Decides which events of a stream to time for a histogram, so that timing costs nothing measurable however
 * fast the stream runs: every event while they come at up to `perSecond` a second, then an evenly spread one in
 * `stride`, the stride set from the rate measured over at least 50 ms, looked at every `window` events (one
 * clock read per window). (A histogram's record costs about 1.5 µs in the SDK, as much as a fast Kafka record's
 * whole handling.) The histogram's count is then a sample: count the events themselves with an observable
 * counter.
 */
export class RateSampler {
  private seen = 0;
  private stride = 1;
  private windowSeen = 0;
  private windowStart: number;

  constructor(
    private readonly perSecond = 100,
    private readonly window = 256,
    /** Time in ms (tests give a time of their own). */
    private readonly now: () => number = () => performance.now(),
  ) {
    this.windowStart = now();
  }

  /** True for the events to time. */
  sample(): boolean {
    if (++this.windowSeen % this.window === 0) this.adjust();
    return ++this.seen % this.stride === 0;
  }

  private adjust(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < MIN_RATE_WINDOW_MS) return;
    this.stride = Math.max(1, Math.ceil((this.windowSeen * 1000) / elapsed / this.perSecond));
    this.windowSeen = 0;
    this.windowStart = now;
  }
}

/** The shortest time a rate is measured over: shorter, and the clock's resolution would make it up. */
const MIN_RATE_WINDOW_MS = 50;

/** Bucket boundaries for durations in seconds, from 0.5 ms to 10 s. */
export const DURATION_BUCKETS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
