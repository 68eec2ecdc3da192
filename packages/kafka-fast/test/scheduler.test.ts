import { gate } from '@x/testkit';
import { DONE, LaneGroup, Scheduler, type Outcome, type TaskRunner } from '../src/scheduler.js';

/** A runner from an async function of the unit (a rejection counts as done, as the consumer's runner does). */
function runner<T>(run: (tasks: T[]) => Promise<Outcome[]>): TaskRunner<T> {
  const outcomes = new Map<T, Outcome>();
  return {
    invoke: async (task) => {
      const [outcome] = await run([task]);
      outcomes.set(task, outcome ?? DONE);
    },
    succeeded: (task) => {
      const outcome = outcomes.get(task) ?? DONE;
      outcomes.delete(task);
      return outcome;
    },
    failed: () => DONE,
    many: (tasks) => run(tasks),
  };
}

interface T {
  lane: string;
  n: number;
  solo?: boolean;
}

describe('scheduler', () => {
  let group: LaneGroup;
  beforeEach(() => {
    group = new LaneGroup();
  });

  it('runs lanes side by side, each lane in order, never above the concurrency bound', async () => {
    let running = 0;
    let peak = 0;
    const order = new Map<string, number[]>();
    let settled = 0;
    const scheduler = new Scheduler<T>(
      8,
      runner(async ([task]) => {
        task = task!;
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        order.set(task.lane, [...(order.get(task.lane) ?? []), task.n]);
        running--;
        return [DONE];
      }),
      () => settled++,
    );
    for (let n = 0; n < 400; n++) scheduler.push({ lane: `k${n % 20}`, n }, group, `k${n % 20}`);
    while (settled < 400) await new Promise((r) => setTimeout(r, 5));
    expect(peak).toBe(8);
    for (const [lane, seen] of order) expect(seen.every((n) => `k${n % 20}` === lane)).toBe(true);
    for (const seen of order.values()) expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('pause() starts nothing more while running tasks finish; resume() runs every waiting task, in lane order', async () => {
    const started: string[] = [];
    const held = gate();
    let settled = 0;
    const scheduler = new Scheduler<T>(
      2,
      runner(async ([task]) => {
        started.push(`${task!.lane}${task!.n}`);
        if (task!.n === 0) await held.opened;
        return [DONE];
      }),
      () => settled++,
    );
    for (let n = 0; n < 3; n++) for (const lane of ['a', 'b', 'c']) scheduler.push({ lane, n }, group, lane);
    expect(started).toEqual(['a0', 'b0']);
    scheduler.pause();
    held.open();
    await new Promise((r) => setTimeout(r, 20));
    // Both slots finished their task and went no further, though their lanes (and lane c) have more.
    expect(started).toEqual(['a0', 'b0']);
    expect(scheduler.inFlight).toBe(0);
    expect(settled).toBe(2);
    scheduler.resume();
    while (settled < 9) await new Promise((r) => setTimeout(r, 5));
    expect(started.filter((s) => s.startsWith('a'))).toEqual(['a0', 'a1', 'a2']);
    expect(started.filter((s) => s.startsWith('b'))).toEqual(['b0', 'b1', 'b2']);
    expect(started.filter((s) => s.startsWith('c'))).toEqual(['c0', 'c1', 'c2']);
  });

  it('a retry holds back only its own lane, and frees its slot meanwhile', async () => {
    const log: string[] = [];
    let settled = 0;
    let failedOnce = false;
    const scheduler = new Scheduler<T>(
      1,
      runner(async ([task]): Promise<Outcome[]> => {
        log.push(`${task!.lane}${task!.n}`);
        if (task!.lane === 'a' && task!.n === 0 && !failedOnce) {
          failedOnce = true;
          return [{ kind: 'retry', afterMs: 30 }];
        }
        return [DONE];
      }),
      () => settled++,
    );
    scheduler.push({ lane: 'a', n: 0 }, group, 'a');
    scheduler.push({ lane: 'a', n: 1 }, group, 'a');
    scheduler.push({ lane: 'b', n: 0 }, group, 'b');
    scheduler.push({ lane: 'b', n: 1 }, group, 'b');
    while (settled < 5) await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['a0', 'b0', 'b1', 'a0', 'a1']);
  });

  it("drops a group's waiting tasks on request, leaving the running one to finish and other groups alone", async () => {
    const held = gate();
    const ran: number[] = [];
    const scheduler = new Scheduler<T>(
      4,
      runner(async ([task]) => {
        ran.push(task!.n);
        if (task!.n === 0) await held.opened;
        return [DONE];
      }),
      () => undefined,
    );
    const other = new LaneGroup();
    for (let n = 0; n < 5; n++) scheduler.push({ lane: 'x', n }, group, 'x');
    // Same lane name in another group: a lane of its own, which the drop must not touch.
    scheduler.push({ lane: 'x', n: 10 }, other, 'x');
    scheduler.push({ lane: 'x', n: 11 }, other, 'x');
    expect(scheduler.dropGroup(group)).toBe(4);
    expect(group.lanes.size).toBe(1);
    held.open();
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual([0, 10, 11]);
    expect(group.lanes.size).toBe(0);
    expect(other.lanes.size).toBe(0);
    expect(scheduler.inFlight).toBe(0);
  });

  it('forms units of distinct lanes, and runs a solo task alone', async () => {
    const units: string[][] = [];
    let settled = 0;
    const scheduler = new Scheduler<T>(
      1,
      runner(async (tasks) => {
        units.push(tasks.map((t) => `${t.lane}${t.n}`));
        await new Promise((r) => setTimeout(r, 1));
        return tasks.map(() => DONE);
      }),
      () => settled++,
      3,
    );
    scheduler.push({ lane: 'a', n: 0 }, group, 'a');
    scheduler.push({ lane: 'a', n: 1 }, group, 'a');
    scheduler.push({ lane: 'b', n: 0 }, group, 'b');
    scheduler.push({ lane: 'c', n: 0, solo: true }, group, 'c');
    scheduler.push({ lane: 'd', n: 0 }, group, 'd');
    while (settled < 4) await new Promise((r) => setTimeout(r, 5));
    // The first push starts a unit of one (nothing else was ready yet); then units of distinct lanes, the solo
    // task alone, and a's second record only after its first.
    expect(units).toEqual([['a0'], ['b0'], ['c0'], ['d0', 'a1']]);
  });

  it('runs a lane back to back in one slot, synchronous work included, with failures settled by failed()', async () => {
    const order: number[] = [];
    const failures: number[] = [];
    let settled = 0;
    const scheduler = new Scheduler<T>(
      3,
      {
        invoke: (task) => {
          order.push(task.n);
          if (task.n % 7 === 3) throw new Error(`task ${task.n}`);
        },
        succeeded: () => DONE,
        failed: (task, error) => {
          failures.push(task.n);
          expect((error as Error).message).toBe(`task ${task.n}`);
          return DONE;
        },
        many: () => Promise.reject(new Error('units of one only')),
      },
      () => settled++,
    );
    for (let n = 0; n < 50_000; n++) scheduler.push({ lane: 'only', n }, group, 'only');
    // One lane never takes more than one slot.
    expect(scheduler.inFlight).toBe(1);
    while (settled < 50_000) await new Promise((r) => setImmediate(r));
    expect(order).toEqual(Array.from({ length: 50_000 }, (_, n) => n));
    expect(failures).toEqual(order.filter((n) => n % 7 === 3));
    expect(scheduler.inFlight).toBe(0);
  });

  it('a lane running back to back gives its slot up after a task when another lane waits', async () => {
    const log: string[] = [];
    let settled = 0;
    const scheduler = new Scheduler<T>(
      1,
      runner(async ([task]) => {
        log.push(`${task!.lane}${task!.n}`);
        await new Promise((r) => setTimeout(r, 1));
        return [DONE];
      }),
      () => settled++,
    );
    scheduler.push({ lane: 'a', n: 0 }, group, 'a');
    scheduler.push({ lane: 'a', n: 1 }, group, 'a');
    scheduler.push({ lane: 'a', n: 2 }, group, 'a');
    scheduler.push({ lane: 'b', n: 0 }, group, 'b');
    while (settled < 4) await new Promise((r) => setTimeout(r, 2));
    expect(log).toEqual(['a0', 'b0', 'a1', 'a2']);
  });
});
