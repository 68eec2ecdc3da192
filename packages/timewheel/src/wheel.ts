/**
 * What both wheels share: the timer API, the single clock timer that drives the wheel, the queue of due timers
 * and how they fire. A subclass decides only where a timer waits (`place`), which timers are due at a tick
 * (`collect`) and when the next bucket needs attention (`nextWakeTick`).
 *
 * Time is counted in ticks of `tickMs`. A timer with deadline `d` is due at tick `ceil(d / tickMs)` and fires
 * once the clock has reached that tick's start, so it can never fire before `d`; when the event loop is free
 * it fires less than one tick (plus the loop's own wake-up latency) after `d`.
 */
import {
  type Clock,
  type ClockTimer,
  ClosedError,
  InvalidArgumentError,
  assertClock,
  assertFunction,
  assertKnownKeys,
  assertNumber,
  systemClock,
  RateSampler,
  type TelemetryHistogram,
} from '@x/core';
import { TooManyTimersError } from './errors.js';
import { Timer, type TimerId, type TimerOwner } from './timer.js';
import { type WheelKind, type WheelTelemetry, watchWheel } from './telemetry.js';
import { DEAD, DUE, FIRING, INITIAL_CAPACITY, INTERVAL, MAX_SLOTS, QUEUED, REF, SCHEDULED, TimerStore } from './timer-store.js';

/** Largest `wheelSize`: keeps the buckets' own slots far below the store's limit. */
const MAX_WHEEL_SIZE = 2 ** 16;
/** Largest `maxPending` (and the default): the store's slots minus room for every bucket. */
export const MAX_PENDING = MAX_SLOTS - 2 ** 18;

/**
 * Longest delay, in ms: 2^53 - 1 (about 285,000 years). Past it a deadline is no longer exact, and a hierarchical
 * wheel would make a level for every factor of `wheelSize` up to it (a 1e300 ms delay: 63 levels of 65,536
 * buckets).
 */
const MAX_DELAY_MS = Number.MAX_SAFE_INTEGER;

/** Options shared by both wheels. */
export interface TimerWheelOptions {
  /** Source of time and of the one timer that drives the wheel; pass a `ManualClock` in tests. Default: `systemClock`. */
  clock?: Clock;
  /** Resolution in ms (integer >= 1, default 1): timers fire at most this much late on a free event loop. */
  tickMs?: number;
  /** Buckets per wheel (a power of two, at most 65536). */
  wheelSize?: number;
  /** Largest number of pending timers; one more throws `TooManyTimersError`. Default and upper bound: 16,515,072. */
  maxPending?: number;
  /**
   * Timers the wheel makes room for up front (an integer from 1 to `maxPending`; default: room for 1,024, doubled
   * as needed). Give the number a wheel will hold at once when it is large: the storage (about 42 bytes a timer) is
   * allocated and written through when the wheel is made, so filling it costs what refilling it costs, and no
   * `schedule()` stops to grow it (growing a full wheel of 1,000,000 timers copies about 34 MB in one call).
   */
  initialCapacity?: number;
  /**
   * Most callbacks run per wake-up; the rest run on the next turn of the event loop, so a burst of expiries
   * cannot stall I/O. Default: unlimited.
   */
  maxExpirationsPerTick?: number;
  /**
   * Receives errors thrown by callbacks. By default they are rethrown from a microtask once the current
   * batch has fired, so they surface as uncaught exceptions, as they would from Node's `setTimeout`.
   */
  onError?: (error: unknown) => void;
}

/** Counters for observing a wheel. */
export interface TimerWheelStats {
  /** Timers waiting to fire (intervals count until cancelled). */
  pending: number;
  /** Timers scheduled since creation. */
  scheduled: number;
  /** Callbacks run. */
  fired: number;
  /** Timers cancelled before firing. */
  cancelled: number;
  /** Times the driving clock timer woke the wheel. */
  wakeups: number;
}

const OPTION_KEYS = ['clock', 'tickMs', 'wheelSize', 'maxPending', 'initialCapacity', 'maxExpirationsPerTick', 'onError'];

type Callback = (...args: unknown[]) => void;

/**
 * Slots for `timers` timers and the buckets' sentinel slots: one per bucket, `wheelSize` per level, and enough
 * levels for any delay (a hierarchical wheel adds levels as delays need them; a hashed wheel has one).
 */
function storageFor(timers: number, wheelSize: number): number {
  const levels = Math.ceil(54 / Math.log2(wheelSize));
  return Math.min(timers + wheelSize * levels, MAX_SLOTS);
}

/** Base class of {@link HashedWheel} and {@link HierarchicalWheel}. */
export abstract class TimerWheel implements Disposable {
  protected readonly store: TimerStore;
  protected readonly clock: Clock;
  protected readonly tickMs: number;
  protected readonly wheelSize: number;
  /** Every bucket up to this tick has been visited. */
  protected currentTick: number;

  private readonly owner: TimerOwner;
  private readonly maxPending: number;
  private readonly budget: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  /** Slots due to fire, in firing order, from `dueHead` on. */
  private due: number[] = [];
  private dueHead = 0;
  /** Timers that were already due when scheduled; they join the due queue at the next wake-up. */
  private overdue: number[] = [];
  private refCount = 0;
  private driver: ClockTimer | undefined;
  private armedTick = Infinity;
  private closed = false;
  private readonly counters: TimerWheelStats = { pending: 0, scheduled: 0, fired: 0, cancelled: 0, wakeups: 0 };
  private readonly telemetry: WheelTelemetry;
  /** Where a sample of firings' lateness goes, when metrics are recorded. */
  private readonly lateness: TelemetryHistogram | undefined;
  private readonly latenessSample = new RateSampler();

  protected constructor(options: TimerWheelOptions, defaultWheelSize: number, kind: WheelKind) {
    assertKnownKeys('options', options, OPTION_KEYS);
    this.clock = options.clock === undefined ? systemClock : assertClock('options.clock', options.clock);
    this.tickMs = assertNumber('options.tickMs', options.tickMs ?? 1, { min: 1, integer: true });
    this.wheelSize = assertNumber('options.wheelSize', options.wheelSize ?? defaultWheelSize, { min: 2, max: MAX_WHEEL_SIZE, integer: true });
    if ((this.wheelSize & (this.wheelSize - 1)) !== 0) {
      throw new InvalidArgumentError('options.wheelSize', this.wheelSize, 'a power of two');
    }
    this.maxPending = assertNumber('options.maxPending', options.maxPending ?? MAX_PENDING, { min: 1, max: MAX_PENDING, integer: true });
    this.store = new TimerStore(
      options.initialCapacity === undefined
        ? INITIAL_CAPACITY
        : storageFor(assertNumber('options.initialCapacity', options.initialCapacity, { min: 1, max: this.maxPending, integer: true }), this.wheelSize),
    );
    this.budget =
      options.maxExpirationsPerTick === undefined
        ? Infinity
        : assertNumber('options.maxExpirationsPerTick', options.maxExpirationsPerTick, { min: 1, integer: true });
    this.onError = options.onError === undefined ? undefined : assertFunction<(error: unknown) => void>('options.onError', options.onError);
    this.currentTick = this.tickAt(this.clock.now());
    this.telemetry = watchWheel(this, kind, this.counters);
    this.lateness = this.telemetry.lateness;
    this.owner = {
      cancel: (id) => this.cancel(id),
      refresh: (id) => this.refresh(id),
      setRef: (id, ref) => this.setRef(id, ref),
      hasRef: (id) => {
        const slot = this.store.slotOf(id);
        return slot !== -1 && (this.store.flags[slot]! & REF) !== 0;
      },
      isPending: (id) => this.isPending(id),
    };
  }

  /**
   * Calls `callback(...args)` once, `delay` ms from now (a number from 0 to 2^53-1, also above 2^31-1 ms), and
   * returns a handle like Node's `Timeout`. The callback is called as a plain function (`this` is undefined).
   *
   * @example
   * ```ts
   * const wheel = new HierarchicalWheel();
   * const timer = wheel.setTimeout((id) => expire(id), 30_000, sessionId);
   * timer.cancel();
   * ```
   */
  setTimeout<A extends unknown[]>(callback: (...args: A) => void, delay: number, ...args: A): Timer;
  setTimeout(callback: Callback, delay: number): Timer {
    // `arguments` instead of a rest parameter: no array is allocated for the common call without arguments.
    // eslint-disable-next-line prefer-rest-params
    const args = arguments.length > 2 ? Array.prototype.slice.call(arguments, 2) : undefined;
    return new Timer(this.owner, this.add(callback, delay, args, REF));
  }

  /**
   * Calls `callback(...args)` every `delay` ms (>= 1) until cancelled. The next run is due one `delay` after the
   * previous deadline; runs missed while the event loop was blocked are skipped, not bunched.
   *
   * @example
   * ```ts
   * const flush = wheel.setInterval(() => metrics.flush(), 10_000).unref();
   * ```
   */
  setInterval<A extends unknown[]>(callback: (...args: A) => void, delay: number, ...args: A): Timer;
  setInterval(callback: Callback, delay: number): Timer {
    // At least 1 ms, as Node's setInterval: a smaller one could vanish against a large deadline (1000 + 5e-324 is
    // 1000) and the timer would be due again at once, for ever.
    if (typeof delay !== 'number' || !(delay >= 1 && delay <= MAX_DELAY_MS)) assertNumber('delay', delay, { min: 1, max: MAX_DELAY_MS });
    // eslint-disable-next-line prefer-rest-params
    const args = arguments.length > 2 ? Array.prototype.slice.call(arguments, 2) : undefined;
    return new Timer(this.owner, this.add(callback, delay, args, REF | INTERVAL));
  }

  /**
   * The lean form of `setTimeout` for very many timers: no handle object, just a {@link TimerId} to pass to
   * {@link cancel} or {@link refresh}. The timer keeps the process alive like a `setTimeout` timer.
   *
   * An id is the timer's slot and that slot's generation in one number; an id of a timer that fired or was
   * cancelled is recognised as stale, even after its slot holds another timer.
   *
   * @example
   * ```ts
   * const id = wheel.schedule(() => connection.destroy(), 30_000);
   * connection.on('close', () => wheel.cancel(id));
   * ```
   */
  schedule(callback: () => void, delay: number): TimerId {
    return this.add(callback, delay, undefined, REF);
  }

  /** Cancels a pending timer. Returns false when the id is not pending (fired, cancelled, or not an id). */
  cancel(id: TimerId): boolean {
    const { store } = this;
    const slot = store.slotOf(id);
    if (slot === -1) return false;
    const state = store.state[slot];
    this.dropRef(slot);
    this.counters.pending--;
    this.counters.cancelled++;
    if (state === SCHEDULED) store.unlink(slot);
    if (state === SCHEDULED && (store.flags[slot]! & QUEUED) === 0) {
      store.release(slot);
    } else {
      // Listed in the due queue, or firing (its callback is running): parked as dead, released when the queue
      // reaches it or the callback returns, so no queue entry ever points at a reused slot.
      store.state[slot] = DEAD;
      store.retire(slot);
    }
    return true;
  }

  /**
   * Restarts a pending timer with its original delay, counted from now; its id stays the same. Returns false
   * when the id is not pending.
   */
  refresh(id: TimerId): boolean {
    const { store } = this;
    const slot = store.slotOf(id);
    if (slot === -1) return false;
    if (store.state[slot] === SCHEDULED) store.unlink(slot);
    // A due timer keeps its entry in the due queue (QUEUED); that entry fires it only once it is due again.
    store.deadline[slot] = this.clock.now() + store.delay[slot]!;
    store.renumber(slot);
    this.insert(slot);
    return true;
  }

  /** Whether `id` is a pending timer of this wheel. */
  isPending(id: TimerId): boolean {
    return this.store.slotOf(id) !== -1;
  }

  /** Number of pending timers. */
  get size(): number {
    return this.counters.pending;
  }

  /** A snapshot of the wheel's counters. */
  stats(): TimerWheelStats {
    return { ...this.counters };
  }

  /** Cancels every pending timer and stops the driving timer. Further scheduling throws `ClosedError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.driver?.cancel();
    this.driver = undefined;
    this.store.forEachTimer((slot) => this.store.release(slot));
    this.due = [];
    this.dueHead = 0;
    this.overdue = [];
    // What was pending is cancelled: the counts still add up (scheduled = fired + cancelled + pending).
    this.counters.cancelled += this.counters.pending;
    this.counters.pending = 0;
    this.refCount = 0;
    this.telemetry.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Links a timer into the bucket for `dueTick` (always after `currentTick`) and returns the tick at which that
   * bucket must be visited.
   */
  protected abstract place(slot: number, dueTick: number): number;

  /** Moves every timer due at or before `nowTick` out of its bucket into `out` (any order); advances `currentTick`. */
  protected abstract collect(nowTick: number, out: number[]): void;

  /** The tick at which the next bucket needs a visit, or Infinity when no timer waits in a bucket. */
  protected abstract nextWakeTick(): number;

  /** The tick at which a timer with deadline `deadline` (clock ms) is due. */
  protected dueTickOf(deadline: number): number {
    return Math.ceil(deadline / this.tickMs);
  }

  /** The last tick whose start `now` has reached (rounded down exactly: never a tick the clock has not reached). */
  private tickAt(now: number): number {
    const tick = Math.floor(now / this.tickMs);
    return tick * this.tickMs > now ? tick - 1 : tick;
  }

  private add(callback: Callback, delay: number, args: unknown[] | undefined, flags: number): TimerId {
    // Checked inline (this is the hot path); the assertions build the typed error only on failure.
    if (typeof callback !== 'function') assertFunction('callback', callback);
    // A number, not a numeric string: `now + '30000'` would be text.
    if (typeof delay !== 'number' || !(delay >= 0 && delay <= MAX_DELAY_MS)) assertNumber('delay', delay, { min: 0, max: MAX_DELAY_MS });
    if (this.closed) throw new ClosedError('timer wheel');
    if (this.counters.pending >= this.maxPending) throw new TooManyTimersError(this.maxPending);
    const { store } = this;
    const slot = store.allocateTimer(callback, this.clock.now() + delay, delay, flags);
    if (args !== undefined) store.args.set(slot, args);
    this.counters.pending++;
    this.counters.scheduled++;
    this.addRef();
    this.insert(slot);
    return store.idOf(slot);
  }

  private insert(slot: number): void {
    const dueTick = this.dueTickOf(this.store.deadline[slot]!);
    if (dueTick <= this.currentTick) {
      // Already due (a zero delay on a tick boundary, or the wheel is catching up): no bucket will be visited for
      // it again, so it waits for the very next wake-up, never for the batch being fired now.
      this.store.state[slot] = DUE;
      this.overdue.push(slot);
      if (this.currentTick < this.armedTick) this.arm(this.currentTick);
      return;
    }
    const wakeTick = this.place(slot, dueTick);
    if (wakeTick < this.armedTick) this.arm(wakeTick);
  }

  private setRef(id: TimerId, ref: boolean): void {
    const slot = this.store.slotOf(id);
    if (slot === -1) return;
    const { flags } = this.store;
    if (((flags[slot]! & REF) !== 0) === ref) return;
    if (ref) {
      flags[slot]! |= REF;
      this.addRef();
    } else {
      flags[slot]! &= ~REF;
      if (--this.refCount === 0) this.driver?.unref();
    }
  }

  private addRef(): void {
    if (++this.refCount === 1) this.driver?.ref();
  }

  private dropRef(slot: number): void {
    if ((this.store.flags[slot]! & REF) !== 0 && --this.refCount === 0) this.driver?.unref();
  }

  /** (Re)arms the one clock timer for the start of `tick`. */
  private arm(tick: number): void {
    this.driver?.cancel();
    this.armedTick = tick;
    this.driver = this.clock.setTimer(this.wake, Math.max(0, tick * this.tickMs - this.clock.now()));
    if (this.refCount === 0) this.driver.unref();
  }

  private readonly wake = (): void => {
    this.driver = undefined;
    this.armedTick = Infinity;
    this.counters.wakeups++;
    const nowTick = this.tickAt(this.clock.now());
    const batch = this.overdue;
    this.overdue = [];
    if (nowTick > this.currentTick) this.collect(nowTick, batch);
    this.enqueueDue(batch);
    this.fireDue();
    if (this.closed) return;
    if (this.dueHead < this.due.length) this.arm(this.currentTick); // over budget: continue on the next turn
    else {
      const next = this.nextWakeTick();
      if (next < this.armedTick) this.arm(next);
    }
  };

  private enqueueDue(batch: number[]): void {
    const { store } = this;
    const fresh: number[] = [];
    for (const slot of batch) {
      // A timer refreshed while queued is already listed once; its old entry will fire it.
      if ((store.flags[slot]! & QUEUED) !== 0) continue;
      store.flags[slot]! |= QUEUED;
      fresh.push(slot);
    }
    if (fresh.length === 0) return;
    const { compare } = store;
    if (!isSorted(fresh, compare)) fresh.sort(compare);
    this.due = this.dueHead === this.due.length ? fresh : merge(this.due, this.dueHead, fresh, compare);
    this.dueHead = 0;
  }

  private fireDue(): void {
    const { store } = this;
    let errors: unknown[] | undefined;
    for (let budget = this.budget; budget > 0 && this.dueHead < this.due.length; ) {
      const slot = this.due[this.dueHead++]!;
      store.flags[slot]! &= ~QUEUED;
      const state = store.state[slot];
      if (state === DEAD) {
        store.release(slot);
        continue;
      }
      if (state !== DUE) continue; // refreshed back into a bucket while queued
      budget--;
      store.state[slot] = FIRING;
      this.counters.fired++;
      if (this.lateness !== undefined && this.latenessSample.sample()) this.lateness.record((this.clock.now() - store.deadline[slot]!) / 1000, this.telemetry.attributes);
      try {
        const args = store.args.size > 0 ? store.args.get(slot) : undefined;
        // Called as a plain function: `this` is undefined, not the wheel's storage.
        const callback = store.callbacks[slot]!;
        if (args === undefined) callback();
        else callback(...args);
      } catch (error) {
        (errors ??= []).push(error);
      }
      if (this.closed) return;
      this.afterFire(slot);
    }
    if (this.dueHead === this.due.length) {
      this.due = [];
      this.dueHead = 0;
    }
    if (errors !== undefined) this.report(errors);
  }

  private afterFire(slot: number): void {
    const { store } = this;
    const state = store.state[slot];
    if (state === DEAD) {
      store.release(slot); // cancelled from inside its own callback
    } else if (state === FIRING) {
      if ((store.flags[slot]! & INTERVAL) !== 0) {
        const now = this.clock.now();
        const next = store.deadline[slot]! + store.delay[slot]!;
        store.deadline[slot] = next > now ? next : now + store.delay[slot]!;
        this.insert(slot);
      } else {
        this.dropRef(slot);
        this.counters.pending--;
        store.release(slot);
      }
    }
    // Otherwise it was refreshed from inside its callback and is already placed again.
  }

  private report(errors: unknown[]): void {
    for (const error of errors) {
      if (this.onError === undefined) {
        queueMicrotask(() => {
          throw error;
        });
        continue;
      }
      try {
        this.onError(error);
      } catch (fromHandler) {
        queueMicrotask(() => {
          throw fromHandler;
        });
      }
    }
  }
}

function isSorted(slots: number[], compare: (a: number, b: number) => number): boolean {
  for (let i = 1; i < slots.length; i++) if (compare(slots[i - 1]!, slots[i]!) > 0) return false;
  return true;
}

function merge(left: number[], from: number, right: number[], compare: (a: number, b: number) => number): number[] {
  const out: number[] = [];
  let i = from;
  let j = 0;
  while (i < left.length && j < right.length) out.push(compare(left[i]!, right[j]!) <= 0 ? left[i++]! : right[j++]!);
  while (i < left.length) out.push(left[i++]!);
  while (j < right.length) out.push(right[j++]!);
  return out;
}
