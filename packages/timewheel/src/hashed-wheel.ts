/**
 * Scheme 6 of Varghese & Lauck, as in Netty's HashedWheelTimer: one circular array of buckets, a timer goes to
 * bucket `dueTick mod wheelSize` whatever its delay, and a visit to a bucket fires only the timers whose round
 * has come (the rest wait for a later revolution).
 *
 * Netty wakes on every tick. This wheel keeps, per bucket, the earliest due tick it holds, and sleeps until the
 * earliest of those, so timers many revolutions away cost no wake-ups. A visit still scans the whole bucket
 * (that is scheme 6's trade-off); prefer {@link HierarchicalWheel} when most delays span many revolutions.
 */
import { DUE } from './timer-store.js';
import { TimerWheel, type TimerWheelOptions } from './wheel.js';

/** Options of {@link HashedWheel}; `wheelSize` defaults to 512 (Netty's default). */
export type HashedWheelOptions = TimerWheelOptions;

/**
 * A single hashed timing wheel.
 *
 * @example
 * ```ts
 * const wheel = new HashedWheel({ tickMs: 1, wheelSize: 1024 });
 * const timer = wheel.setTimeout(() => console.log('fired'), 250);
 * ```
 */
export class HashedWheel extends TimerWheel {
  private readonly sentinels: Int32Array;
  /** Earliest due tick in each bucket (Infinity when empty; may be too early after a cancel, never too late). */
  private readonly earliest: Float64Array;
  private readonly mask: number;

  constructor(options: HashedWheelOptions = {}) {
    super(options, 512, 'hashed');
    this.mask = this.wheelSize - 1;
    this.sentinels = new Int32Array(this.wheelSize);
    for (let i = 0; i < this.wheelSize; i++) this.sentinels[i] = this.store.allocateSentinel();
    this.earliest = new Float64Array(this.wheelSize).fill(Infinity);
  }

  protected place(slot: number, dueTick: number): number {
    const index = dueTick & this.mask;
    this.store.append(this.sentinels[index]!, slot);
    if (dueTick < this.earliest[index]!) this.earliest[index] = dueTick;
    return dueTick;
  }

  protected collect(nowTick: number, out: number[]): void {
    const elapsed = nowTick - this.currentTick;
    if (elapsed >= this.wheelSize) {
      for (let index = 0; index < this.wheelSize; index++) this.collectBucket(index, nowTick, out);
    } else {
      for (let tick = this.currentTick + 1; tick <= nowTick; tick++) this.collectBucket(tick & this.mask, nowTick, out);
    }
    this.currentTick = nowTick;
  }

  protected nextWakeTick(): number {
    let next = Infinity;
    for (let index = 0; index < this.wheelSize; index++) if (this.earliest[index]! < next) next = this.earliest[index]!;
    return next;
  }

  private collectBucket(index: number, nowTick: number, out: number[]): void {
    if (this.earliest[index]! > nowTick) return; // nothing due here: skip the scan
    const { store } = this;
    const sentinel = this.sentinels[index]!;
    let earliest = Infinity;
    for (let slot = store.next[sentinel]!; slot !== sentinel; ) {
      const following = store.next[slot]!;
      const dueTick = this.dueTickOf(store.deadline[slot]!);
      if (dueTick <= nowTick) {
        store.unlink(slot);
        store.state[slot] = DUE;
        out.push(slot);
      } else if (dueTick < earliest) {
        earliest = dueTick;
      }
      slot = following;
    }
    this.earliest[index] = earliest;
  }
}
