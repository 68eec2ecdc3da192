/**
 * A queue's OpenTelemetry instruments (see README: Metrics), made with the queue: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer). Names follow
 * OpenTelemetry's messaging conventions where they have one (jobs added and delivered, handler duration).
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, ProcessTotals, RateSampler, type TelemetryAttributes, type TotalInstrument, packageMeter, processInstruments } from '@x/core';
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

/** What a topic source counts: its events, and its handlers running now (a level). */
type TopicCount = CountedEvent | 'running';

/** A topic's counts since the queue was made, and its attributes, made once. */
interface TopicCounts {
  readonly attributes: TelemetryAttributes;
  /** The attributes with each job state, for the jobs-by-state gauge. */
  readonly byState: Record<keyof JobCounts, TelemetryAttributes>;
  readonly counts: Record<TopicCount, number>;
}

const JOB_STATES = ['delayed', 'ready', 'reserved', 'dead'] as const;

/**
 * The counters and the running gauge, one set per process, summed over its queues per topic: two queues working
 * one topic in one process report under the same attributes, and OpenTelemetry keeps one value per attribute set
 * of an asynchronous instrument, so each queue registering its own would leave only the last one's counts.
 */
const processWide = processInstruments('@x/delayqueue', VERSION, (meter) => {
  const counted: TotalInstrument<TopicCount>[] = [
    { name: 'messaging.client.sent.messages', count: 'added', description: 'Jobs added (new ids only)', unit: '{message}' },
    { name: 'messaging.client.consumed.messages', count: 'delivered', description: 'Deliveries handed to handlers', unit: '{message}' },
    ...Object.entries(OWN_COUNTERS).map(([event, description]) => ({ name: `x.delayqueue.jobs.${event}`, count: event as CountedEvent, description, unit: '{job}' })),
  ];
  return new ProcessTotals<TopicCount>(meter, counted, [{ name: 'x.delayqueue.jobs.running', count: 'running', description: 'Handlers running now', unit: '{job}' }]);
});

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
  private readonly totals = processWide();
  private stopJobs: (() => void) | undefined;

  constructor(
    /** Handlers of a topic running now, read at collection. */
    private readonly running: (topic: string) => number,
    countJobs: (topics: readonly string[]) => Promise<Map<string, JobCounts>> | undefined,
  ) {
    const meter = packageMeter('@x/delayqueue', VERSION);
    this.recording = meter.recording && this.totals !== undefined;
    this.lateness = meter.histogram('x.delayqueue.job.lateness', { description: 'Delivery time minus due time (a sample)', unit: 's', buckets: DURATION_BUCKETS_S });
    this.processDuration = meter.histogram('messaging.process.duration', { description: "A handler's run, to its outcome (a sample)", unit: 's', buckets: DURATION_BUCKETS_S });
    if (!this.recording) return;
    // A level of the backend's store, not of this queue: queues on one store report the same counts, so each
    // queue's callback may say them (the last one read stands, and it is the same).
    this.stopJobs = meter.gauge('x.delayqueue.jobs', { description: 'Jobs waiting in the backend, by state (stores only: memory, Redis)', unit: '{job}' }, async (observation) => {
      const counted = await countJobs([...this.topics.keys()])?.catch(() => undefined);
      for (const [topic, counts] of counted ?? []) {
        for (const state of JOB_STATES) observation.observe(counts[state], this.of(topic).byState[state]);
      }
    });
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

  /** The queue closed: its counts stay in the process's counters, its running handlers leave the gauge. */
  close(): void {
    this.stopJobs?.();
    this.stopJobs = undefined;
    for (const entry of this.topics.values()) this.totals?.remove(entry);
  }

  private of(topic: string): TopicCounts {
    let entry = this.topics.get(topic);
    if (entry === undefined) {
      const attributes = { 'messaging.system': 'x-delayqueue', 'messaging.destination.name': topic };
      const running = this.running;
      entry = {
        attributes,
        byState: {
          delayed: { ...attributes, 'x.delayqueue.job.state': 'delayed' },
          ready: { ...attributes, 'x.delayqueue.job.state': 'ready' },
          reserved: { ...attributes, 'x.delayqueue.job.state': 'reserved' },
          dead: { ...attributes, 'x.delayqueue.job.state': 'dead' },
        },
        counts: {
          added: 0,
          due: 0,
          delivered: 0,
          acked: 0,
          retried: 0,
          dead: 0,
          expired: 0,
          get running() {
            return running(topic);
          },
        },
      };
      this.topics.set(topic, entry);
      this.totals?.add(this, entry);
    }
    return entry;
  }
}
