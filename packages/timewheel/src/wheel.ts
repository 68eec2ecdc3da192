/**
 * What both wheels share: the Node-like timer API, the single clock timer that drives the wheel, the queue of
 * due timers and how they fire. A subclass decides only where a timer waits (`place`), which timers are due at
 * a tick (`collect`) and when the next bucket needs attention (`nextWakeTick`).
 *
 * Time is counted in ticks of `tickMs`. A timer with deadline `d` is due at tick `ceil(d / tickMs)` and fires
 * once the clock has reached that tick's start, so it can never fire before `d`; when the event loop is free
 * it fires less than one tick (plus Node's own timer granularity) after `d`.
 */
import {
  type Clock,
  type ClockTimer,
  ClosedError,
  InvalidArgumentError,
  assertFunction,
  assertKnownKeys,
  assertNumber,
  systemClock,
} from '@x/core';
import { TooManyTimersError } from './errors.js';
import { Timer, type TimerOwner } from './timer.js';
import { DEAD, DUE, FIRING, INTERVAL, REF, SCHEDULED, TimerStore } from './timer-store.js';

/** Options shared by both wheels. */
export interface TimerWheelOptions {
  /** Source of time and of the one timer that drives the wheel; pass a `ManualClock` in tests. Default: `systemClock`. */
  clock?: Clock;
  /** Resolution in ms (integer >= 1, default 1): timers fire at most this much late on a free event loop. */
  tickMs?: number;
  /** Buckets per wheel (a power of two). */
  wheelSize?: number;
  /** Largest number of pending timers; one more throws `TooManyTimersError`. Default: unlimited. */
  maxPending?: number;
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

const OPTION_KEYS = ['clock', 'tickMs', 'wheelSize', 'maxPending', 'maxExpirationsPerTick', 'onError'];

/** Base class of {@link HashedWheel} and {@link HierarchicalWheel}. */
export abstract class TimerWheel implements Disposable {
  protected readonly store = new TimerStore();
  protected readonly clock: Clock;
  protected readonly tickMs: number;
  protected readonly wheelSize: number;
  /** Every timer due at or before this tick has been collected. */
  protected currentTick: number;

  private readonly handles: Array<Timer | undefined> = [];
  private readonly owner: TimerOwner;
  private readonly maxPending: number;
  private readonly budget: number;
  private readonly onError: ((error: unknown) => void) | undefined;
  private due: number[] = [];
  private dueHead = 0;
  /** Timers that were already due when scheduled; they join the due queue at the next wake-up. */
  private overdue: number[] = [];
  private refCount = 0;
  private driver: ClockTimer | undefined;
  private armedTick = Infinity;
  private closed = false;
  private readonly counters = { pending: 0, scheduled: 0, fired: 0, cancelled: 0, wakeups: 0 };

  protected constructor(options: TimerWheelOptions, defaultWheelSize: number) {
    assertKnownKeys('options', options, OPTION_KEYS);
    this.clock = options.clock ?? systemClock;
    this.tickMs = assertNumber('options.tickMs', options.tickMs ?? 1, { min: 1, integer: true });
    this.wheelSize = assertNumber('options.wheelSize', options.wheelSize ?? defaultWheelSize, { min: 2, max: 2 ** 20, integer: true });
    if ((this.wheelSize & (this.wheelSize - 1)) !== 0) {
      throw new InvalidArgumentError('options.wheelSize', this.wheelSize, 'a power of two');
    }
    this.maxPending = optionalLimit('options.maxPending', options.maxPending);
    this.budget = optionalLimit('options.maxExpirationsPerTick', options.maxExpirationsPerTick);
    this.onError = options.onError === undefined ? undefined : assertFunction<(error: unknown) => void>('options.onError', options.onError);
    this.currentTick = this.tickAt(this.clock.now());
    this.owner = {
      cancel: (timer) => this.cancelTimer(timer),
      refresh: (timer) => this.refreshTimer(timer),
      setRef: (timer, ref) => this.setTimerRef(timer, ref),
      hasRef: (timer) => this.isLive(timer) && (this.store.flags[timer.slot]! & REF) !== 0,
      isPending: (timer) => this.isLive(timer),
    };
  }

  /**
   * Calls `callback(...args)` once, `delay` ms from now (any finite delay >= 0, also above 2^31-1 ms).
   *
   * @example
   * ```ts
   * const wheel = new HierarchicalWheel();
   * const timer = wheel.setTimeout((id) => expire(id), 30_000, sessionId);
   * timer.cancel();
   * ```
   */
  setTimeout<A extends unknown[]>(callback: (...args: A) => void, delay: number, ...args: A): Timer {
    return this.schedule(callback as (...args: unknown[]) => void, delay, args, REF);
  }

  /**
   * Calls `callback(...args)` every `delay` ms (> 0) until cancelled. The next run is due one `delay` after the
   * previous deadline; runs missed while the event loop was blocked are skipped, not bunched.
   */
  setInterval<A extends unknown[]>(callback: (...args: A) => void, delay: number, ...args: A): Timer {
    assertNumber('delay', delay, { min: Number.MIN_VALUE });
    return this.schedule(callback as (...args: unknown[]) => void, delay, args, REF | INTERVAL);
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
    this.store.forEachTimer((slot) => {
      this.handles[slot] = undefined;
      this.store.release(slot);
    });
    this.due = [];
    this.dueHead = 0;
    this.overdue = [];
    this.counters.pending = 0;
    this.refCount = 0;
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

  /** The last tick whose start `now` has reached (rounded down, exactly: never a tick the clock has not reached). */
  private tickAt(now: number): number {
    const tick = Math.floor(now / this.tickMs);
    return tick * this.tickMs > now ? tick - 1 : tick;
  }

  /** The tick at which a timer with deadline `deadline` (clock ms) is due. */
  protected dueTickOf(deadline: number): number {
    return Math.ceil(deadline / this.tickMs);
  }

  private schedule(callback: (...args: unknown[]) => void, delay: number, args: unknown[], flags: number): Timer {
    assertFunction('callback', callback);
    assertNumber('delay', delay, { min: 0 });
    if (this.closed) throw new ClosedError('timer wheel');
    if (this.counters.pending >= this.maxPending) throw new TooManyTimersError(this.maxPending);
    const slot = this.store.allocateTimer(callback, this.clock.now() + delay, delay, flags);
    if (args.length > 0) this.store.args.set(slot, args);
    const timer = new Timer(this.owner, slot);
    this.handles[slot] = timer;
    this.counters.pending++;
    this.counters.scheduled++;
    this.addRef();
    this.insert(slot);
    return timer;
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

  private isLive(timer: Timer): boolean {
    return this.handles[timer.slot] === timer;
  }

  private cancelTimer(timer: Timer): boolean {
    if (!this.isLive(timer)) return false;
    const slot = timer.slot;
    const state = this.store.state[slot];
    if (state === SCHEDULED) this.store.unlink(slot);
    this.handles[slot] = undefined;
    this.dropRef(slot);
    this.counters.pending--;
    this.counters.cancelled++;
    // A due slot is still listed in the due queue: park it as dead until the queue reaches it.
    if (state === DUE) this.store.state[slot] = DEAD;
    else if (state === SCHEDULED) this.store.release(slot);
    else this.store.state[slot] = DEAD; // firing: released when its callback returns
    return true;
  }

  private refreshTimer(timer: Timer): boolean {
    if (!this.isLive(timer)) return false;
    const { store } = this;
    let slot = timer.slot;
    const state = store.state[slot];
    if (state === SCHEDULED) {
      store.unlink(slot);
    } else if (state === DUE) {
      // Its old entry stays in the due queue; move the timer to a fresh slot so that entry dies alone.
      const moved = store.allocateTimer(store.callbacks[slot]!, 0, store.delay[slot]!, store.flags[slot]!);
      const args = store.args.get(slot);
      if (args !== undefined) store.args.set(moved, args);
      store.state[slot] = DEAD;
      this.handles[slot] = undefined;
      this.handles[moved] = timer;
      timer.slot = slot = moved;
    }
    store.deadline[slot] = this.clock.now() + store.delay[slot]!;
    store.renumber(slot);
    this.insert(slot);
    return true;
  }

  private setTimerRef(timer: Timer, ref: boolean): void {
    if (!this.isLive(timer)) return;
    const has = (this.store.flags[timer.slot]! & REF) !== 0;
    if (has === ref) return;
    if (ref) {
      this.store.flags[timer.slot]! |= REF;
      this.addRef();
    } else {
      this.store.flags[timer.slot]! &= ~REF;
      this.refCount--;
      if (this.refCount === 0) this.driver?.unref();
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
      if (next !== Infinity && next < this.armedTick) this.arm(next);
    }
  };

  private enqueueDue(batch: number[]): void {
    if (batch.length === 0) return;
    const { compare } = this.store;
    if (!isSorted(batch, compare)) batch.sort(compare);
    if (this.dueHead === this.due.length) {
      this.due = batch;
    } else {
      this.due = merge(this.due, this.dueHead, batch, compare);
    }
    this.dueHead = 0;
  }

  private fireDue(): void {
    const { store } = this;
    let errors: unknown[] | undefined;
    for (let budget = this.budget; budget > 0 && this.dueHead < this.due.length; ) {
      const slot = this.due[this.dueHead++]!;
      if (store.state[slot] === DEAD) {
        store.release(slot);
        continue;
      }
      if (store.state[slot] !== DUE) continue;
      budget--;
      store.state[slot] = FIRING;
      this.counters.fired++;
      try {
        const args = store.args.size > 0 ? store.args.get(slot) : undefined;
        if (args === undefined) store.callbacks[slot]!();
        else store.callbacks[slot]!(...args);
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
        this.handles[slot] = undefined;
        this.dropRef(slot);
        this.counters.pending--;
        store.release(slot);
      }
    }
    // SCHEDULED: refreshed from inside its callback, already placed again.
  }

  private report(errors: unknown[]): void {
    for (const error of errors) {
      if (this.onError !== undefined) {
        try {
          this.onError(error);
        } catch (fromHandler) {
          queueMicrotask(() => {
            throw fromHandler;
          });
        }
      } else {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}

/** A positive integer limit, or Infinity when not given. */
function optionalLimit(name: string, value: number | undefined): number {
  return value === undefined ? Infinity : assertNumber(name, value, { min: 1, integer: true });
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
