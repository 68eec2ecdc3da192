import { InvalidArgumentError, ManualClock, TimeoutError, settlesWithin, within } from '../src/index.js';

/** A promise and the functions that settle it. */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void; reject(error: unknown): void } {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('within', () => {
  it('resolves and rejects as the promise does, and clears its timer', async () => {
    const clock = new ManualClock();
    await expect(within(Promise.resolve(7), 100, 'seven', { clock })).resolves.toBe(7);
    const failure = new Error('refused');
    await expect(within(Promise.reject(failure), 100, 'seven', { clock })).rejects.toBe(failure);
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects with a TimeoutError naming what did not happen, and hands a late value to onLate', async () => {
    const clock = new ManualClock();
    const late = deferred<{ close(): void }>();
    const closed: string[] = [];
    const waiting = within(late.promise, 250, 'the broker did not open a channel', { clock, onLate: () => closed.push('closed') });
    clock.advance(249);
    clock.advance(1);
    const error: unknown = await waiting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 250, message: 'the broker did not open a channel within 250 ms' });
    late.resolve({ close: () => undefined });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toEqual(['closed']);
  });

  it('lets the process exit while it waits when ref is false', async () => {
    const pending = deferred<void>();
    // An unref'd timer keeps no handle active; with ref (the default) it does.
    const active = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = active();
    const unrefd = within(pending.promise, 60_000, 'nothing', { ref: false });
    expect(active()).toBe(before);
    const kept = within(pending.promise, 60_000, 'nothing');
    expect(active()).toBe(before + 1);
    pending.resolve();
    await Promise.all([unrefd, kept]);
    expect(active()).toBe(before);
  });

  it('refuses a bad limit', () => {
    expect(() => within(Promise.resolve(), -1, 'x')).toThrow(InvalidArgumentError);
    expect(() => within(Promise.resolve(), Number.NaN, 'x')).toThrow(InvalidArgumentError);
    expect(() => settlesWithin(Promise.resolve(), '5' as never)).toThrow(InvalidArgumentError);
  });
});

describe('settlesWithin', () => {
  it('is true once the promise resolved and false when the time passed first; rejects as the promise does', async () => {
    const clock = new ManualClock();
    await expect(settlesWithin(Promise.resolve('x'), 10, { clock })).resolves.toBe(true);
    const slow = deferred<void>();
    const waiting = settlesWithin(slow.promise, 10, { clock });
    clock.advance(10);
    await expect(waiting).resolves.toBe(false);
    const failure = new Error('no');
    await expect(settlesWithin(Promise.reject(failure), 10, { clock })).rejects.toBe(failure);
    expect(clock.pendingTimers).toBe(0);
  });
});
