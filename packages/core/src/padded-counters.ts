/**
 * 64-bit counters on a SharedArrayBuffer that several worker threads update at once, each counter on its own
 * cache line so that threads writing different counters never contend for the same line.
 */
import { cacheLineSize } from './cache-line.js';
import { InvalidArgumentError } from './errors.js';
import { assertNumber } from './validate.js';

/** Options of {@link PaddedCounters}. */
export interface PaddedCountersOptions {
  /**
   * Bytes between the starts of two counters: a multiple of 8, default {@link cacheLineSize}. Use 128 where the
   * adjacent-line prefetcher pulls lines in pairs (Intel since Sandy Bridge); 8 packs counters side by side,
   * which is only useful to measure what padding buys.
   */
  stride?: number;
  /** Attach to this buffer (made by another thread's `PaddedCounters`) instead of allocating one. */
  buffer?: SharedArrayBuffer;
}

/**
 * A fixed set of counters, safe to update from any thread (`Atomics.add`), each padded to its own cache line.
 *
 * @example
 * ```ts
 * // main thread
 * const counters = new PaddedCounters(workers.length);
 * workers.forEach((w, i) => w.postMessage({ buffer: counters.buffer, index: i }));
 * // worker
 * const counters = new PaddedCounters(count, { buffer });
 * counters.add(index);
 * // main thread, later
 * console.log(counters.total());
 * ```
 */
export class PaddedCounters {
  /** The shared memory; post it to workers and attach with `{ buffer }`. */
  readonly buffer: SharedArrayBuffer;
  /** Number of counters. */
  readonly count: number;
  /** Bytes between two counters. */
  readonly stride: number;
  private readonly words: BigInt64Array;
  private readonly step: number;

  constructor(count: number, options: PaddedCountersOptions = {}) {
    this.count = assertNumber('count', count, { min: 1, max: 2 ** 24, integer: true });
    this.stride = assertNumber('options.stride', options.stride ?? cacheLineSize(), { min: 8, max: 4096, integer: true });
    if (this.stride % 8 !== 0) throw new InvalidArgumentError('options.stride', this.stride, 'a multiple of 8');
    const bytes = PaddedCounters.bytesFor(this.count, this.stride);
    if (options.buffer !== undefined && !(options.buffer instanceof SharedArrayBuffer)) {
      throw new InvalidArgumentError('options.buffer', options.buffer, 'a SharedArrayBuffer');
    }
    if (options.buffer !== undefined && options.buffer.byteLength < bytes) {
      throw new InvalidArgumentError('options.buffer', options.buffer, `a SharedArrayBuffer of at least ${bytes} bytes`);
    }
    this.buffer = options.buffer ?? new SharedArrayBuffer(bytes);
    this.words = new BigInt64Array(this.buffer);
    this.step = this.stride / 8;
  }

  /** Bytes needed for `count` counters `stride` bytes apart. */
  static bytesFor(count: number, stride: number = cacheLineSize()): number {
    // One extra line in front keeps counter 0 off whatever line precedes the buffer's start.
    return (count + 1) * stride;
  }

  /** Adds `delta` (default 1) to counter `index`. */
  add(index: number, delta = 1): void {
    if (!Number.isSafeInteger(delta)) throw new InvalidArgumentError('delta', delta, 'a safe integer');
    Atomics.add(this.words, this.offset(index), BigInt(delta));
  }

  /** Current value of counter `index` (exact below 2^53). */
  get(index: number): number {
    return Number(Atomics.load(this.words, this.offset(index)));
  }

  /** Sum of all counters. */
  total(): number {
    let sum = 0n;
    for (let i = 0; i < this.count; i++) sum += Atomics.load(this.words, this.offset(i));
    return Number(sum);
  }

  /** Sets counter `index` (or every counter) back to 0. */
  reset(index?: number): void {
    if (index !== undefined) {
      Atomics.store(this.words, this.offset(index), 0n);
      return;
    }
    for (let i = 0; i < this.count; i++) Atomics.store(this.words, this.offset(i), 0n);
  }

  private offset(index: number): number {
    if (!(index >= 0 && index < this.count && Number.isInteger(index))) {
      throw new InvalidArgumentError('index', index, `an integer in [0, ${this.count - 1}]`);
    }
    return (index + 1) * this.step;
  }
}
