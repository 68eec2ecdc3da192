import { HierarchicalWheel } from '@x/timewheel';
import type { Scene } from '../scene.js';

const TIMERS = 50_000;
const SPAN_MS = 500;

interface Run {
  scheduleMs: number;
  lateness: Float64Array;
}

// Schedules TIMERS timers due over SPAN_MS through `schedule` and records how late (negative: early) each fired.
async function run(schedule: (fire: () => void, delay: number) => void): Promise<Run> {
  const lateness = new Float64Array(TIMERS);
  let remaining = TIMERS;
  let scheduleMs = 0;
  await new Promise<void>((resolve) => {
    const started = performance.now();
    for (let i = 0; i < TIMERS; i++) {
      const deadline = started + 1 + ((i * 7919) % TIMERS) * (SPAN_MS / TIMERS);
      schedule(() => {
        lateness[i] = performance.now() - deadline;
        if (--remaining === 0) resolve();
      }, deadline - performance.now());
    }
    scheduleMs = performance.now() - started;
  });
  lateness.sort();
  return { scheduleMs, lateness };
}

function summary(name: string, { scheduleMs, lateness }: Run): string {
  const early = lateness.findIndex((value) => value >= 0);
  const quantile = (q: number): string => lateness[Math.floor(lateness.length * q)]!.toFixed(2);
  return `${name.padEnd(19)} scheduled in ${scheduleMs.toFixed(0).padStart(4)} ms; lateness p50 ${quantile(0.5)} ms, p99 ${quantile(0.99)} ms; fired early: ${early === -1 ? lateness.length : early}`;
}

export const timewheelScene: Scene = {
  title: '@x/timewheel — 50,000 timers on one wheel vs Node setTimeout',
  async run(log) {
    const wheel = new HierarchicalWheel();
    const ours = await run((fire, delay) => wheel.setTimeout(fire, delay));
    const stats = wheel.stats();
    wheel.close();
    const node = await run((fire, delay) => setTimeout(fire, delay));
    log(summary('HierarchicalWheel', ours));
    log(summary('setTimeout', node));
    log(`the wheel used one Node timer, woken ${stats.wakeups} times for ${stats.fired} callbacks; it never fires before a deadline`);
  },
};
