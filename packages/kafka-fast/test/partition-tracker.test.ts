import { PartitionTracker } from '../src/partition-tracker.js';

// That a partition's shared signal takes any number of listeners without Node's leak warning is checked where
// it shows, in a real process: @x/delayqueue's Kafka crash test runs 20 handlers per partition and expects a
// silent stderr.
describe('PartitionTracker', () => {
  it('commits the lowest incomplete offset, whatever order records complete in, and aborts its signal on revoke', () => {
    const tracker = new PartitionTracker('t', 0, -1, null, 4_096);
    for (const offset of [0, 1, 2, 3]) expect(tracker.accept(offset)).toBe('process');
    tracker.complete(2);
    tracker.complete(0);
    expect(tracker.commitOffset).toBe(1);
    tracker.complete(1);
    expect(tracker.commitOffset).toBe(3);
    let aborted = 0;
    for (let i = 0; i < 50; i++) tracker.signal.addEventListener('abort', () => aborted++);
    tracker.revoke(new Error('revoked'));
    expect(aborted).toBe(50);
    expect(tracker.revoked).toBe(true);
  });

  it('lifts a pause for a record not yet due at its timer, not when the records before it complete', () => {
    jest.useFakeTimers();
    try {
      const tracker = new PartitionTracker('t', 0, -1, null, 4_096);
      tracker.accept(0);
      const resumed = jest.fn();
      tracker.resumeAfter(10_000, resumed);
      tracker.complete(0);
      expect(resumed).not.toHaveBeenCalled();
      expect(tracker.paused).toBe(true);
      jest.advanceTimersByTime(10_000);
      expect(resumed).toHaveBeenCalledTimes(1);
      expect(tracker.paused).toBe(false);
    } finally {
      jest.useRealTimers();
    }
  });

  it('lifts a pause for its share once the incomplete records fall to the mark, or at revoke', () => {
    const tracker = new PartitionTracker('t', 0, -1, null, 4_096);
    for (let offset = 0; offset < 3; offset++) tracker.accept(offset);
    const resumed = jest.fn();
    tracker.resumeWhenAtMost(1, resumed);
    tracker.complete(0);
    expect(resumed).not.toHaveBeenCalled();
    tracker.complete(2);
    expect(resumed).toHaveBeenCalledTimes(1);
    const revoked = jest.fn();
    tracker.resumeWhenAtMost(0, revoked);
    tracker.revoke(new Error('revoked'));
    expect(revoked).toHaveBeenCalledTimes(1);
  });

  it('agrees with a plain model over random gaps, completion orders, repeats and unknown offsets', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let run = 0; run < 20; run++) {
      const tracker = new PartitionTracker('t', 0, 100, null, 4_096);
      const taken: number[] = [];
      const done = new Set<number>();
      let offset = 99;
      for (let step = 0; step < 3_000; step++) {
        if (random(3) > 0) {
          // Fetched: the next offset, sometimes after a gap (compaction, transaction markers).
          offset += random(10) === 0 ? 1 + random(5) : 1;
          expect(tracker.accept(offset)).toBe('process');
          taken.push(offset);
        } else if (taken.length > 0) {
          // Completed: any taken offset, sometimes one already complete, sometimes one never taken.
          const pick = random(20) === 0 ? offset + 1_000 : taken[random(taken.length)]!;
          tracker.complete(pick);
          if (taken.includes(pick)) done.add(pick);
        }
        const firstOpen = taken.find((o) => !done.has(o));
        expect(tracker.commitOffset).toBe(firstOpen ?? offset + 1);
        const above = firstOpen === undefined ? 0 : taken.filter((o) => o > firstOpen && done.has(o)).length;
        expect(tracker.completedAbove).toBe(above);
        expect(tracker.incomplete).toBe(taken.filter((o) => !done.has(o)).length);
      }
    }
  });
});
