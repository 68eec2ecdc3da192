import { DONE, Scheduler, type Outcome } from '../src/scheduler.js';

interface T {
  lane: string;
  n: number;
  solo?: boolean;
}

describe('scheduler', () => {
  it('runs lanes side by side, each lane in order, never above the concurrency bound', async () => {
    let running = 0;
    let peak = 0;
    const order = new Map<string, number[]>();
    let settled = 0;
    const scheduler = new Scheduler<T>(
      8,
      async ([task]) => {
        task = task!;
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        order.set(task.lane, [...(order.get(task.lane) ?? []), task.n]);
        running--;
        return [DONE];
      },
      () => settled++,
    );
    for (let n = 0; n < 400; n++) scheduler.push({ lane: `k${n % 20}`, n });
    while (settled < 400) await new Promise((r) => setTimeout(r, 5));
    expect(peak).toBe(8);
    for (const [lane, seen] of order) expect(seen.every((n) => `k${n % 20}` === lane)).toBe(true);
    for (const seen of order.values()) expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it('a retry holds back only its own lane, and frees its slot meanwhile', async () => {
    const log: string[] = [];
    let settled = 0;
    let failedOnce = false;
    const scheduler = new Scheduler<T>(
      1,
      async ([task]): Promise<Outcome[]> => {
        log.push(`${task!.lane}${task!.n}`);
        if (task!.lane === 'a' && task!.n === 0 && !failedOnce) {
          failedOnce = true;
          return [{ kind: 'retry', afterMs: 30 }];
        }
        return [DONE];
      },
      () => settled++,
    );
    scheduler.push({ lane: 'a', n: 0 });
    scheduler.push({ lane: 'a', n: 1 });
    scheduler.push({ lane: 'b', n: 0 });
    scheduler.push({ lane: 'b', n: 1 });
    while (settled < 5) await new Promise((r) => setTimeout(r, 5));
    expect(log).toEqual(['a0', 'b0', 'b1', 'a0', 'a1']);
  });

  it('drops waiting tasks of a lane on request, leaving the running one to finish', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const ran: number[] = [];
    const scheduler = new Scheduler<T>(
      4,
      async ([task]) => {
        ran.push(task!.n);
        if (task!.n === 0) await gate;
        return [DONE];
      },
      () => undefined,
    );
    for (let n = 0; n < 5; n++) scheduler.push({ lane: 'x', n });
    expect(scheduler.dropWhere((t) => t.lane === 'x')).toBe(4);
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual([0]);
    expect(scheduler.inFlight).toBe(0);
  });

  it('forms units of distinct lanes, and runs a solo task alone', async () => {
    const units: string[][] = [];
    let settled = 0;
    const scheduler = new Scheduler<T>(
      1,
      async (tasks) => {
        units.push(tasks.map((t) => `${t.lane}${t.n}`));
        await new Promise((r) => setTimeout(r, 1));
        return tasks.map(() => DONE);
      },
      () => settled++,
      3,
    );
    scheduler.push({ lane: 'a', n: 0 });
    scheduler.push({ lane: 'a', n: 1 });
    scheduler.push({ lane: 'b', n: 0 });
    scheduler.push({ lane: 'c', n: 0, solo: true });
    scheduler.push({ lane: 'd', n: 0 });
    while (settled < 4) await new Promise((r) => setTimeout(r, 5));
    // The first push starts a unit of one (nothing else was ready yet); then units of distinct lanes, the solo
    // task alone, and a's second record only after its first.
    expect(units).toEqual([['a0'], ['b0'], ['c0'], ['d0', 'a1']]);
  });
});
