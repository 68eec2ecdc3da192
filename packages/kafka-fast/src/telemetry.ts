/**
 * A consumer's OpenTelemetry instruments (see README: Metrics), made with the consumer: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer). Names follow
 * OpenTelemetry's messaging conventions where they have one.
 *
 * Nothing here costs anything per record but what a `metrics()` counter already costs: the counts are read from
 * the consumers when metrics are collected (observable counters and gauges, summed over the process's consumers
 * per group), and handler runs are timed for the
 * duration histogram only as a sample (RateSampler: every run up to 100 a second, then an evenly spread one in
 * N), because a synchronous instrument with attributes costs about 1.5 µs a call in the SDK, as much as a
 * record's whole handling at full speed.
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, ProcessTotals, RateSampler, type TelemetryAttributes, type TelemetryHistogram, type WorkSpan, errorType, packageMeter, packageTracer, processInstruments } from '@x/core';
import type { ConsumedRecord } from './record.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** The counts a consumer keeps as plain numbers, read at collection (summed over the process's consumers). */
export type ConsumerCount = 'received' | 'completed' | 'failed' | 'retried' | 'deadLettered' | 'inFlight' | 'buffered';

/** A partition's lag as the lag gauge reports it. */
export interface PartitionLag {
  topic: string;
  partition: number;
  lag: number;
}

/**
 * The observable instruments, one set per process: two consumers of one group in one process report under the
 * same attributes, and OpenTelemetry keeps one value per attribute set of an asynchronous instrument, so each
 * consumer registering its own would leave only the last one's counts. Made with the first consumer that starts
 * while an SDK is registered.
 */
const processWide = processInstruments('@x/kafka-fast', VERSION, (meter) => {
  const consumers = new Set<ConsumerTelemetry>();
  const total = (name: string, count: ConsumerCount, description: string) => ({ name, count, description, unit: '{message}' });
  const totals = new ProcessTotals<ConsumerCount>(
    meter,
    [
      total('messaging.client.consumed.messages', 'received', 'Records taken on from fetches'),
      total('x.kafka_fast.records.completed', 'completed', 'Records completed (their handler succeeded, or they were dead-lettered)'),
      total('x.kafka_fast.records.failed', 'failed', 'Handler runs that threw (each attempt counts)'),
      total('x.kafka_fast.records.retried', 'retried', 'Failed records scheduled to run again'),
      total('x.kafka_fast.records.dead', 'deadLettered', 'Records that ran out of attempts'),
    ],
    [total('x.kafka_fast.records.in_flight', 'inFlight', 'Handlers running now'), total('x.kafka_fast.records.buffered', 'buffered', 'Records taken on and not yet complete, running ones included')],
  );
  meter.gauge('x.kafka_fast.consumer.lag', { description: 'Per partition: high watermark minus the committed offset', unit: '{message}' }, (o) => {
    // A partition handed between two consumers of this process may be held by both for a moment: said once,
    // with the larger lag.
    const lags = new Map<string, { attributes: TelemetryAttributes; lag: number }>();
    for (const consumer of consumers) {
      for (const { topic, partition, lag } of consumer.partitionLags()) {
        const key = JSON.stringify([consumer.groupId, topic, partition]);
        const seen = lags.get(key);
        if (seen !== undefined) seen.lag = Math.max(seen.lag, lag);
        else lags.set(key, { attributes: { ...consumer.attributes, 'messaging.destination.name': topic, 'messaging.destination.partition.id': String(partition) }, lag });
      }
    }
    for (const { attributes, lag } of lags.values()) o.observe(lag, attributes);
  });
  return { totals, consumers };
});

export class ConsumerTelemetry {
  readonly recording: boolean;
  readonly attributes: TelemetryAttributes;
  private readonly processDuration: TelemetryHistogram;
  private readonly commitDuration: TelemetryHistogram;
  private readonly rebalanceDuration: TelemetryHistogram;
  private readonly rebalances;
  private readonly sampler = new RateSampler();
  /** What ends the counting of this consumer in the process's totals (from observe() to close()). */
  private stop: (() => void) | undefined;
  /** When the rebalance under way began (performance.now()), or undefined. */
  private rebalanceFrom: number | undefined;
  private readonly tracer = packageTracer('@x/kafka-fast', VERSION);
  /** True when handler runs get spans (a TracerProvider is registered). */
  readonly tracing = this.tracer.recording;

  constructor(
    readonly groupId: string,
    /** The consumer's own counts, each read at collection (getters over its fields: no snapshot is made). */
    private readonly counts: Readonly<Record<ConsumerCount, number>>,
    /** The partitions held now, with their lag, read at collection. */
    readonly partitionLags: () => Iterable<PartitionLag>,
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
  }

  /**
   * Counts this consumer in the process's totals (from start() to close()): its counts stay in the counters after
   * close, its levels and lag leave the gauges.
   */
  observe(): void {
    const process = processWide();
    if (process === undefined || this.stop !== undefined) return;
    const source = { attributes: this.attributes, counts: this.counts };
    process.totals.add(this, source);
    process.consumers.add(this);
    this.stop = () => {
      process.totals.remove(source);
      process.consumers.delete(this);
    };
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
    this.stop?.();
  }
}
