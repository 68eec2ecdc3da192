/**
 * A single-producer single-consumer ring of numbers on a SharedArrayBuffer, for handing work between two
 * threads without `postMessage` (no structured clone, no event-loop turn per message).
 *
 * Layout, one cache line each so the two sides never write the same line: [metadata] [head: consumer's index]
 * [tail: producer's index] [consumer-asleep flag] [producer-asleep flag] [slots...]. Each side keeps a private
 * copy of the other side's index and re-reads the shared one only when the copy says full/empty (the
 * "cached index" trick of Rigtorp's and Vyukov's SPSC queues), so the common case touches only its own line.
 * Atomics.wait/notify are used only when a side actually has to sleep, and a side notifies only when the flag
 * says the other one sleeps.
 */
import { cacheLineSize } from './cache-line.js';
import { InvalidArgumentError, TimeoutError, XError } from './errors.js';
import { throwIfAborted } from './signals.js';
import { assertNumber } from './validate.js';

const MAGIC = 0x58524e47; // "XRNG"
const META = 0;
const HEAD = 1;
const TAIL = 2;
const CONSUMER_ASLEEP = 3;
const PRODUCER_ASLEEP = 4;
const HEADER_LINES = 5;

/** Thrown by {@link SpscRing.attach} when the buffer was not made by {@link SpscRing.create}. */
export class RingLayoutError extends XError<'ERR_RING_LAYOUT'> {
  constructor(detail: string) {
    super('ERR_RING_LAYOUT', `buffer is not an SpscRing: ${detail}`);
  }
}

/** Options of {@link SpscRing.create}. */
export interface SpscRingOptions {
  /** Bytes per header line (default {@link cacheLineSize}). */
  lineSize?: number;
}

/**
 * One producer thread pushes numbers, one consumer thread pops them, in order.
 *
 * Exactly one thread may push and exactly one may pop; that restriction is what makes it wait-free and cheap.
 * Blocking calls ({@link push}, {@link pop}) use `Atomics.wait` and belong in worker threads;
 * on the main thread use {@link tryPush}/{@link tryPop} or {@link popAsync}.
 *
 * @example
 * ```ts
 * // main thread: create and hand the buffer to the worker
 * const ring = SpscRing.create(1024);
 * new Worker(file, { workerData: ring.buffer });
 * ring.push(42);
 * // worker
 * const ring = SpscRing.attach(workerData);
 * const job = ring.pop(); // 42
 * ```
 */
export class SpscRing {
  /** The shared memory; post it to the other thread and {@link attach} there. */
  readonly buffer: SharedArrayBuffer;
  /** Slots in the ring (a power of two). */
  readonly capacity: number;
  private readonly control: Int32Array;
  private readonly slots: Float64Array;
  private readonly mask: number;
  private readonly head: number;
  private readonly tail: number;
  private readonly consumerAsleep: number;
  private readonly producerAsleep: number;
  // Private copies of the other side's index (see the file comment).
  private cachedHead = 0;
  private cachedTail = 0;

  private constructor(buffer: SharedArrayBuffer, capacity: number, lineSize: number) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.mask = capacity - 1;
    const words = lineSize / 4;
    this.control = new Int32Array(buffer, 0, HEADER_LINES * words);
    this.slots = new Float64Array(buffer, HEADER_LINES * lineSize, capacity);
    this.head = HEAD * words;
    this.tail = TAIL * words;
    this.consumerAsleep = CONSUMER_ASLEEP * words;
    this.producerAsleep = PRODUCER_ASLEEP * words;
    this.cachedHead = Atomics.load(this.control, this.head);
    this.cachedTail = Atomics.load(this.control, this.tail);
  }

  /** Allocates a ring of `capacity` slots (a power of two, 2 .. 2^24). */
  static create(capacity: number, options: SpscRingOptions = {}): SpscRing {
    assertNumber('capacity', capacity, { min: 2, max: 2 ** 24, integer: true });
    if ((capacity & (capacity - 1)) !== 0) throw new InvalidArgumentError('capacity', capacity, 'a power of two');
    const lineSize = assertNumber('options.lineSize', options.lineSize ?? cacheLineSize(), { min: 16, max: 1024, integer: true });
    if ((lineSize & (lineSize - 1)) !== 0) throw new InvalidArgumentError('options.lineSize', lineSize, 'a power of two');
    const buffer = new SharedArrayBuffer(HEADER_LINES * lineSize + capacity * 8);
    const meta = new Int32Array(buffer, META, 3);
    meta[0] = MAGIC;
    meta[1] = capacity;
    meta[2] = lineSize;
    return new SpscRing(buffer, capacity, lineSize);
  }

  /** Opens, in another thread, a ring made by {@link create}. */
  static attach(buffer: SharedArrayBuffer): SpscRing {
    if (!(buffer instanceof SharedArrayBuffer)) throw new InvalidArgumentError('buffer', buffer, 'a SharedArrayBuffer');
    if (buffer.byteLength < 12) throw new RingLayoutError(`only ${buffer.byteLength} bytes`);
    const [magic, capacity, lineSize] = new Int32Array(buffer, META, 3) as unknown as [number, number, number];
    if (magic !== MAGIC) throw new RingLayoutError('bad magic number');
    if (buffer.byteLength !== HEADER_LINES * lineSize + capacity * 8) throw new RingLayoutError('size does not match its header');
    return new SpscRing(buffer, capacity, lineSize);
  }

  /** Values currently in the ring (a snapshot: the other side may be moving). */
  get size(): number {
    return (Atomics.load(this.control, this.tail) - Atomics.load(this.control, this.head)) | 0;
  }

  /** Producer: appends `value` if there is room. Returns false when full. */
  tryPush(value: number): boolean {
    const tail = Atomics.load(this.control, this.tail);
    if (((tail - this.cachedHead) | 0) === this.capacity) {
      this.cachedHead = Atomics.load(this.control, this.head);
      if (((tail - this.cachedHead) | 0) === this.capacity) return false;
    }
    this.slots[tail & this.mask] = value;
    // The seq-cst store publishes the slot write above to the consumer's next load of tail.
    Atomics.store(this.control, this.tail, (tail + 1) | 0);
    if (Atomics.load(this.control, this.consumerAsleep) !== 0) Atomics.notify(this.control, this.tail, 1);
    return true;
  }

  /**
   * Producer: appends `values[start..end)` as far as there is room, with one publication for the whole batch.
   * Returns how many were appended.
   */
  pushMany(values: ArrayLike<number>, start = 0, end = values.length): number {
    const tail = Atomics.load(this.control, this.tail);
    let free = this.capacity - ((tail - this.cachedHead) | 0);
    if (free < end - start) {
      this.cachedHead = Atomics.load(this.control, this.head);
      free = this.capacity - ((tail - this.cachedHead) | 0);
    }
    const n = Math.min(free, end - start);
    if (n <= 0) return 0;
    for (let i = 0; i < n; i++) this.slots[(tail + i) & this.mask] = values[start + i]!;
    Atomics.store(this.control, this.tail, (tail + n) | 0);
    if (Atomics.load(this.control, this.consumerAsleep) !== 0) Atomics.notify(this.control, this.tail, 1);
    return n;
  }

  /** Consumer: removes and returns the oldest value, or `undefined` when empty. */
  tryPop(): number | undefined {
    const head = Atomics.load(this.control, this.head);
    if (head === this.cachedTail) {
      this.cachedTail = Atomics.load(this.control, this.tail);
      if (head === this.cachedTail) return undefined;
    }
    const value = this.slots[head & this.mask]!;
    Atomics.store(this.control, this.head, (head + 1) | 0);
    if (Atomics.load(this.control, this.producerAsleep) !== 0) Atomics.notify(this.control, this.head, 1);
    return value;
  }

  /**
   * Consumer: moves up to `max` values into `out` from index 0, oldest first, and returns how many. `max`
   * defaults to `out.length` for a typed array and to the ring's capacity for a plain array (which grows).
   */
  popMany(out: Float64Array | number[], max = Array.isArray(out) ? this.capacity : out.length): number {
    const head = Atomics.load(this.control, this.head);
    let available = (this.cachedTail - head) | 0;
    if (available < max) {
      this.cachedTail = Atomics.load(this.control, this.tail);
      available = (this.cachedTail - head) | 0;
    }
    const n = Math.min(available, max);
    if (n <= 0) return 0;
    for (let i = 0; i < n; i++) out[i] = this.slots[(head + i) & this.mask]!;
    Atomics.store(this.control, this.head, (head + n) | 0);
    if (Atomics.load(this.control, this.producerAsleep) !== 0) Atomics.notify(this.control, this.head, 1);
    return n;
  }

  /**
   * Producer, worker threads: appends `value`, sleeping while the ring is full.
   * @throws {@link TimeoutError} when still full after `timeoutMs`.
   */
  push(value: number, timeoutMs = Infinity): void {
    const deadline = performance.now() + timeoutMs;
    while (!this.tryPush(value)) {
      const observed = Atomics.load(this.control, this.head);
      Atomics.store(this.control, this.producerAsleep, 1);
      // Re-check after raising the flag: the consumer may have popped in between (lost wake-up otherwise).
      if (((Atomics.load(this.control, this.tail) - observed) | 0) === this.capacity) {
        const left = deadline - performance.now();
        if (left <= 0 || Atomics.wait(this.control, this.head, observed, left) === 'timed-out') {
          Atomics.store(this.control, this.producerAsleep, 0);
          if (this.tryPush(value)) return;
          throw new TimeoutError(timeoutMs, `ring stayed full for ${timeoutMs} ms`);
        }
      }
      Atomics.store(this.control, this.producerAsleep, 0);
    }
  }

  /**
   * Consumer, worker threads: removes and returns the oldest value, sleeping while the ring is empty.
   * @throws {@link TimeoutError} when still empty after `timeoutMs`.
   */
  pop(timeoutMs = Infinity): number {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const value = this.tryPop();
      if (value !== undefined) return value;
      const observed = Atomics.load(this.control, this.tail);
      Atomics.store(this.control, this.consumerAsleep, 1);
      if (Atomics.load(this.control, this.head) === observed) {
        const left = deadline - performance.now();
        if (left <= 0 || Atomics.wait(this.control, this.tail, observed, left) === 'timed-out') {
          Atomics.store(this.control, this.consumerAsleep, 0);
          const last = this.tryPop();
          if (last !== undefined) return last;
          throw new TimeoutError(timeoutMs, `ring stayed empty for ${timeoutMs} ms`);
        }
      }
      Atomics.store(this.control, this.consumerAsleep, 0);
    }
  }

  /**
   * Consumer, any thread: resolves with the oldest value, waiting without blocking the event loop
   * (`Atomics.waitAsync`) while the ring is empty. Rejects with the abort reason when `signal` aborts.
   */
  async popAsync(signal?: AbortSignal): Promise<number> {
    for (;;) {
      throwIfAborted(signal);
      const value = this.tryPop();
      if (value !== undefined) return value;
      const observed = Atomics.load(this.control, this.tail);
      Atomics.store(this.control, this.consumerAsleep, 1);
      if (Atomics.load(this.control, this.head) === observed) {
        const wait = Atomics.waitAsync(this.control, this.tail, observed);
        if (wait.async) await raceAbort(wait.value, signal, () => Atomics.notify(this.control, this.tail));
      }
      Atomics.store(this.control, this.consumerAsleep, 0);
    }
  }
}

// Waking our own waiter is the only way to settle a pending Atomics.waitAsync early.
function raceAbort(waiting: Promise<unknown>, signal: AbortSignal | undefined, wake: () => void): Promise<unknown> {
  if (signal === undefined) return waiting;
  const onAbort = (): void => {
    wake();
  };
  signal.addEventListener('abort', onAbort, { once: true });
  return waiting.finally(() => signal.removeEventListener('abort', onAbort));
}
