import { HierarchicalWheel } from '@x/timewheel';

/** Lateness figures of one run, ms (negative lateness means the callback ran before its deadline). */
export interface Lateness {
  p50: number;
  p99: number;
  early: number;
}

/**
 * Schedules `count` timers with deadlines spread evenly over `spanMs`, starting `LEAD_MS` from now so that
 * scheduling them all is over before the first is due, and records for each how long after its deadline (by
 * performance.now()) its callback ran: firing precision on an otherwise idle loop.
 */
export async function measureLateness(impl: 'hierarchical' | 'setTimeout', count: number, spanMs: number): Promise<Lateness> {
  const wheel = impl === 'hierarchical' ? new HierarchicalWheel() : undefined;
  const lateness = new Float64Array(count);
  let remaining = count;
  await new Promise<void>((resolve) => {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const deadline = started + LEAD_MS + ((i * 7919) % count) * (spanMs / count);
      const fire = (): void => {
        lateness[i] = performance.now() - deadline;
        if (--remaining === 0) resolve();
      };
      const delay = deadline - performance.now();
      if (wheel) wheel.setTimeout(fire, delay);
      else setTimeout(fire, delay);
    }
  });
  wheel?.close();
  lateness.sort();
  let early = 0;
  for (const value of lateness) if (value < 0) early++;
  return { p50: lateness[Math.floor(count * 0.5)]!, p99: lateness[Math.floor(count * 0.99)]!, early };
}

/** Time given to scheduling before the first deadline (setTimeout needs about 100 ms for 100k timers here). */
const LEAD_MS = 400;
