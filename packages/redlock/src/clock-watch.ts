/**
 * Watches one instance's clock against ours. Redis expires keys by its own clock, so an instance whose clock
 * runs fast (or jumps ahead) drops a lock before the validity we computed runs out, and a contender can then
 * win a majority that counts that instance while we still hold the lock: two holders at once. Redlock assumes
 * clocks advance at nearly the same rate (the drift factor is that assumption's allowance); this is where the
 * assumption is checked instead of trusted.
 *
 * The acquire and extend scripts report the instance's time (ms) with their answer. Between two answers, the
 * instance's clock advanced by the difference of the two times, and ours by at most the time from sending the
 * first request to receiving the second answer, and by at least the time from receiving the first answer to
 * sending the second request. So the rate lies between two bounds, whatever the network or a busy event loop
 * did: an instance whose lowest rate over a window of at least MIN_WINDOW_MS is above `1 + driftFactor` is
 * `fast` until a later window's highest rate shows it keeping time again; its votes do not count meanwhile (the
 * same treatment as an instance that restarted recently).
 */

/** One answer: when we sent the request and got the reply (our monotonic ms), and the instance's time then. */
interface Sample {
  sentAt: number;
  receivedAt: number;
  instanceMs: number;
}

/** The shortest span over which a rate is judged: shorter spans are dominated by the round trip. */
const MIN_WINDOW_MS = 200;
/** A window that stays clean this long starts again, so a clock that turns fast later is caught quickly. */
const MAX_WINDOW_MS = 10_000;

export class ClockWatch {
  private base: Sample | undefined;
  /** The rate of the last window judged fast, or undefined while the clock keeps time. */
  private fastRate: number | undefined;

  /** @param allowance the rate above 1 that still counts as keeping time (the Redlock's drift factor). */
  constructor(private readonly allowance: number) {}

  /** How many times as fast as ours the instance's clock ran in the last window judged, when too fast. */
  get fast(): number | undefined {
    return this.fastRate;
  }

  observe(sentAt: number, receivedAt: number, instanceMs: number): void {
    const sample = { sentAt, receivedAt, instanceMs };
    const base = this.base;
    if (base === undefined) {
      this.base = sample;
      return;
    }
    // The least our clock can have advanced between the two readings of the instance's clock, and the most.
    const shortest = sentAt - base.receivedAt;
    const longest = receivedAt - base.sentAt;
    if (shortest < MIN_WINDOW_MS) return;
    const advanced = instanceMs - base.instanceMs;
    const lowest = advanced / longest;
    if (lowest > 1 + this.allowance) {
      this.fastRate = lowest;
      this.base = sample;
      return;
    }
    // Trusted (again) only when even the highest rate the readings allow keeps time: an answer that took long
    // to come back bounds the rate from below only loosely, and must not clear a clock that runs fast.
    if (advanced / shortest <= 1 + this.allowance) this.fastRate = undefined;
    if (longest > MAX_WINDOW_MS) this.base = sample;
  }
}
