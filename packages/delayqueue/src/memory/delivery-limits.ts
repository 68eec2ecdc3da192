/**
 * A topic's limits in the memory backend: how many deliveries may go out now under a rate (a sliding window of
 * reservation times) and a cap on jobs reserved at once. The Redis reserve script does the same in Lua.
 */
import type { TopicLimits } from '../backend.js';

export class DeliveryLimits {
  /** Reservation times (backend clock) within the last interval, oldest first, from `head` on. */
  private times: number[] = [];
  private head = 0;

  /** `limits` as the queue checked them (`intervalMs` given with `rate`). */
  constructor(readonly limits: TopicLimits) {}

  /**
   * How many of `want` deliveries may go out at `now` with `reserved` jobs reserved already, and, when the rate
   * held some back, in how many ms the window lets more out.
   */
  room(now: number, reserved: number, want: number): { allowed: number; waitMs: number | undefined } {
    let allowed = want;
    const { rate, intervalMs = 1_000, concurrency } = this.limits;
    if (concurrency !== undefined) allowed = Math.min(allowed, concurrency - reserved);
    let waitMs: number | undefined;
    if (rate !== undefined) {
      while (this.head < this.times.length && this.times[this.head]! <= now - intervalMs) this.head++;
      if (this.head > 1024 && this.head * 2 > this.times.length) {
        this.times = this.times.slice(this.head);
        this.head = 0;
      }
      const left = rate - (this.times.length - this.head);
      if (left < allowed) {
        allowed = left;
        if (this.head < this.times.length) waitMs = Math.max(1, this.times[this.head]! + intervalMs - now);
      }
    }
    return { allowed: Math.max(0, allowed), waitMs };
  }

  /** Counts `count` deliveries made at `now` against the rate. */
  record(now: number, count: number): void {
    if (this.limits.rate === undefined) return;
    for (let i = 0; i < count; i++) this.times.push(now);
  }
}
