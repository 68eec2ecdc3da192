/**
 * The Redlock's OpenTelemetry instruments (see README: Metrics), made with the Redlock: none record unless the
 * application registered an SDK's MeterProvider before (`@opentelemetry/api`, an optional peer).
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, type TelemetryAttributes, packageMeter } from '@x/core';

/** This package's version, for the meter's scope (read from its package.json, beside src/ and dist/). */
const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** How an acquire ended, as the `outcome` attribute says it. */
export type AcquireOutcome = 'acquired' | 'held' | 'no_quorum' | 'aborted';

const OUTCOMES: Record<AcquireOutcome, TelemetryAttributes> = {
  acquired: { outcome: 'acquired' },
  held: { outcome: 'held' },
  no_quorum: { outcome: 'no_quorum' },
  aborted: { outcome: 'aborted' },
};

/** Attribute objects by instance failure reason, made once each. */
const REASONS = new Map<string, TelemetryAttributes>();

export class RedlockTelemetry {
  private readonly acquireDuration;
  private readonly attempts;
  private readonly held;
  private readonly lost;
  private readonly instanceFailures;

  constructor() {
    const meter = packageMeter('@x/redlock', VERSION);
    this.acquireDuration = meter.histogram('x.redlock.acquire.duration', {
      description: 'Time from acquire() to its outcome, waiting included',
      unit: 's',
      buckets: DURATION_BUCKETS_S,
    });
    this.attempts = meter.histogram('x.redlock.acquire.attempts', {
      description: 'Rounds one acquire() made before its outcome',
      unit: '{attempt}',
      buckets: [1, 2, 3, 5, 10, 20, 50],
    });
    this.held = meter.upDownCounter('x.redlock.locks.held', { description: 'Locks acquired through this Redlock and not yet released', unit: '{lock}' });
    this.lost = meter.counter('x.redlock.locks.lost', { description: "Locks whose using() routine was aborted because an extension failed or the validity ran out", unit: '{lock}' });
    this.instanceFailures = meter.counter('x.redlock.instance.failures', {
      description: 'Instances that did not grant an acquire round, by reason (held, timeout, unavailable, clock, restarting, crossslot, error)',
      unit: '{failure}',
    });
  }

  acquired(seconds: number, attempts: number): void {
    this.acquireDuration.record(seconds, OUTCOMES.acquired);
    this.attempts.record(attempts, OUTCOMES.acquired);
    this.held.add(1);
  }

  notAcquired(outcome: Exclude<AcquireOutcome, 'acquired'>, seconds: number, attempts: number): void {
    this.acquireDuration.record(seconds, OUTCOMES[outcome]);
    this.attempts.record(attempts, OUTCOMES[outcome]);
  }

  released(): void {
    this.held.add(-1);
  }

  lostLock(): void {
    this.lost.add(1);
  }

  failures(reasons: readonly { reason: string }[]): void {
    for (const { reason } of reasons) {
      let attributes = REASONS.get(reason);
      if (attributes === undefined) REASONS.set(reason, (attributes = { reason }));
      this.instanceFailures.add(1, attributes);
    }
  }
}
