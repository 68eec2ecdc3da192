/**
 * A consumer's OpenTelemetry instruments (see README: Metrics), made with the consumer: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer). Names follow
 * OpenTelemetry's messaging conventions where they have one.
 *
 * Nothing here costs anything per record but what a `metrics()` counter already costs: the counts are read from
 * the consumer when metrics are collected (observable counters and gauges), and handler runs are timed for the
 * duration histogram only as a sample (RateSampler: every run up to 100 a second, then an evenly spread one in
 * N), because a synchronous instrument with attributes costs about 1.5 µs a call in the SDK, as much as a
 * record's whole handling at full speed.
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, RateSampler, type TelemetryAttributes, type TelemetryHistogram, type TelemetryMeter, type WorkSpan, errorType, packageMeter, packageTracer } from '@x/core';
import type { ConsumedRecord } from './record.js';
import type { ConsumerMetrics } from './parallel-consumer.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** The counters read at collection: the instrument, what it counts, and which total of `metrics()` it reads. */
const COUNTS: [name: string, description: string, total: keyof ConsumerMetrics][] = [
  ['messaging.client.consumed.messages', 'Records taken on from fetches', 'received'],
  ['x.kafka_fast.records.completed', 'Records completed (their handler succeeded, or they were dead-lettered)', 'completed'],
  ['x.kafka_fast.records.failed', 'Handler runs that threw (each attempt counts)', 'failed'],
  ['x.kafka_fast.records.retried', 'Failed records scheduled to run again', 'retried'],
  ['x.kafka_fast.records.dead', 'Records that ran out of attempts', 'deadLettered'],
];

/** The gauges read at collection, from `metrics()`. */
const GAUGES: [name: string, description: string, value: 'inFlight' | 'buffered'][] = [
  ['x.kafka_fast.records.in_flight', 'Handlers running now', 'inFlight'],
  ['x.kafka_fast.records.buffered', 'Records taken on and not yet started', 'buffered'],
];

export class ConsumerTelemetry {
  readonly recording: boolean;
  private readonly attributes: TelemetryAttributes;
  private readonly processDuration: TelemetryHistogram;
  private readonly commitDuration: TelemetryHistogram;
  private readonly rebalanceDuration: TelemetryHistogram;
  private readonly rebalances;
  private readonly sampler = new RateSampler();
  private readonly stops: (() => void)[] = [];
  /** When the rebalance under way began (performance.now()), or undefined. */
  private rebalanceFrom: number | undefined;
  private readonly meter: TelemetryMeter;
  private readonly tracer = packageTracer('@x/kafka-fast', VERSION);
  /** True when handler runs get spans (a TracerProvider is registered). */
  readonly tracing = this.tracer.recording;

  constructor(
    groupId: string,
    private readonly metrics: () => ConsumerMetrics,
  ) {
    const meter = packageMeter('@x/kafka-fast', VERSION);
    this.recording = meter.recording;
    this.attributes = { 'messaging.system': 'kafka', 'messaging.consumer.group.name': groupId };
    this.processDuration = meter.histogram('messaging.process.duration', {
      description: "A handler's run (a batch handler's: its batch), to its outcome; a sample, see RateSampler",
      unit: 's',
      buckets: DURATION_BUCKETS_S,
    });
    this.commitDuration = meter.histogram('x.kafka_fast.commit.duration', { description: 'One offset commit, to the broker’s answer', unit: 's', buckets: DURATION_BUCKETS_S });
    this.rebalanceDuration = meter.histogram('x.kafka_fast.rebalance.duration', {
      description: 'From the start of a rebalance (the rebalancing event) to the new assignment',
      unit: 's',
      buckets: DURATION_BUCKETS_S,
    });
    this.rebalances = meter.counter('x.kafka_fast.rebalances', { description: 'Rebalances this member took part in', unit: '{rebalance}' });
    this.meter = meter;
  }

  /** Starts reporting the counts and gauges read at collection (from start() to close()). */
  observe(): void {
    const meter = this.meter;
    if (!this.recording || this.stops.length > 0) return;
    for (const [name, description, total] of COUNTS) {
      this.stops.push(meter.observableCounter(name, { description, unit: '{message}' }, (o) => o.observe(this.metrics()[total] as number, this.attributes)));
    }
    for (const [name, description, value] of GAUGES) {
      this.stops.push(meter.gauge(name, { description, unit: '{message}' }, (o) => o.observe(this.metrics()[value], this.attributes)));
    }
    this.stops.push(
      meter.gauge('x.kafka_fast.consumer.lag', { description: 'Per partition: high watermark minus the committed offset', unit: '{message}' }, (o) => {
        for (const p of this.metrics().partitions) {
          o.observe(p.lag, { ...this.attributes, 'messaging.destination.name': p.topic, 'messaging.destination.partition.id': String(p.partition) });
        }
      }),
    );
  }

  /** performance.now() for a run to time, or 0 for one left out of the sample (and for every run when not recording). */
  startRun(): number {
    return this.recording && this.sampler.sample() ? performance.now() : 0;
  }

  /** A timed run ended; `error` when it threw. */
  endRun(startedAt: number, error?: unknown): void {
    if (startedAt === 0) return;
    const seconds = (performance.now() - startedAt) / 1000;
    this.processDuration.record(seconds, error === undefined ? this.attributes : { ...this.attributes, 'error.type': errorType(error) });
  }

  /**
   * A span for one handler run (a batch handler's: its batch), as OpenTelemetry's messaging conventions name it,
   * linked to the trace context each record carries in its headers.
   */
  processSpan(records: readonly ConsumedRecord[], attempt: number): WorkSpan {
    const first = records[0]!;
    const attributes: TelemetryAttributes = {
      ...this.attributes,
      'messaging.operation.name': 'process',
      'messaging.operation.type': 'process',
      'messaging.destination.name': first.topic,
      'messaging.destination.partition.id': String(first.partition),
      ...(records.length === 1 ? { 'messaging.kafka.offset': Number(first.offset) } : { 'messaging.batch.message_count': records.length }),
      'x.kafka_fast.attempt': attempt,
    };
    return this.tracer.processSpan(`process ${first.topic}`, attributes, records.map((record) => record.headers));
  }

  commitTook(seconds: number): void {
    this.commitDuration.record(seconds, this.attributes);
  }

  /** A rebalance began (called again while it lasts, it changes nothing). */
  rebalanceStarted(): void {
    if (this.rebalanceFrom !== undefined) return;
    this.rebalanceFrom = performance.now();
    this.rebalances.add(1, this.attributes);
  }

  /** The new assignment arrived. */
  rebalanceEnded(): void {
    if (this.rebalanceFrom === undefined) return;
    this.rebalanceDuration.record((performance.now() - this.rebalanceFrom) / 1000, this.attributes);
    this.rebalanceFrom = undefined;
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}
