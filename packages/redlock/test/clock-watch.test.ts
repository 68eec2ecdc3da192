import { ClockWatch } from '../src/clock-watch.js';

/** Answers of an instance whose clock runs `rate` times as fast as ours, each taking `rtt` ms, every `every` ms. */
function feed(watch: ClockWatch, from: number, to: number, every: number, rtt: number, rate: number, instanceAt0 = 1.7e12): void {
  for (let sent = from; sent <= to; sent += every) watch.observe(sent, sent + rtt, instanceAt0 + (sent + rtt / 2) * rate);
}

describe('ClockWatch', () => {
  it('takes an instance that keeps time as keeping time, however slow the round trips', () => {
    const watch = new ClockWatch(0.01);
    feed(watch, 0, 20_000, 37, 1, 1);
    expect(watch.fast).toBeUndefined();
    // 400 ms round trips (a loaded process): the rate judged is a lower bound, never a false alarm.
    feed(watch, 20_000, 40_000, 450, 400, 1.005);
    expect(watch.fast).toBeUndefined();
  });

  it('flags a clock running twice as fast within a window of 200 ms, and keeps it flagged while it runs fast', () => {
    const watch = new ClockWatch(0.01);
    watch.observe(0, 1, 1e12);
    watch.observe(150, 151, 1e12 + 300);
    expect(watch.fast).toBeUndefined(); // less than a window: not judged yet
    watch.observe(220, 221, 1e12 + 440);
    expect(watch.fast).toBeCloseTo(1.97, 1);
    for (let t = 500; t < 5_000; t += 250) {
      watch.observe(t, t + 1, 1e12 + 2 * t);
      expect(watch.fast).toBeGreaterThan(1.9);
    }
  });

  it('a late answer does not clear a clock that runs fast', () => {
    const watch = new ClockWatch(0.01);
    watch.observe(0, 1, 1e12);
    watch.observe(300, 301, 1e12 + 600);
    expect(watch.fast).toBeGreaterThan(1.9);
    // Sent at 600, answered at 1,500 (a busy event loop): the instance read its clock at about 601 (ours), so
    // its time says 2x again, but the slow answer bounds the rate from below by only 602 / 1,200.
    watch.observe(600, 1_500, 1e12 + 1_202);
    expect(watch.fast).toBeGreaterThan(1.9);
  });

  it('flags a clock that runs 2 % fast, not one that runs 0.5 % fast (allowance 1 %)', () => {
    const fast = new ClockWatch(0.01);
    feed(fast, 0, 2_000, 100, 1, 1.02);
    expect(fast.fast).toBeGreaterThan(1.01);
    const fine = new ClockWatch(0.01);
    feed(fine, 0, 20_000, 100, 1, 1.005);
    expect(fine.fast).toBeUndefined();
  });

  it('flags a clock that jumps ahead, and trusts it again after a window that keeps time', () => {
    const watch = new ClockWatch(0.01);
    feed(watch, 0, 1_000, 50, 1, 1);
    watch.observe(1_050, 1_051, 1.7e12 + 1_050 + 5_000);
    expect(watch.fast).toBeGreaterThan(2);
    // Keeps time from the new reading on.
    watch.observe(1_150, 1_151, 1.7e12 + 1_150 + 5_000);
    expect(watch.fast).toBeGreaterThan(2); // a window is 200 ms: not judged again yet
    watch.observe(1_300, 1_301, 1.7e12 + 1_300 + 5_000);
    expect(watch.fast).toBeUndefined();
  });

  it('catches a clock that turns fast after a long time of keeping time', () => {
    const watch = new ClockWatch(0.01);
    feed(watch, 0, 60_000, 100, 1, 1);
    expect(watch.fast).toBeUndefined();
    // From 60 s on, twice as fast: within a second it is flagged (windows start over every 10 s at most).
    let flaggedAt: number | undefined;
    for (let t = 60_100; t <= 62_000 && flaggedAt === undefined; t += 100) {
      watch.observe(t, t + 1, 1.7e12 + 60_000 + 2 * (t - 60_000));
      if (watch.fast !== undefined) flaggedAt = t;
    }
    expect(flaggedAt).toBeDefined();
    expect(flaggedAt! - 60_000).toBeLessThanOrEqual(1_000);
  });
});
