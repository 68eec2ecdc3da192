/**
 * A queue's OpenTelemetry instruments (see README: Metrics), made with the queue: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer). Names follow
 * OpenTelemetry's messaging conventions where they have one (jobs added and delivered, handler duration).
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, type TelemetryAttributes, type TelemetryCounter, packageMeter } from '@x/core';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** The events a queue counts, as QueueMetrics names them. */
export type CountedEvent = 'added' | 'due' | 'delivered' | 'acked' | 'retried' | 'dead' | 'expired';

const OWN_COUNTERS: Record<Exclude<CountedEvent, 'added' | 'delivered'>, string> = {
  due: 'Jobs that became ready because they were due, moved by this process',
  acked: 'Deliveries whose handler succeeded',
  retried: 'Failed deliveries put back with their backoff',
  dead: 'Jobs dead-lettered (attempts used up by failures or by expired ttr)',
  expired: 'Deliveries whose ttr ran out before an ack (found by this process)',
};

export class QueueTelemetry {
  readonly recording: boolean;
  private readonly counters = new Map<CountedEvent, TelemetryCounter>();
  private readonly lateness;
  private readonly processDuration;
  /** Attribute objects per topic, made once each. */
  private readonly attributes = new Map<string, TelemetryAttributes>();
  private readonly stopGauge: () => void;

  constructor(running: () => Iterable<[topic: string, count: number]>) {
    const meter = packageMeter('@x/delayqueue', VERSION);
    this.recording = meter.recording;
    this.counters.set('added', meter.counter('messaging.client.sent.messages', { description: 'Jobs added (new ids only)', unit: '{message}' }));
    this.counters.set('delivered', meter.counter('messaging.client.consumed.messages', { description: 'Deliveries handed to handlers', unit: '{message}' }));
    for (const [event, description] of Object.entries(OWN_COUNTERS)) {
      this.counters.set(event as CountedEvent, meter.counter(`x.delayqueue.jobs.${event}`, { description, unit: '{job}' }));
    }
    this.lateness = meter.histogram('x.delayqueue.job.lateness', { description: 'Delivery time minus due time', unit: 's', buckets: DURATION_BUCKETS_S });
    this.processDuration = meter.histogram('messaging.process.duration', { description: "A handler's run, to its outcome", unit: 's', buckets: DURATION_BUCKETS_S });
    this.stopGauge = meter.gauge('x.delayqueue.jobs.running', { description: 'Handlers running now', unit: '{job}' }, (observation) => {
      for (const [topic, count] of running()) observation.observe(count, this.of(topic));
    });
  }

  count(event: CountedEvent, topic: string, n: number): void {
    if (this.recording) this.counters.get(event)!.add(n, this.of(topic));
  }

  delivered(topic: string, latenessMs: number): void {
    if (this.recording) this.lateness.record(latenessMs / 1000, this.of(topic));
  }

  processed(topic: string, ms: number): void {
    if (this.recording) this.processDuration.record(ms / 1000, this.of(topic));
  }

  close(): void {
    this.stopGauge();
  }

  private of(topic: string): TelemetryAttributes {
    let attributes = this.attributes.get(topic);
    if (attributes === undefined) {
      attributes = { 'messaging.system': 'x-delayqueue', 'messaging.destination.name': topic };
      this.attributes.set(topic, attributes);
    }
    return attributes;
  }
}
