/**
 * Time as a dependency. Code whose behaviour depends on time takes a {@link Clock}, so production runs on
 * {@link systemClock} and tests drive a {@link ManualClock} instead of sleeping.
 */
import { performance } from 'node:perf_hooks';
import { assertFunction, assertNumber } from './validate.js';

/** A pending one-shot timer created by {@link Clock.setTimer}. */
export interface ClockTimer {
  /** Prevents the callback from running. Idempotent. */
  cancel(): void;
  /** Keeps the process alive while this timer is pending (the default). */
  ref(): this;
  /** Lets the process exit even though this timer is pending. */
  unref(): this;
  /** Whether this timer keeps the process alive. */
  hasRef(): boolean;
}

/** A source of time and one-shot timers. */
export interface Clock {
  /** Monotonic milliseconds (fractional) for measuring durations; the origin is arbitrary. Never goes back. */
  now(): number;
  /** Wall-clock milliseconds since the Unix epoch, for timestamps that leave the process. May jump. */
  wallNow(): number;
  /** Runs `callback` once, `ms` milliseconds from now (any finite `ms >= 0`, including above 2^31-1). */
  setTimer(callback: () => void, ms: number): ClockTimer;
}

/**
 * Asserts `value` is a {@link Clock} (has `now`, `wallNow` and `setTimer`): a stand-in without them would fail
 * later, at first use, with a TypeError.
 */
export function assertClock(name: string, value: unknown): Clock {
  for (const method of ['now', 'wallNow', 'setTimer'] as const) assertFunction(`${name}.${method}`, (value as Partial<Clock> | null)?.[method]);
  return value as Clock;
}

/** Largest delay Node's `setTimeout` honours; above it Node fires after 1 ms instead. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

class SystemTimer implements ClockTimer {
  private handle: NodeJS.Timeout | undefined;
  private referenced = true;
  private deadline = 0;

  constructor(private readonly callback: () => void, ms: number) {
    this.arm(performance.now() + ms);
  }

  // Node measures timers against the loop's cached millisecond time, so a timeout can fire up to ~1 ms before
  // performance.now() reaches the deadline, and it cannot wait less than 1 ms; long delays must be split into
  // chunks Node accepts. All three are handled by re-checking against the monotonic deadline and waiting again
  // with setTimeout: never early, no drift. A remainder under 1 ms is slept as 1 ms, so a timer can fire up to
  // about 1 ms late. (It was waited out with setImmediate, to the microsecond, but that kept the thread busy
  // through every such remainder: a timer wheel with 1 ms ticks and timers due every few ms used a whole core.)
  private arm(deadline: number): void {
    this.deadline = deadline;
    const remaining = deadline - performance.now();
    this.handle = setTimeout(this.check, Math.min(Math.max(remaining, 1), MAX_TIMEOUT_MS));
    if (!this.referenced) this.handle.unref();
  }

  private readonly check = (): void => {
    if (performance.now() < this.deadline) {
      this.arm(this.deadline);
      return;
    }
    this.handle = undefined;
    this.callback();
  };

  cancel(): void {
    clearTimeout(this.handle);
    this.handle = undefined;
  }

  ref(): this {
    this.referenced = true;
    this.handle?.ref();
    return this;
  }

  unref(): this {
    this.referenced = false;
    this.handle?.unref();
    return this;
  }

  hasRef(): boolean {
    return this.handle !== undefined && this.referenced;
  }
}

/**
 * The real clock: `performance.now()` for durations, `Date.now()` for timestamps, Node timers underneath.
 *
 * @example
 * ```ts
 * const started = systemClock.now();
 * await work();
 * metrics.observe(systemClock.now() - started);
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer(callback: () => void, ms: number): ClockTimer {
    assertFunction('callback', callback);
    assertNumber('ms', ms, { min: 0 });
    return new SystemTimer(callback, ms);
  },
});

interface ManualEntry {
  readonly due: number;
  readonly seq: number;
  readonly callback: () => void;
  cancelled: boolean;
  referenced: boolean;
}

/** Options of {@link ManualClock}. */
export interface ManualClockOptions {
  /** Initial monotonic time in ms (default 0). */
  now?: number;
  /** Wall time at the initial monotonic time, epoch ms (default 1_700_000_000_000). */
  wallNow?: number;
}

/**
 * A clock that only moves when told to. Timers fire inside {@link ManualClock.advance}, in deadline order
 * (ties in creation order), each seeing `now()` equal to its own deadline.
 *
 * @example
 * ```ts
 * const clock = new ManualClock();
 * const fired: number[] = [];
 * clock.setTimer(() => fired.push(clock.now()), 100);
 * clock.advance(99);  // nothing yet
 * clock.advance(1);   // fired == [100]
 * ```
 */
export class ManualClock implements Clock {
  private current: number;
  private readonly wallOffset: number;
  private seq = 0;
  // Sorted by (due, seq). Test clocks hold few timers; a sorted array keeps firing order obvious.
  private readonly timers: ManualEntry[] = [];

  constructor(options: ManualClockOptions = {}) {
    this.current = assertNumber('options.now', options.now ?? 0);
    this.wallOffset = assertNumber('options.wallNow', options.wallNow ?? 1_700_000_000_000) - this.current;
  }

  now(): number {
    return this.current;
  }

  wallNow(): number {
    return this.current + this.wallOffset;
  }

  setTimer(callback: () => void, ms: number): ClockTimer {
    assertFunction('callback', callback);
    assertNumber('ms', ms, { min: 0 });
    const entry: ManualEntry = { due: this.current + ms, seq: this.seq++, callback, cancelled: false, referenced: true };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.due > entry.due) i--;
    this.timers.splice(i, 0, entry);
    const timers = this.timers;
    return {
      cancel() {
        if (entry.cancelled) return;
        entry.cancelled = true;
        const at = timers.indexOf(entry);
        if (at >= 0) timers.splice(at, 1);
      },
      ref() {
        entry.referenced = true;
        return this;
      },
      unref() {
        entry.referenced = false;
        return this;
      },
      hasRef() {
        return entry.referenced && !entry.cancelled && timers.includes(entry);
      },
    };
  }

  /** Number of timers waiting to fire. */
  get pendingTimers(): number {
    return this.timers.length;
  }

  /** Deadline of the earliest pending timer, or `undefined` when none is pending. */
  nextTimerAt(): number | undefined {
    return this.timers[0]?.due;
  }

  /**
   * Moves time forward by `ms`, firing every timer that comes due on the way (also timers those callbacks
   * create, when they fall inside the window). Returns how many fired.
   */
  advance(ms: number): number {
    const target = this.current + assertNumber('ms', ms, { min: 0 });
    let fired = 0;
    for (let next = this.takeDue(target); next !== undefined; next = this.takeDue(target)) {
      this.current = next.due;
      fired++;
      next.callback();
    }
    this.current = target;
    return fired;
  }

  /**
   * Like {@link advance}, but lets promise continuations and I/O callbacks run after each timer, for code that
   * awaits between timers (a retry loop, an auto-extend loop).
   */
  async advanceAsync(ms: number): Promise<number> {
    const target = this.current + assertNumber('ms', ms, { min: 0 });
    let fired = 0;
    await settle();
    for (let next = this.takeDue(target); next !== undefined; next = this.takeDue(target)) {
      this.current = next.due;
      fired++;
      next.callback();
      await settle();
    }
    this.current = target;
    return fired;
  }

  private takeDue(target: number): ManualEntry | undefined {
    const head = this.timers[0];
    if (head === undefined || head.due > target) return undefined;
    this.timers.shift();
    return head;
  }
}

// setImmediate runs after the whole microtask queue has drained, so every pending `await` chain advances.
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
