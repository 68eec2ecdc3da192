import { InvalidArgumentError, ManualClock, MAX_TIMEOUT_MS, isXError } from '@x/core';
import { HashedWheel, HierarchicalWheel, TooManyTimersError, type TimerWheel, type TimerWheelOptions } from '../src/index.js';

type WheelClass = new (options?: TimerWheelOptions) => TimerWheel;

describe.each<[string, WheelClass]>([
  ['HierarchicalWheel', HierarchicalWheel],
  ['HashedWheel', HashedWheel],
])('%s', (_name, Wheel) => {
  let clock: ManualClock;
  let wheel: TimerWheel;
  beforeEach(() => {
    clock = new ManualClock();
    wheel = new Wheel({ clock });
  });
  afterEach(() => wheel.close());

  it('passes extra arguments to the callback, like setTimeout', () => {
    const seen: unknown[] = [];
    wheel.setTimeout((a: number, b: string) => seen.push(a, b), 10, 42, 'x');
    clock.advance(10);
    expect(seen).toEqual([42, 'x']);
  });

  it('handles delays above 2^31-1 ms instead of firing them after 1 ms', () => {
    let fired = false;
    const delay = MAX_TIMEOUT_MS + 12_345;
    wheel.setTimeout(() => (fired = true), delay);
    clock.advance(delay - 1);
    expect(fired).toBe(false);
    clock.advance(1);
    expect(fired).toBe(true);
  });

  it('cancel() and pending report the timer life', () => {
    let fired = 0;
    const timer = wheel.setTimeout(() => fired++, 50);
    expect(timer.pending).toBe(true);
    expect(wheel.size).toBe(1);
    expect(timer.cancel()).toBe(true);
    expect(timer.pending).toBe(false);
    expect(timer.cancel()).toBe(false);
    clock.advance(100);
    expect(fired).toBe(0);
    expect(wheel.stats()).toMatchObject({ pending: 0, scheduled: 1, cancelled: 1, fired: 0 });
    const once = wheel.setTimeout(() => fired++, 5);
    clock.advance(5);
    expect(once.pending).toBe(false);
    expect(once.cancel()).toBe(false);
    expect(once.refresh()).toBe(false);
  });

  it('schedule() returns a bare id that cancel, refresh and isPending accept, and that goes stale', () => {
    const fired: string[] = [];
    const a = wheel.schedule(() => fired.push('a'), 10);
    const b = wheel.schedule(() => fired.push('b'), 10);
    expect(typeof a).toBe('number');
    expect(wheel.isPending(a)).toBe(true);
    expect(wheel.cancel(b)).toBe(true);
    expect(wheel.cancel(b)).toBe(false);
    clock.advance(5);
    expect(wheel.refresh(a)).toBe(true);
    clock.advance(9);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual(['a']);
    expect(wheel.isPending(a)).toBe(false);
    // The freed slots are reused; the old ids must not reach the new timers.
    const c = wheel.schedule(() => fired.push('c'), 10);
    const d = wheel.setTimeout(() => fired.push('d'), 10);
    expect([wheel.cancel(a), wheel.cancel(b), wheel.refresh(a)]).toEqual([false, false, false]);
    expect(wheel.isPending(c)).toBe(true);
    expect(wheel.cancel(+d)).toBe(true);
    expect(d.pending).toBe(false);
    clock.advance(10);
    expect(fired).toEqual(['a', 'c']);
  });

  it.each([NaN, -1, 1.5, Infinity, 2 ** 60, 123_456_789])('treats %p as an id of no pending timer', (id) => {
    wheel.schedule(() => undefined, 10);
    expect(wheel.isPending(id)).toBe(false);
    expect(wheel.cancel(id)).toBe(false);
    expect(wheel.refresh(id)).toBe(false);
    expect(wheel.size).toBe(1);
  });

  it('refresh() restarts the delay from now, also from inside the callback', () => {
    const firedAt: number[] = [];
    const timer = wheel.setTimeout(() => firedAt.push(clock.now()), 100);
    clock.advance(60);
    expect(timer.refresh()).toBe(true);
    clock.advance(99);
    expect(firedAt).toEqual([]);
    clock.advance(1);
    expect(firedAt).toEqual([160]);

    let runs = 0;
    const heartbeat = wheel.setTimeout(() => {
      if (++runs < 3) heartbeat.refresh();
    }, 10);
    clock.advance(100);
    expect(runs).toBe(3);
    expect(heartbeat.pending).toBe(false);
  });

  it('setInterval repeats until cancelled, also when cancelled from its own callback', () => {
    const at: number[] = [];
    const interval = wheel.setInterval(() => {
      at.push(clock.now());
      if (at.length === 4) interval.cancel();
    }, 25);
    clock.advance(1_000);
    expect(at).toEqual([25, 50, 75, 100]);
    expect(interval.pending).toBe(false);
    expect(wheel.size).toBe(0);
  });

  it('fires timers in deadline order and equal deadlines in scheduling order', () => {
    const order: string[] = [];
    wheel.setTimeout(() => order.push('c'), 30);
    wheel.setTimeout(() => order.push('a1'), 10);
    wheel.setTimeout(() => order.push('b'), 20);
    wheel.setTimeout(() => order.push('a2'), 10);
    wheel.setTimeout(() => order.push('late'), 5_000);
    clock.advance(10_000);
    expect(order).toEqual(['a1', 'a2', 'b', 'c', 'late']);
  });

  it('runs a zero delay at the next wake-up, not inside the batch that scheduled it', () => {
    const order: string[] = [];
    wheel.setTimeout(() => {
      order.push('first');
      wheel.setTimeout(() => order.push('nested'), 0);
      order.push('first done');
    }, 5);
    wheel.setTimeout(() => order.push('second'), 5);
    clock.advance(5);
    expect(order).toEqual(['first', 'first done', 'second', 'nested']);
  });

  it('limits expirations per wake-up and keeps order across the split', () => {
    const limited = new Wheel({ clock, maxExpirationsPerTick: 3 });
    const order: number[] = [];
    for (let i = 0; i < 10; i++) limited.setTimeout(() => order.push(i), 7);
    const wakeupsBefore = limited.stats().wakeups;
    clock.advance(7);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(limited.stats().wakeups - wakeupsBefore).toBe(4);
    limited.close();
  });

  it('refreshing or cancelling timers that are due but not yet fired (over budget) works', () => {
    const limited = new Wheel({ clock, maxExpirationsPerTick: 1 });
    const log: string[] = [];
    // All three are due at 10; with one expiration per wake-up, b and c wait in the due queue while a runs.
    const a = limited.setTimeout(() => {
      log.push(`a@${clock.now()}`);
      expect(b.refresh()).toBe(true); // b now waits 10 ms more
      expect(c.cancel()).toBe(true); // c must never fire
    }, 10);
    const b = limited.setTimeout(() => log.push(`b@${clock.now()}`), 10);
    const c = limited.setTimeout(() => log.push(`c@${clock.now()}`), 10);
    clock.advance(10);
    expect(log).toEqual(['a@10']);
    expect(a.pending).toBe(false);
    expect(b.pending).toBe(true);
    expect(c.pending).toBe(false);
    expect(limited.size).toBe(1);
    clock.advance(9);
    expect(log).toEqual(['a@10']);
    clock.advance(1);
    expect(log).toEqual(['a@10', 'b@20']);
    expect(limited.size).toBe(0);
    limited.close();
  });

  it('rejects more than maxPending timers with a typed error', () => {
    const bounded = new Wheel({ clock, maxPending: 2 });
    bounded.setTimeout(() => undefined, 10);
    const second = bounded.setTimeout(() => undefined, 10);
    expect(() => bounded.setTimeout(() => undefined, 10)).toThrow(TooManyTimersError);
    try {
      bounded.setInterval(() => undefined, 10);
    } catch (error) {
      expect(isXError(error, 'ERR_TOO_MANY_TIMERS')).toBe(true);
      expect((error as TooManyTimersError).maxPending).toBe(2);
    }
    second.cancel();
    expect(() => bounded.setTimeout(() => undefined, 10)).not.toThrow();
    bounded.close();
  });

  it('hands callback errors to onError and keeps firing the rest', () => {
    const errors: unknown[] = [];
    const reporting = new Wheel({ clock, onError: (error) => errors.push(error) });
    const fired: number[] = [];
    reporting.setTimeout(() => {
      throw new Error('boom');
    }, 5);
    reporting.setTimeout(() => fired.push(2), 5);
    reporting.setTimeout(() => fired.push(3), 6);
    clock.advance(10);
    expect(fired).toEqual([2, 3]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe('boom');
    reporting.close();
  });

  it.each([
    [() => undefined, -1, 'delay'],
    [() => undefined, NaN, 'delay'],
    [() => undefined, Infinity, 'delay'],
    ['not a function', 10, 'callback'],
  ])('rejects bad input (%p, %p) with a typed error naming it', (callback, delay, argument) => {
    expect(() => wheel.setTimeout(callback as () => void, delay)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
  });

  it('rejects a zero interval and bad options', () => {
    expect(() => wheel.setInterval(() => undefined, 0)).toThrow(InvalidArgumentError);
    expect(() => new Wheel({ wheelSize: 100 })).toThrow(/power of two/);
    expect(() => new Wheel({ tickMs: 0 })).toThrow(expect.objectContaining({ argument: 'options.tickMs' }));
    expect(() => new Wheel({ tickMs: 1.5 })).toThrow(InvalidArgumentError);
    expect(() => new Wheel({ maxPending: 0 })).toThrow(InvalidArgumentError);
    expect(() => new Wheel({ tickMS: 1 } as unknown as TimerWheelOptions)).toThrow(expect.objectContaining({ argument: 'options.tickMS' }));
    expect(() => new Wheel({ onError: 'log' as unknown as () => void })).toThrow(InvalidArgumentError);
    expect(() => new Wheel({ clock: {} as never })).toThrow(expect.objectContaining({ argument: 'options.clock.now' }));
    expect(() => new Wheel(null as never)).toThrow(expect.objectContaining({ argument: 'options' }));
    expect(() => new Wheel(5 as never)).toThrow(expect.objectContaining({ argument: 'options' }));
  });

  it.each<[unknown]>([['30000'], [' 5'], ['0x10'], [null], [true], [[7]], [10n], [2 ** 53], [1e300]])('refuses a delay of %p (not a number from 0 to 2^53-1) with a typed error', (delay) => {
    for (const schedule of [
      () => wheel.setTimeout(() => undefined, delay as number),
      () => wheel.schedule(() => undefined, delay as number),
      () => wheel.setInterval(() => undefined, delay as number),
    ]) {
      expect(schedule).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'delay' }));
    }
    expect(wheel.size).toBe(0);
  });

  it('refuses an interval under 1 ms, which could never move on from its deadline', () => {
    clock.advance(1_000);
    expect(() => wheel.setInterval(() => undefined, 5e-324)).toThrow(expect.objectContaining({ argument: 'delay' }));
    expect(() => wheel.setInterval(() => undefined, 0.5)).toThrow(InvalidArgumentError);
    let runs = 0;
    wheel.setInterval(() => runs++, 1);
    clock.advance(10);
    expect(runs).toBe(10);
  });

  it('calls callbacks as plain functions: `this` is not the wheel\'s storage', () => {
    const seen: unknown[] = [];
    wheel.schedule(function (this: unknown) {
      seen.push(this);
    }, 1);
    wheel.setTimeout(function (this: unknown, tag: string) {
      seen.push(this, tag);
    }, 1, 'x');
    clock.advance(1);
    expect(seen).toEqual([undefined, undefined, 'x']);
  });

  it('close() counts what was pending as cancelled: scheduled = fired + cancelled + pending', () => {
    const noop = (): void => undefined;
    wheel.setTimeout(noop, 10_000);
    wheel.setInterval(noop, 10_000);
    wheel.cancel(wheel.schedule(noop, 5_000));
    wheel.schedule(noop, 1);
    clock.advance(1);
    wheel.close();
    expect(wheel.stats()).toMatchObject({ scheduled: 4, fired: 1, cancelled: 3, pending: 0 });
  });

  it.each([0, -1, 1.5, NaN, 'many', 16_515_073])('rejects initialCapacity %p with a typed error naming it', (initialCapacity) => {
    expect(() => new Wheel({ initialCapacity } as unknown as TimerWheelOptions)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.initialCapacity' }));
    // Not above the wheel's own maxPending either.
    expect(() => new Wheel({ maxPending: 10, initialCapacity: 11 })).toThrow(expect.objectContaining({ argument: 'options.initialCapacity' }));
  });

  it('initialCapacity makes room up front: no storage is replaced while that many timers are scheduled, and more still fit', () => {
    const sized = new Wheel({ clock, initialCapacity: 5_000 });
    // The store's arrays (internal): replaced only when the storage grows.
    const store = (sized as unknown as { store: { deadline: Float64Array; callbacks: unknown[] } }).store;
    const deadlines = store.deadline;
    expect(store.callbacks.length).toBeGreaterThanOrEqual(5_000);
    const fired: number[] = [];
    // Delays that need every level of a hierarchical wheel (and so all its buckets' slots).
    for (let i = 0; i < 5_000; i++) sized.schedule(() => fired.push(i), 1 + ((i * 7_919) % 2_000_000_000));
    expect(store.deadline).toBe(deadlines);
    for (let i = 5_000; i < 13_000; i++) sized.schedule(() => fired.push(i), 1 + ((i * 7_919) % 2_000_000_000));
    expect(store.deadline).not.toBe(deadlines);
    expect(sized.size).toBe(13_000);
    clock.advance(2_000_000_000);
    expect(fired).toHaveLength(13_000);
    expect(new Set(fired).size).toBe(13_000);
    sized.close();
  });

  it('close() cancels everything, stops its clock timer and refuses new timers', () => {
    let fired = 0;
    const a = wheel.setTimeout(() => fired++, 10);
    wheel.setInterval(() => fired++, 10);
    expect(clock.pendingTimers).toBe(1);
    wheel.close();
    wheel.close();
    expect(clock.pendingTimers).toBe(0);
    expect(a.pending).toBe(false);
    expect(a.cancel()).toBe(false);
    clock.advance(100);
    expect(fired).toBe(0);
    expect(() => wheel.setTimeout(() => undefined, 1)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  it('ref()/unref() follow Node: the wheel keeps the process alive only for referenced timers', () => {
    const a = wheel.setTimeout(() => undefined, 100);
    expect(a.hasRef()).toBe(true);
    expect(a.unref().hasRef()).toBe(false);
    expect(a.ref().hasRef()).toBe(true);
    a.cancel();
    expect(a.hasRef()).toBe(false);
  });

  it('keeps the clock timer for the earliest bucket only: one pending clock timer whatever the count', () => {
    for (let i = 1; i <= 1000; i++) wheel.setTimeout(() => undefined, i * 37);
    expect(clock.pendingTimers).toBe(1);
    expect(clock.nextTimerAt()).toBe(37);
  });
});

describe('HierarchicalWheel wake-ups', () => {
  it('sleeps across empty ticks: far timers cost a handful of wake-ups, not one per tick', () => {
    const clock = new ManualClock();
    const wheel = new HierarchicalWheel({ clock });
    const fired: number[] = [];
    wheel.setTimeout(() => fired.push(clock.now()), 3_600_000);
    wheel.setTimeout(() => fired.push(clock.now()), 7_200_000);
    clock.advance(8_000_000);
    expect(fired).toEqual([3_600_000, 7_200_000]);
    // One wake-up per cascade level on the way down, per timer; nothing for the millions of empty ticks.
    expect(wheel.stats().wakeups).toBeLessThanOrEqual(10);
    expect(wheel.cascades).toBeGreaterThan(0);
    wheel.close();
  });
});

describe('HashedWheel wake-ups', () => {
  it('does not wake once per revolution for a timer many revolutions away', () => {
    const clock = new ManualClock();
    const wheel = new HashedWheel({ clock, wheelSize: 16 });
    let fired = 0;
    wheel.setTimeout(() => fired++, 1_000_000);
    clock.advance(1_000_000);
    expect(fired).toBe(1);
    expect(wheel.stats().wakeups).toBe(1);
    wheel.close();
  });
});
