import { PartitionTracker } from '../src/partition-tracker.js';

// That a partition's shared signal takes any number of listeners without Node's leak warning is checked where
// it shows, in a real process: @x/delayqueue's Kafka crash test runs 20 handlers per partition and expects a
// silent stderr.
describe('PartitionTracker', () => {
  it('commits the lowest incomplete offset, whatever order records complete in, and aborts its signal on revoke', () => {
    const tracker = new PartitionTracker('t', 0, -1, null);
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
});
