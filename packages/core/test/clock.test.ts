import { join } from 'node:path';
import { runTsProcess } from '@x/testkit';
import { InvalidArgumentError, MAX_TIMEOUT_MS, ManualClock, assertClock, systemClock } from '../src/index.js';

describe('systemClock', () => {
  it('is monotonic and reports wall time near Date.now()', () => {
    const a = systemClock.now();
    const b = systemClock.now();
    expect(b).toBeGreaterThanOrEqual(a);
    expect(Math.abs(systemClock.wallNow() - Date.now())).toBeLessThan(1000);
  });

  it('never fires a timer early by the monotonic clock, and cancel prevents it', async () => {
    const started = systemClock.now();
    const firedAt = await new Promise<number>((resolve) => systemClock.setTimer(() => resolve(systemClock.now()), 20));
    expect(firedAt - started).toBeGreaterThanOrEqual(20);

    let fired = false;
    const timer = systemClock.setTimer(() => (fired = true), 5);
    timer.cancel();
    timer.cancel();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(fired).toBe(false);
    expect(timer.hasRef()).toBe(false);
  });

  it('does not fire delays above 2^31-1 ms after 1 ms as setTimeout does', async () => {
    let fired = false;
    const timer = systemClock.setTimer(() => (fired = true), MAX_TIMEOUT_MS + 10_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toBe(false);
    expect(timer.hasRef()).toBe(true);
    timer.unref();
    expect(timer.hasRef()).toBe(false);
    timer.cancel();
  });

  it('fires unref\'d sub-millisecond and 1 ms timers while only idle sockets keep the process alive', async () => {
    // With an unref'd setImmediate for the sub-millisecond remainder, each of these timers waited for I/O that
    // never came: the chain did not finish within the 20 s limit.
    const result = await runTsProcess(join(__dirname, 'fixtures', 'unref-chain.ts'), { timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(Number(result.stdout.trim())).toBeGreaterThanOrEqual(299);
  });

  it('sleeps out a remainder under 1 ms instead of keeping a CPU busy', async () => {
    // Timers one after another, each due 0.5 ms after the last fired: every one waits out a sub-millisecond
    // remainder. Waited out with setImmediate, that kept this thread busy all along (CPU time as long as the
    // wall time); slept, the thread is idle nearly all of it.
    const cpu = process.cpuUsage();
    const started = performance.now();
    for (let i = 0; i < 100; i++) {
      const due = performance.now() + 0.5;
      const firedAt = await new Promise<number>((resolve) => systemClock.setTimer(() => resolve(performance.now()), 0.5));
      expect(firedAt).toBeGreaterThanOrEqual(due);
    }
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000;
    expect(cpuMs / wallMs).toBeLessThan(0.5);
  });

  it('rejects bad input with typed errors', () => {
    expect(() => systemClock.setTimer(() => undefined, -1)).toThrow(InvalidArgumentError);
    expect(() => systemClock.setTimer(() => undefined, NaN)).toThrow(InvalidArgumentError);
    expect(() => systemClock.setTimer('x' as unknown as () => void, 1)).toThrow(InvalidArgumentError);
  });
});

describe('assertClock', () => {
  it('takes a clock and refuses a stand-in without its methods, naming the missing one', () => {
    expect(assertClock('options.clock', systemClock)).toBe(systemClock);
    const manual = new ManualClock();
    expect(assertClock('options.clock', manual)).toBe(manual);
    expect(() => assertClock('options.clock', {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.clock.now' }));
    expect(() => assertClock('options.clock', { now: () => 1, wallNow: () => 1 })).toThrow(expect.objectContaining({ argument: 'options.clock.setTimer' }));
    expect(() => assertClock('options.clock', null)).toThrow(InvalidArgumentError);
  });
});

describe('ManualClock', () => {
  it('only moves when advanced, and fires timers in deadline order with now() at their deadline', () => {
    const clock = new ManualClock({ now: 1000, wallNow: 5000 });
    const fired: Array<[string, number]> = [];
    clock.setTimer(() => fired.push(['b', clock.now()]), 20);
    clock.setTimer(() => fired.push(['a', clock.now()]), 10);
    clock.setTimer(() => fired.push(['a2', clock.now()]), 10);
    expect(clock.pendingTimers).toBe(3);
    expect(clock.nextTimerAt()).toBe(1010);
    expect(clock.advance(9)).toBe(0);
    expect(clock.advance(11)).toBe(3);
    expect(fired).toEqual([['a', 1010], ['a2', 1010], ['b', 1020]]);
    expect(clock.now()).toBe(1020);
    expect(clock.wallNow()).toBe(5020);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  it('fires timers created by callbacks when they fall inside the window', () => {
    const clock = new ManualClock();
    const fired: number[] = [];
    const tick = (): void => {
      fired.push(clock.now());
      if (fired.length < 5) clock.setTimer(tick, 10);
    };
    clock.setTimer(tick, 10);
    clock.advance(35);
    expect(fired).toEqual([10, 20, 30]);
    clock.advance(100);
    expect(fired).toEqual([10, 20, 30, 40, 50]);
  });

  it('cancel, ref and unref behave like a real timer', () => {
    const clock = new ManualClock();
    let fired = 0;
    const timer = clock.setTimer(() => fired++, 5);
    expect(timer.hasRef()).toBe(true);
    expect(timer.unref().hasRef()).toBe(false);
    expect(timer.ref().hasRef()).toBe(true);
    timer.cancel();
    timer.cancel();
    expect(clock.pendingTimers).toBe(0);
    clock.advance(10);
    expect(fired).toBe(0);
    expect(timer.hasRef()).toBe(false);
  });

  it('advanceAsync lets awaiting code run between timers', async () => {
    const clock = new ManualClock();
    const seen: number[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await new Promise<void>((resolve) => clock.setTimer(resolve, 100));
        seen.push(clock.now());
      }
    };
    const done = loop();
    expect(await clock.advanceAsync(1000)).toBe(3);
    await done;
    expect(seen).toEqual([100, 200, 300]);
  });

  it('rejects bad input', () => {
    const clock = new ManualClock();
    expect(() => clock.advance(-1)).toThrow(InvalidArgumentError);
    expect(() => clock.setTimer(() => undefined, NaN)).toThrow(InvalidArgumentError);
    expect(() => new ManualClock({ now: Infinity })).toThrow(InvalidArgumentError);
  });
});
