/**
 * Storage for timers and buckets, as parallel typed arrays indexed by a slot number (struct of arrays).
 *
 * A million pending timers as objects with links, a deadline and a callback cost about 100 bytes each and
 * millions of pointers for the garbage collector to trace; here the numbers live in typed arrays the collector
 * never scans, and only the callback and the user's handle are JS references.
 *
 * Buckets are circular doubly linked lists threaded through `next`/`prev`, each with a sentinel slot of its own,
 * so linking and unlinking a timer is O(1) and needs no knowledge of which bucket it is in.
 */

// Where a slot is in its life (kept in `state`).
export const FREE = 0;
/** Linked into a bucket. */
export const SCHEDULED = 1;
/** Taken out of its bucket, waiting in the due queue. */
export const DUE = 2;
/** Its callback is running. */
export const FIRING = 3;
/** A bucket's sentinel. */
export const SENTINEL = 4;
/** Cancelled or refreshed while waiting in the due queue; released when the queue reaches it. */
export const DEAD = 5;

// Flag bits (kept in `flags`).
/** The timer keeps the process alive. */
export const REF = 1;
/** The timer repeats. */
export const INTERVAL = 2;
/** The slot has an entry in the due queue (at most one: a refreshed timer reuses its entry). */
export const QUEUED = 4;

/** Most timers (and bucket sentinels) a store can hold: slot numbers fit in the low 24 bits of a TimerId. */
export const MAX_SLOTS = 2 ** 24;
const GENERATION_MASK = 2 ** 29 - 1;

/** Slots a store starts with unless told otherwise; it doubles as it fills. */
export const INITIAL_CAPACITY = 1024;
const NONE = -1;

export class TimerStore {
  /** Absolute deadline in clock milliseconds. */
  deadline: Float64Array;
  /** The delay the timer was created with (refresh and intervals reuse it). */
  delay: Float64Array;
  next: Int32Array;
  prev: Int32Array;
  /** Creation order, to fire timers with equal deadlines in the order they were scheduled. */
  seq: Int32Array;
  state: Uint8Array;
  flags: Uint8Array;
  /**
   * Bumped whenever a slot stops belonging to its timer, so a handle kept after its timer fired or was cancelled
   * recognises that the slot is no longer its own (the slot may already hold another timer).
   */
  generation: Int32Array;
  readonly callbacks: Array<((...args: unknown[]) => void) | undefined> = [];
  /** Arguments for the few timers that have any. */
  readonly args = new Map<number, unknown[]>();
  private capacity = 0;
  /** Slots handed out at least once; those above it have never been used. */
  private highWater = 0;
  private live = 0;
  private freeHead = NONE;
  private seqCounter = 0;

  /**
   * `capacity` slots to start with. Above the default, the storage is written through once now (see prefault):
   * a wheel sized for what it will hold fills as cheaply as it refills, and never stops a schedule() to grow.
   */
  constructor(capacity = INITIAL_CAPACITY) {
    this.deadline = new Float64Array(0);
    this.delay = new Float64Array(0);
    this.next = new Int32Array(0);
    this.prev = new Int32Array(0);
    this.seq = new Int32Array(0);
    this.state = new Uint8Array(0);
    this.flags = new Uint8Array(0);
    this.generation = new Int32Array(0);
    this.grow(capacity);
    if (capacity > INITIAL_CAPACITY) this.prefault();
  }

  /** Allocates a bucket: an empty circular list whose sentinel is the returned slot. */
  allocateSentinel(): number {
    const slot = this.allocate();
    this.state[slot] = SENTINEL;
    this.next[slot] = slot;
    this.prev[slot] = slot;
    return slot;
  }

  /** Allocates a timer slot (not linked anywhere yet). */
  allocateTimer(callback: (...args: unknown[]) => void, deadline: number, delay: number, flags: number): number {
    const slot = this.allocate();
    this.callbacks[slot] = callback;
    this.deadline[slot] = deadline;
    this.delay[slot] = delay;
    this.flags[slot] = flags;
    this.renumber(slot);
    return slot;
  }

  /** Gives `slot` the next creation number: it now ties after every timer scheduled before. */
  renumber(slot: number): void {
    this.seq[slot] = this.seqCounter = (this.seqCounter + 1) | 0;
  }

  /** Detaches the slot from its id: from now on the id (and any handle holding it) sees its timer as gone. */
  retire(slot: number): void {
    this.generation[slot] = (this.generation[slot]! + 1) & GENERATION_MASK;
  }

  /**
   * The id of the timer now in `slot`: slot number plus generation, exact in a double (below 2^53). An id stays
   * valid while its timer is pending; afterwards the generation differs, even when the slot holds another timer
   * (a slot must be reused 2^29 times before an id could repeat).
   */
  idOf(slot: number): number {
    return this.generation[slot]! * MAX_SLOTS + slot;
  }

  /** The slot of a pending timer's id, or -1 when the id is stale or malformed. */
  slotOf(id: number): number {
    const slot = id % MAX_SLOTS;
    if (!(slot >= 0 && slot < this.highWater) || !Number.isInteger(id)) return -1;
    return (id - slot) / MAX_SLOTS === this.generation[slot] && this.state[slot] !== SENTINEL ? slot : -1;
  }

  /** Returns a timer slot to the free list and drops its references. */
  release(slot: number): void {
    this.retire(slot);
    this.state[slot] = FREE;
    this.live--;
    this.callbacks[slot] = undefined;
    if (this.args.size > 0) this.args.delete(slot);
    this.next[slot] = this.freeHead;
    this.freeHead = slot;
  }

  /** Links `slot` at the tail of the bucket whose sentinel is `sentinel` (insertion order is kept). */
  append(sentinel: number, slot: number): void {
    const tail = this.prev[sentinel]!;
    this.next[tail] = slot;
    this.prev[slot] = tail;
    this.next[slot] = sentinel;
    this.prev[sentinel] = slot;
    this.state[slot] = SCHEDULED;
  }

  /** Unlinks `slot` from whatever bucket it is in. */
  unlink(slot: number): void {
    const before = this.prev[slot]!;
    const after = this.next[slot]!;
    this.next[before] = after;
    this.prev[after] = before;
  }

  /** Calls `visit` for every slot holding a live or dead timer (not sentinels, not free slots). */
  forEachTimer(visit: (slot: number) => void): void {
    for (let slot = 0; slot < this.highWater; slot++) {
      const state = this.state[slot];
      if (state !== FREE && state !== SENTINEL) visit(slot);
    }
  }

  isEmpty(sentinel: number): boolean {
    return this.next[sentinel] === sentinel;
  }

  /** Orders two timer slots by deadline, then by creation (wrap-safe). */
  compare = (a: number, b: number): number => this.deadline[a]! - this.deadline[b]! || ((this.seq[a]! - this.seq[b]!) | 0);

  /** Slots in use, timers and sentinels. */
  get size(): number {
    return this.live;
  }

  private allocate(): number {
    let slot = this.freeHead;
    if (slot === NONE) {
      if (this.highWater === this.capacity) this.grow(Math.min(this.capacity * 2, MAX_SLOTS));
      if (this.highWater === MAX_SLOTS) throw new RangeError(`a wheel holds at most ${MAX_SLOTS} timers`);
      slot = this.highWater++;
    } else {
      this.freeHead = this.next[slot]!;
    }
    this.live++;
    return slot;
  }

  /**
   * Touches every page of the typed arrays and sizes the callbacks array to the capacity. Why: a new typed array's
   * memory is mapped by the kernel only when first written, and the callbacks array grows by copying as it is
   * appended to; a first fill that pays for both costs about twice a refill of the same storage (measured:
   * 1,000,000 timers, 195-230 ns a timer with the storage allocated but untouched, 140-155 ns touched, refills
   * 85-150 ns).
   */
  private prefault(): void {
    for (const array of [this.deadline, this.delay, this.next, this.prev, this.seq, this.state, this.flags, this.generation]) array.fill(0);
    const { callbacks } = this;
    while (callbacks.length < this.capacity) callbacks.push(undefined);
  }

  private grow(capacity: number): void {
    const copy = <T extends Float64Array | Int32Array | Uint8Array>(from: T, make: new (n: number) => T): T => {
      const to = new make(capacity);
      to.set(from);
      return to;
    };
    this.deadline = copy(this.deadline, Float64Array);
    this.delay = copy(this.delay, Float64Array);
    this.next = copy(this.next, Int32Array);
    this.prev = copy(this.prev, Int32Array);
    this.seq = copy(this.seq, Int32Array);
    this.state = copy(this.state, Uint8Array);
    this.flags = copy(this.flags, Uint8Array);
    this.generation = copy(this.generation, Int32Array);
    this.capacity = capacity;
  }
}
