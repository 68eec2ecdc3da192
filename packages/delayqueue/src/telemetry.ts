/**
 * A queue's OpenTelemetry instruments (see README: Metrics), made with the queue: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer). Names follow
 * OpenTelemetry's messaging conventions where they have one (jobs added and delivered, handler duration).
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, RateSampler, type TelemetryAttributes, packageMeter } from '@x/core';
import type { JobCounts } from './backend.js';

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

/** A topic's counts since the queue was made, and its attributes, made once. */
interface TopicCounts {
  readonly attributes: TelemetryAttributes;
  /** The attributes with each job state, for the jobs-by-state gauge. */
  readonly byState: Record<keyof JobCounts, TelemetryAttributes>;
  readonly counts: Record<CountedEvent, number>;
}

const JOB_STATES = ['delayed', 'ready', 'reserved', 'dead'] as const;

/**
 * Counts are kept here as plain numbers per topic and read when the SDK collects (observable counters), and the
 * two histograms take a sample of their events (RateSampler: all of them up to 100 a second, then an evenly
 * spread one in N): a synchronous instrument call with attributes costs about 1.4 µs in the SDK, more than a
 * job's whole delivery costs the memory backend.
 */
export class QueueTelemetry {
  readonly recording: boolean;
  private readonly lateness;
  private readonly processDuration;
  private readonly latenessSample = new RateSampler();
  private readonly processSample = new RateSampler();
  private readonly topics = new Map<string, TopicCounts>();
  private readonly stops: (() => void)[] = [];

  constructor(running: () => Iterable<[topic: string, count: number]>, countJobs: (topics: readonly string[]) => Promise<Map<string, JobCounts>> | undefined) {
    const meter = packageMeter('@x/delayqueue', VERSION);
    this.recording = meter.recording;
    this.lateness = meter.histogram('x.delayqueue.job.lateness', { description: 'Delivery time minus due time (a sample)', unit: 's', buckets: DURATION_BUCKETS_S });
    this.processDuration = meter.histogram('messaging.process.duration', { description: "A handler's run, to its outcome (a sample)", unit: 's', buckets: DURATION_BUCKETS_S });
    if (!this.recording) return;
    const counted: [CountedEvent, string, string, string][] = [
      ['added', 'messaging.client.sent.messages', 'Jobs added (new ids only)', '{message}'],
      ['delivered', 'messaging.client.consumed.messages', 'Deliveries handed to handlers', '{message}'],
      ...Object.entries(OWN_COUNTERS).map(([event, description]): [CountedEvent, string, string, string] => [event as CountedEvent, `x.delayqueue.jobs.${event}`, description, '{job}']),
    ];
    for (const [event, name, description, unit] of counted) {
      this.stops.push(
        meter.observableCounter(name, { description, unit }, (observation) => {
          for (const { counts, attributes } of this.topics.values()) if (counts[event] > 0) observation.observe(counts[event], attributes);
        }),
      );
    }
    this.stops.push(
      meter.gauge('x.delayqueue.jobs', { description: 'Jobs waiting in the backend, by state (stores only: memory, Redis)', unit: '{job}' }, async (observation) => {
        const counted = await countJobs([...this.topics.keys()])?.catch(() => undefined);
        for (const [topic, counts] of counted ?? []) {
          for (const state of JOB_STATES) observation.observe(counts[state], this.of(topic).byState[state]);
        }
      }),
    );
    this.stops.push(
      meter.gauge('x.delayqueue.jobs.running', { description: 'Handlers running now', unit: '{job}' }, (observation) => {
        for (const [topic, count] of running()) observation.observe(count, this.of(topic).attributes);
      }),
    );
  }

  count(event: CountedEvent, topic: string, n: number): void {
    if (this.recording) this.of(topic).counts[event] += n;
  }

  delivered(topic: string, latenessMs: number): void {
    if (this.recording && this.latenessSample.sample()) this.lateness.record(latenessMs / 1000, this.of(topic).attributes);
  }

  processed(topic: string, ms: number): void {
    if (this.recording && this.processSample.sample()) this.processDuration.record(ms / 1000, this.of(topic).attributes);
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private of(topic: string): TopicCounts {
    let entry = this.topics.get(topic);
    if (entry === undefined) {
      const attributes = { 'messaging.system': 'x-delayqueue', 'messaging.destination.name': topic };
      entry = {
        attributes,
        byState: {
          delayed: { ...attributes, 'x.delayqueue.job.state': 'delayed' },
          ready: { ...attributes, 'x.delayqueue.job.state': 'ready' },
          reserved: { ...attributes, 'x.delayqueue.job.state': 'reserved' },
          dead: { ...attributes, 'x.delayqueue.job.state': 'dead' },
        },
        counts: { added: 0, due: 0, delivered: 0, acked: 0, retried: 0, dead: 0, expired: 0 },
      };
      this.topics.set(topic, entry);
    }
    return entry;
  }
}
