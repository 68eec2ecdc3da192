import fc from 'fast-check';
import { ManualClock } from '@x/core';
import { HashedWheel, HierarchicalWheel, type Timer, type TimerWheel, type TimerWheelOptions } from '../src/index.js';

type WheelClass = new (options: TimerWheelOptions) => TimerWheel;
const WHEELS: Array<[string, WheelClass]> = [
  ['HierarchicalWheel', HierarchicalWheel],
  ['HashedWheel', HashedWheel],
];

/** One step of a random schedule. */
type Command =
  | { kind: 'schedule'; delay: number }
  | { kind: 'cancel'; pick: number }
  | { kind: 'refresh'; pick: number }
  | { kind: 'advance'; ms: number };

const delayArb = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 0, max: 5_000 }) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 10_000_000 }) },
  { weight: 1, arbitrary: fc.double({ min: 0, max: 3 * 2 ** 31, noNaN: true }) },
);
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: delayArb.map((delay) => ({ kind: 'schedule' as const, delay })) },
  { weight: 2, arbitrary: fc.nat().map((pick) => ({ kind: 'cancel' as const, pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick) => ({ kind: 'refresh' as const, pick })) },
  {
    weight: 3,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 2 ** 33 }))
      .map((ms) => ({ kind: 'advance' as const, ms })),
  },
);

interface Expected {
  id: number;
  deadline: number;
  delay: number;
  seq: number;
  live: boolean;
  timer: Pick<Timer, 'cancel' | 'refresh' | 'pending'>;
}

/**
 * Runs commands against a wheel on a manual clock and against a plain reference model, and checks after every
 * advance that exactly the model's due timers fired, each at the first tick at or after its deadline (never
 * early, at most one tick late), in (deadline, scheduling order) order.
 */
function idAsHandle(wheel: TimerWheel, timerId: number): Expected['timer'] {
  return {
    cancel: () => wheel.cancel(timerId),
    refresh: () => wheel.refresh(timerId),
    get pending() {
      return wheel.isPending(timerId);
    },
  };
}

function check(Wheel: WheelClass, commands: Command[], tickMs: number, wheelSize: number): void {
  const clock = new ManualClock({ now: 1_000 });
  const wheel = new Wheel({ clock, tickMs, wheelSize });
  const fired: Array<{ id: number; at: number }> = [];
  const model: Expected[] = [];
  // Live entries, for O(1) picks and removal (swap with the last).
  const live: Expected[] = [];
  const retire = (entry: Expected): void => {
    entry.live = false;
    const at = live.indexOf(entry);
    live[at] = live[live.length - 1]!;
    live.pop();
  };
  let seq = 0;
  for (const command of commands) {
    switch (command.kind) {
      case 'schedule': {
        const id = model.length;
        // Half the timers through handles, half through bare ids: both must behave the same.
        const callback = (): number => fired.push({ id, at: clock.now() });
        const timer = id % 2 === 0 ? wheel.setTimeout(callback, command.delay) : idAsHandle(wheel, wheel.schedule(callback, command.delay));
        const entry = { id, deadline: clock.now() + command.delay, delay: command.delay, seq: seq++, live: true, timer };
        model.push(entry);
        live.push(entry);
        break;
      }
      case 'cancel': {
        const target = live[command.pick % Math.max(1, live.length)];
        if (target === undefined) break;
        expect(target.timer.cancel()).toBe(true);
        expect(target.timer.cancel()).toBe(false);
        retire(target);
        break;
      }
      case 'refresh': {
        const target = live[command.pick % Math.max(1, live.length)];
        if (target === undefined) break;
        expect(target.timer.refresh()).toBe(true);
        target.deadline = clock.now() + target.delay;
        target.seq = seq++;
        break;
      }
      case 'advance': {
        const before = fired.length;
        const target = clock.now() + command.ms;
        clock.advance(command.ms);
        // A timer fires at the start of the first tick at or after its deadline.
        const fireTime = (m: Expected): number => Math.ceil(m.deadline / tickMs) * tickMs;
        const due = live
          .filter((m) => fireTime(m) <= target)
          .sort((a, b) => fireTime(a) - fireTime(b) || a.deadline - b.deadline || a.seq - b.seq);
        const got = fired.slice(before);
        expect(got.map((f) => f.id)).toEqual(due.map((m) => m.id));
        for (const f of got) {
          const m = model[f.id]!;
          if (!(f.at >= m.deadline && f.at === Math.ceil(m.deadline / tickMs) * tickMs)) {
            throw new Error(`timer ${f.id} with deadline ${m.deadline} fired at ${f.at}`);
          }
          expect(m.timer.pending).toBe(false);
          retire(m);
        }
        break;
      }
    }
    if (wheel.size !== live.length) throw new Error(`wheel holds ${wheel.size} timers, model ${live.length}`);
  }
  wheel.close();
  expect(clock.pendingTimers).toBe(0);
}

describe.each(WHEELS)('%s against a reference model', (_name, Wheel) => {
  it('fires exactly the due timers, never early, at most one tick late, in deadline order', () => {
    fc.assert(
      fc.property(
        fc.array(commandArb, { minLength: 1, maxLength: 120 }),
        fc.constantFrom(1, 1, 10, 7),
        fc.constantFrom(4, 64, 512),
        (commands, tickMs, wheelSize) => check(Wheel, commands, tickMs, wheelSize),
      ),
      { numRuns: 300 },
    );
  });

  it('survives a long randomized run (10k commands)', () => {
    const [commands] = fc.sample(fc.array(commandArb, { minLength: 10_000, maxLength: 10_000 }), { numRuns: 1, seed: 20261125 });
    check(Wheel, commands!, 1, 64);
  });
});
