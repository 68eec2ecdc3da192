/**
 * A binary min-heap of buckets keyed by the tick at which each must be visited: the delay queue of Kafka's
 * SystemTimer. Only buckets enter it (at most levels * wheelSize of them), never timers, so its O(log n) costs
 * do not grow with the number of timers.
 *
 * An entry can go stale (its bucket was flushed and reused for a later tick); the owner recognises stale entries
 * by comparing the entry's tick with the bucket's current one.
 */
export class BucketHeap {
  private ticks: number[] = [];
  private buckets: number[] = [];

  get size(): number {
    return this.ticks.length;
  }

  push(bucket: number, tick: number): void {
    const { ticks, buckets } = this;
    let i = ticks.length;
    ticks.push(tick);
    buckets.push(bucket);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (ticks[parent]! <= tick) break;
      ticks[i] = ticks[parent]!;
      buckets[i] = buckets[parent]!;
      i = parent;
    }
    ticks[i] = tick;
    buckets[i] = bucket;
  }

  /** Tick of the earliest entry (Infinity when empty). */
  peekTick(): number {
    return this.ticks.length === 0 ? Infinity : this.ticks[0]!;
  }

  /** Bucket of the earliest entry; call only when not empty. */
  peekBucket(): number {
    return this.buckets[0]!;
  }

  pop(): void {
    const { ticks, buckets } = this;
    const lastTick = ticks.pop()!;
    const lastBucket = buckets.pop()!;
    const n = ticks.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && ticks[right]! < ticks[left]! ? right : left;
      if (ticks[child]! >= lastTick) break;
      ticks[i] = ticks[child]!;
      buckets[i] = buckets[child]!;
      i = child;
    }
    ticks[i] = lastTick;
    buckets[i] = lastBucket;
  }

  clear(): void {
    this.ticks = [];
    this.buckets = [];
  }
}
