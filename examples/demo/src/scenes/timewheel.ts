import { HierarchicalWheel } from '@x/timewheel';
import type { Scene } from '../scene.js';

const TIMERS = 50_000;
const WARM_UP_TIMERS = 10_000;
const SPAN_MS = 500;
/** Scheduling finishes before the first deadline, so lateness measures firing, not the scheduling burst. */
const LEAD_MS = 150;

interface Run {
  lateness: Float64Array;
}

// Schedules TIMERS timers due over SPAN_MS through `schedule` and records how late (negative: early) each fired.
async function run(schedule: (fire: () => void, delay: number) => void, timers = TIMERS): Promise<Run> {
  const lateness = new Float64Array(timers);
  let remaining = timers;
  await new Promise<void>((resolve) => {
    const started = performance.now();
    for (let i = 0; i < timers; i++) {
      const deadline = started + LEAD_MS + ((i * 7919) % timers) * (SPAN_MS / timers);
      schedule(() => {
        lateness[i] = performance.now() - deadline;
        if (--remaining === 0) resolve();
      }, Math.max(0, deadline - performance.now()));
    }
  });
  lateness.sort();
  return { lateness };
}

function summary(name: string, { lateness }: Run): string {
  const early = lateness.findIndex((value) => value >= 0);
  const quantile = (q: number): string => lateness[Math.floor(lateness.length * q)]!.toFixed(2);
  const before = early === -1 ? lateness.length : early;
  // How early the earliest firing was: setTimeout's early firings are sub-millisecond (it rounds to whole ms).
  const earliest = before === 0 ? '' : ` (the earliest ${(-lateness[0]!).toFixed(2)} ms early)`;
  return `${name.padEnd(19)} lateness p50 ${quantile(0.5).padStart(5)} ms, p99 ${quantile(0.99).padStart(5)} ms; fired before its deadline: ${before} of ${lateness.length}${earliest}`;
}

export const timewheelScene: Scene = {
  title: '@x/timewheel — 50,000 timers on one wheel vs Node setTimeout',
  async run(log) {
    const wheel = new HierarchicalWheel();
    // A short unmeasured round of each first, so neither is measured while the JIT is still compiling it.
    await run((fire, delay) => wheel.setTimeout(fire, delay), WARM_UP_TIMERS);
    await run((fire, delay) => setTimeout(fire, delay), WARM_UP_TIMERS);
    const before = wheel.stats();
    const ours = await run((fire, delay) => wheel.setTimeout(fire, delay));
    const stats = wheel.stats();
    wheel.close();
    const node = await run((fire, delay) => setTimeout(fire, delay));
    log(summary('HierarchicalWheel', ours));
    log(summary('setTimeout', node));
    log(`the wheel used one Node timer, woken ${stats.wakeups - before.wakeups} times for ${stats.fired - before.fired} callbacks; it never fires before a deadline`);
    log("(its p99 can be above setTimeout's: a tick's timers run one after another in one wake-up, so a burst's last waits for the rest)");
  },
};
