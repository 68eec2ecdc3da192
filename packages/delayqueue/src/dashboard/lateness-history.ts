/**
 * The queue's delivery lateness over the last minutes, for the dashboard's chart: a sample of `metrics()` every
 * `sampleMs`, the last `keep` kept. The percentiles are this process's consumers' (the queue's own metrics).
 */
import type { Clock, ClockTimer } from '@x/core';
import type { QueueMetrics } from '../metrics.js';

export interface LatenessSample {
  /** Epoch ms of the sample. */
  readonly at: number;
  readonly p50: number;
  readonly p99: number;
  /** Deliveries the percentiles are over. */
  readonly count: number;
}

export class LatenessHistory {
  private readonly samples: LatenessSample[] = [];
  private timer: ClockTimer | undefined;
  private closed = false;

  constructor(
    private readonly metrics: () => QueueMetrics,
    private readonly clock: Clock,
    private readonly sampleMs: number,
    private readonly keep: number,
  ) {
    this.sample();
  }

  /** Oldest first. */
  list(): LatenessSample[] {
    return [...this.samples];
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
  }

  private readonly sample = (): void => {
    if (this.closed) return;
    const { lateness } = this.metrics();
    this.samples.push({ at: Math.round(this.clock.wallNow()), p50: lateness.p50, p99: lateness.p99, count: lateness.count });
    if (this.samples.length > this.keep) this.samples.shift();
    // Sampling must not keep a process alive that has nothing else to do.
    this.timer = this.clock.setTimer(this.sample, this.sampleMs).unref();
  };
}
