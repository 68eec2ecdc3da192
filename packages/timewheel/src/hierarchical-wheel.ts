/**
 * Scheme 7 of Varghese & Lauck, shaped like Kafka's TimingWheel + SystemTimer: level 0 has `wheelSize` buckets
 * of one tick; each higher level has `wheelSize` buckets as wide as the whole level below, and is created only
 * when a timer needs it. A timer waits in the lowest level whose range covers its due tick; when a higher
 * bucket comes due its timers move down ("cascade") to finer buckets, and level 0 buckets fire.
 *
 * Buckets that hold timers wait in a small heap keyed by the tick of their next visit, so the wheel sleeps until
 * exactly that tick: no empty ticks, however sparse the timers (Kafka's trick). Unlike Kafka, level-0 buckets
 * are keyed by the timer's rounded-up due tick, so nothing ever fires before its deadline.
 */
import { BucketHeap } from './bucket-heap.js';
import { DUE } from './timer-store.js';
import { TimerWheel, type TimerWheelOptions } from './wheel.js';

/** Options of {@link HierarchicalWheel}; `wheelSize` (buckets per level) defaults to 64, as in Linux. */
export type HierarchicalWheelOptions = TimerWheelOptions;

/**
 * A hierarchical timing wheel: O(1) schedule and cancel, wake-ups only when a bucket is due.
 *
 * @example
 * ```ts
 * const wheel = new HierarchicalWheel();           // 1 ms ticks, 64 buckets per level
 * wheel.setTimeout(() => session.expire(), 30 * 60_000);
 * wheel.setInterval(() => flushMetrics(), 10_000).unref();
 * ```
 */
export class HierarchicalWheel extends TimerWheel {
  /** Sentinel slot of bucket `index` of level `level` is `sentinels[level * wheelSize + index]`. */
  private sentinels = new Int32Array(0);
  /** The tick a bucket was last filed in the heap for (-1 when it is not in the heap), indexed like `sentinels`. */
  private bucketTicks = new Float64Array(0);
  private levels = 0;
  private readonly bits: number;
  private readonly heap = new BucketHeap();
  private cascaded = 0;

  constructor(options: HierarchicalWheelOptions = {}) {
    super(options, 64, 'hierarchical');
    this.bits = Math.log2(this.wheelSize);
    this.addLevel();
  }

  /** Timers moved down a level so far (a measure of cascading work). */
  get cascades(): number {
    return this.cascaded;
  }

  protected place(slot: number, dueTick: number): number {
    // Lowest level whose window [start of current span, + wheelSize spans) contains the due tick.
    let level = 0;
    let span = 1;
    while (dueTick >= Math.floor(this.currentTick / span) * span + span * this.wheelSize) {
      level++;
      span *= this.wheelSize;
    }
    while (level >= this.levels) this.addLevel();
    const virtualBucket = Math.floor(dueTick / span);
    const bucket = level * this.wheelSize + (virtualBucket % this.wheelSize);
    const visitTick = virtualBucket * span;
    this.store.append(this.sentinels[bucket]!, slot);
    if (this.bucketTicks[bucket] !== visitTick) {
      this.bucketTicks[bucket] = visitTick;
      this.heap.push(bucket, visitTick);
    }
    return visitTick;
  }

  protected collect(nowTick: number, out: number[]): void {
    const { heap, store } = this;
    while (heap.peekTick() <= nowTick) {
      const bucket = heap.peekBucket();
      const tick = heap.peekTick();
      heap.pop();
      if (this.bucketTicks[bucket] !== tick) continue; // stale entry
      this.bucketTicks[bucket] = -1;
      // Re-place relative to the bucket's own tick, as if the wheel had woken exactly then.
      this.currentTick = Math.max(this.currentTick, tick);
      const sentinel = this.sentinels[bucket]!;
      for (let slot = store.next[sentinel]!; slot !== sentinel; ) {
        const following = store.next[slot]!;
        store.unlink(slot);
        const dueTick = this.dueTickOf(store.deadline[slot]!);
        if (dueTick <= nowTick) {
          store.state[slot] = DUE;
          out.push(slot);
        } else {
          this.cascaded++;
          this.place(slot, dueTick);
        }
        slot = following;
      }
    }
    this.currentTick = nowTick;
  }

  protected nextWakeTick(): number {
    // Drop stale entries so a cancelled-out bucket does not cause a wake-up.
    while (this.heap.size > 0 && this.bucketTicks[this.heap.peekBucket()] !== this.heap.peekTick()) this.heap.pop();
    return this.heap.peekTick();
  }

  private addLevel(): void {
    const from = this.levels * this.wheelSize;
    const sentinels = new Int32Array(from + this.wheelSize);
    sentinels.set(this.sentinels);
    const ticks = new Float64Array(from + this.wheelSize).fill(-1);
    ticks.set(this.bucketTicks);
    for (let i = from; i < sentinels.length; i++) sentinels[i] = this.store.allocateSentinel();
    this.sentinels = sentinels;
    this.bucketTicks = ticks;
    this.levels++;
  }
}
