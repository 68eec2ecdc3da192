/** Counters and a lateness window a queue keeps about itself, recorded to OpenTelemetry too when it listens. */
import type { JobCounts } from './backend.js';
import { type CountedEvent, QueueTelemetry } from './telemetry.js';

/** A snapshot returned by `queue.metrics()`. Counts are since the queue was created, in this process. */
export interface QueueMetrics {
  /** Jobs added (new ids only; idempotent repeats are not counted). */
  added: number;
  /** Jobs that became ready because they were due, moved by this process. */
  due: number;
  /** Deliveries handed to handlers. */
  delivered: number;
  /** Deliveries whose handler succeeded. */
  acked: number;
  /** Failed deliveries put back with a backoff. */
  retried: number;
  /** Jobs dead-lettered (attempts exhausted by failures or by expired ttr). */
  dead: number;
  /** Deliveries whose ttr ran out before an ack (found by this process). */
  expired: number;
  /** Handlers running now. */
  running: number;
  /** Delivery lateness over the last {@link LATENESS_WINDOW} deliveries, ms. */
  lateness: { count: number; p50: number; p99: number; max: number };
}

/** How many recent deliveries the lateness percentiles cover. */
export const LATENESS_WINDOW = 4096;

export class Metrics {
  added = 0;
  due = 0;
  delivered = 0;
  acked = 0;
  retried = 0;
  dead = 0;
  expired = 0;
  private readonly window = new Float64Array(LATENESS_WINDOW);
  private samples = 0;
  private readonly telemetry: QueueTelemetry;

  /**
   * `running`: handlers of a topic running now; `countJobs`: the backend's jobs by state, where it can count them
   * (both read when metrics are collected).
   */
  constructor(running: (topic: string) => number, countJobs: (topics: readonly string[]) => Promise<Map<string, JobCounts>> | undefined) {
    this.telemetry = new QueueTelemetry(running, countJobs);
  }

  /** Counts `n` events of a topic. */
  count(event: CountedEvent, topic: string, n = 1): void {
    this[event] += n;
    this.telemetry.count(event, topic, n);
  }

  /** A delivery of a topic handed to its handler, `latenessMs` after it was due. */
  recordDelivery(topic: string, latenessMs: number): void {
    this.count('delivered', topic);
    this.window[this.samples % LATENESS_WINDOW] = latenessMs;
    this.samples++;
    this.telemetry.delivered(topic, latenessMs);
  }

  /** A handler's run of a topic ended (any outcome) after `ms`. */
  recordRun(topic: string, ms: number): void {
    this.telemetry.processed(topic, ms);
  }

  /** Stops reporting the running handlers (the queue closed). */
  close(): void {
    this.telemetry.close();
  }

  snapshot(running: number): QueueMetrics {
    const count = Math.min(this.samples, LATENESS_WINDOW);
    const sorted = this.window.slice(0, count).sort();
    const at = (q: number): number => (count === 0 ? 0 : sorted[Math.min(count - 1, Math.floor(q * count))]!);
    return {
      added: this.added,
      due: this.due,
      delivered: this.delivered,
      acked: this.acked,
      retried: this.retried,
      dead: this.dead,
      expired: this.expired,
      running,
      lateness: { count, p50: at(0.5), p99: at(0.99), max: count === 0 ? 0 : sorted[count - 1]! },
    };
  }
}
