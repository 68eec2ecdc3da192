/**
 * Scheme 6 of Varghese & Lauck, as in Netty's HashedWheelTimer: one circular array of buckets, a timer goes to
 * bucket `dueTick mod wheelSize` whatever its delay, and a visit to a bucket fires only the timers whose round
 * has come (the rest wait for the next revolution).
 *
 * Best when most delays are shorter than one revolution (wheelSize * tickMs); long timers are looked at once per
 * revolution. A bitmap of buckets that may hold timers lets the wheel sleep across empty buckets.
 */
import { TimerWheel, type TimerWheelOptions } from './wheel.js';
import { DUE } from './timer-store.js';

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
  // Bit i set: bucket i may hold timers (set on insert, cleared when a visit finds the bucket empty).
  private readonly occupied: Uint32Array;
  private readonly mask: number;

  constructor(options: HashedWheelOptions = {}) {
    super(options, 512);
    this.mask = this.wheelSize - 1;
    this.sentinels = new Int32Array(this.wheelSize);
    for (let i = 0; i < this.wheelSize; i++) this.sentinels[i] = this.store.allocateSentinel();
    this.occupied = new Uint32Array(Math.ceil(this.wheelSize / 32));
  }

  protected place(slot: number, dueTick: number): number {
    // A timer already due (the wheel has not caught up with the clock yet) waits in the next bucket visited.
    const tick = dueTick > this.currentTick ? dueTick : this.currentTick + 1;
    const index = tick & this.mask;
    this.store.append(this.sentinels[index]!, slot);
    this.occupied[index >>> 5]! |= 1 << (index & 31);
    // The bucket is next visited at the first tick after currentTick with this index; for a timer some rounds
    // away that visit fires nothing but costs one wake-up per revolution.
    return this.currentTick + 1 + ((index - this.currentTick - 1) & this.mask);
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
    const start = (this.currentTick + 1) & this.mask;
    const distance = this.nextOccupied(start);
    return distance === -1 ? Infinity : this.currentTick + 1 + distance;
  }

  private collectBucket(index: number, nowTick: number, out: number[]): void {
    if ((this.occupied[index >>> 5]! & (1 << (index & 31))) === 0) return;
    const { store } = this;
    const sentinel = this.sentinels[index]!;
    for (let slot = store.next[sentinel]!; slot !== sentinel; ) {
      const following = store.next[slot]!;
      if (this.dueTickOf(store.deadline[slot]!) <= nowTick) {
        store.unlink(slot);
        store.state[slot] = DUE;
        out.push(slot);
      }
      slot = following;
    }
    if (store.isEmpty(sentinel)) this.occupied[index >>> 5]! &= ~(1 << (index & 31));
  }

  /** Distance (in buckets, from `start`, wrapping) to the next bucket marked occupied, or -1 if none. */
  private nextOccupied(start: number): number {
    const words = this.occupied.length;
    for (let step = 0; step <= words; step++) {
      const wordIndex = ((start >>> 5) + step) % words;
      let word = this.occupied[wordIndex]!;
      if (step === 0) word &= ~0 << (start & 31); // ignore bits before start in the first word
      if (step === words) word &= ~(~0 << (start & 31)); // ...and take exactly those on the way round
      if (word !== 0) {
        const index = (wordIndex << 5) + (31 - Math.clz32(word & -word));
        return (index - start) & this.mask;
      }
    }
    return -1;
  }
}
