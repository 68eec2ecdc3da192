import { getEventListeners } from 'node:events';
import {
  AbortError,
  ManualClock,
  TimeoutError,
  abortReason,
  anySignal,
  isXError,
  linkedSignal,
  sleep,
  throwIfAborted,
  timeoutSignal,
} from '../src/index.js';

function listenerCount(signal: AbortSignal): number {
  return getEventListeners(signal, 'abort').length;
}

describe('anySignal', () => {
  it('aborts with the first source reason and detaches from the others', () => {
    const a = new AbortController();
    const b = new AbortController();
    const linked = anySignal([a.signal, undefined, b.signal]);
    expect(listenerCount(a.signal)).toBe(1);
    b.abort('b went first');
    expect(linked.signal.aborted).toBe(true);
    expect(linked.signal.reason).toBe('b went first');
    expect(listenerCount(a.signal)).toBe(0);
    a.abort('too late');
    expect(linked.signal.reason).toBe('b went first');
  });

  it('is aborted at once when a source already is', () => {
    const a = new AbortController();
    a.abort(new Error('early'));
    const linked = anySignal([new AbortController().signal, a.signal]);
    expect(linked.signal.aborted).toBe(true);
    expect((linked.signal.reason as Error).message).toBe('early');
  });

  it('dispose() releases the listeners on a long-lived parent (no growth in a loop)', () => {
    const parent = new AbortController();
    for (let i = 0; i < 1000; i++) {
      using linked = anySignal([parent.signal]);
      expect(linked.signal.aborted).toBe(false);
    }
    expect(listenerCount(parent.signal)).toBe(0);
  });
});

describe('timeoutSignal and linkedSignal', () => {
  it('times out on the given clock with a TimeoutError', () => {
    const clock = new ManualClock();
    const timeout = timeoutSignal(50, { clock });
    clock.advance(49);
    expect(timeout.signal.aborted).toBe(false);
    clock.advance(1);
    expect(timeout.signal.reason).toBeInstanceOf(TimeoutError);
    expect(timeout.signal.reason).toMatchObject({ code: 'ERR_TIMEOUT', timeoutMs: 50 });
  });

  it('dispose() cancels the timer', () => {
    const clock = new ManualClock();
    const timeout = timeoutSignal(50, { clock });
    timeout.dispose();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(100);
    expect(timeout.signal.aborted).toBe(false);
  });

  it('linkedSignal follows the parent or the deadline, whichever comes first', () => {
    const clock = new ManualClock();
    const parent = new AbortController();
    const byParent = linkedSignal(parent.signal, { timeoutMs: 100, clock });
    parent.abort('shutdown');
    expect(byParent.signal.reason).toBe('shutdown');
    byParent.dispose();
    expect(clock.pendingTimers).toBe(0);

    const byDeadline = linkedSignal(new AbortController().signal, { timeoutMs: 100, clock });
    clock.advance(100);
    expect(isXError(byDeadline.signal.reason, 'ERR_TIMEOUT')).toBe(true);

    const plain = linkedSignal(undefined);
    expect(plain.signal.aborted).toBe(false);
  });

  it('rejects a bad timeout', () => {
    expect(() => timeoutSignal(-1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});

describe('abortReason / throwIfAborted', () => {
  it('turns the default DOMException into a typed AbortError and keeps custom reasons', () => {
    const plain = new AbortController();
    plain.abort();
    const reason = abortReason(plain.signal);
    expect(reason).toBeInstanceOf(AbortError);
    expect((reason as AbortError).cause).toBe(plain.signal.reason);
    const custom = new AbortController();
    const mine = new Error('mine');
    custom.abort(mine);
    expect(abortReason(custom.signal)).toBe(mine);
    expect(() => throwIfAborted(custom.signal)).toThrow(mine);
    expect(() => throwIfAborted(undefined)).not.toThrow();
  });
});

describe('sleep', () => {
  it('resolves on the clock and rejects on abort, removing its listener', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let done = false;
    const slept = sleep(100, { clock, signal: controller.signal }).then(() => (done = true));
    await clock.advanceAsync(99);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    await slept;
    expect(done).toBe(true);
    expect(listenerCount(controller.signal)).toBe(0);

    const aborted = sleep(100, { clock, signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(clock.pendingTimers).toBe(0);
    await expect(sleep(1, { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('rejects bad durations with a typed error', () => {
    expect(() => sleep(NaN)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'ms' }));
  });

  it('really waits on the system clock', async () => {
    const started = performance.now();
    await sleep(15);
    expect(performance.now() - started).toBeGreaterThanOrEqual(15);
  });
});
