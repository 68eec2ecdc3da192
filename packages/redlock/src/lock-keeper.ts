/** The auto-extension behind `Redlock.using()`. */
import type { Clock, ClockTimer } from '@x/core';
import { LockLostError } from './errors.js';
import type { Lock } from './lock.js';

/**
 * Keeps a lock alive for `using`: extends it when half its validity is gone, and aborts (through `onLost`)
 * shortly before the validity runs out if no extension has succeeded by then, whether Redis answered or not.
 */
export class LockKeeper {
  private extendTimer: ClockTimer | undefined;
  private deadlineTimer: ClockTimer | undefined;
  private stopped = false;

  constructor(
    private readonly lock: Lock,
    private readonly ttl: number,
    private readonly clock: Clock,
    private readonly onLost: (error: LockLostError) => void,
  ) {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.extendTimer?.cancel();
    this.deadlineTimer?.cancel();
  }

  private schedule(): void {
    const remaining = this.lock.remaining();
    // Keep a margin of a tenth of the TTL (at least 5 ms) between aborting the routine and actual expiry.
    const margin = Math.max(5, this.ttl / 10);
    this.deadlineTimer?.cancel();
    this.deadlineTimer = this.clock.setTimer(() => this.lose('its validity ran out before an extension succeeded'), Math.max(0, remaining - margin));
    this.extendTimer = this.clock.setTimer(() => void this.extend(), Math.max(0, remaining / 2));
  }

  private async extend(): Promise<void> {
    try {
      await this.lock.extend(this.ttl);
      if (!this.stopped) this.schedule();
    } catch (error) {
      this.lose('an extension failed', error);
    }
  }

  private lose(detail: string, cause?: unknown): void {
    // Released by the routine itself: nothing is lost (and its result stands).
    if (this.stopped || this.lock.released) return;
    this.stop();
    this.onLost(cause instanceof LockLostError ? cause : new LockLostError(this.lock.resources, detail, cause));
  }
}
