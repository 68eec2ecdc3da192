/**
 * `npm run bench -w @x/timewheel [-- --quick]`: HierarchicalWheel (the recommended wheel) against Node's
 * setTimeout, and against the npm package timer-wheel where its API allows (schedule, cancel, memory: it is not
 * self-driving, so it has no lateness). Cases ending in `-id` use the handle-free `schedule()`/`cancel(id)`;
 * HashedWheel figures are printed under their own case ids. Scheduling cases measure each side's first 1,000,000
 * timers in a fresh process (`schedule`: distinct delays of 1-600 s, shuffled; `sorted-delays`: the same in
 * ascending order; `same-delay`: all 30 s, where setTimeout's per-duration lists make it cheapest). `fresh-fill`: a new wheel's first timers against a refill of
 * such a wheel (`-sized`: made with `initialCapacity`).
 */
import { type BenchCase, childMeasurement, isQuick, measureInChild, otelApiCase, runBench, withMetricsSdk } from '@x/testkit';
import { heapBytesPerTimer } from './heap.js';
import { type ImplName } from './implementations.js';
import { type Lateness, measureLateness } from './lateness.js';
import { type DelayKind, cancelPerSecond, fillRates, schedulePerSecond } from './throughput.js';

const quick = isQuick();
const timers = quick ? 100_000 : 1_000_000;
const latenessTimers = quick ? 20_000 : 100_000;
const latenessSpan = quick ? 1_000 : 2_000;
const rounds = quick ? 3 : 5;

function versus(id: string, ours: ImplName, peer: ImplName, measure: (impl: ImplName) => number, unit: string, better: 'higher' | 'lower'): BenchCase {
  return { id, unit, better, peer, rounds, ours: () => measure(ours), theirs: () => measure(peer) };
}

const IMPLS: readonly ImplName[] = ['hierarchical', 'hierarchical-id', 'hashed', 'setTimeout', 'timer-wheel'];
const DELAY_KINDS: readonly DelayKind[] = ['distinct', 'sorted', 'same'];

/**
 * Schedules per second of one implementation's first `timers` timers, each measurement in a fresh process (a
 * new wheel's storage, a cold JIT, an empty timer list: what a service meets at start), named `<kind>:<impl>`.
 */
const freshSchedules: Record<string, () => number> = Object.fromEntries(
  DELAY_KINDS.flatMap((kind) => IMPLS.map((impl) => [`${kind}:${impl}`, () => schedulePerSecond(impl, timers, kind)])),
);

function freshVersus(id: string, kind: DelayKind, ours: ImplName, peer: ImplName): BenchCase {
  return {
    id,
    unit: 'ops/s',
    better: 'higher',
    peer,
    rounds,
    warmup: 0,
    ours: () => measureInChild(`${kind}:${ours}`, { otelApi: true }),
    theirs: () => measureInChild(`${kind}:${peer}`, { otelApi: true }),
  };
}

const latenessRuns: Record<'ours' | 'peer', Lateness[]> = { ours: [], peer: [] };

/** A fresh process's schedule rate, after one unmeasured pass (the JIT's warm-up), for otel-api-schedule. */
const warmSchedule = (): number => {
  schedulePerSecond('hierarchical', timers);
  return schedulePerSecond('hierarchical', timers);
};

void (async () => {
  if (
    await childMeasurement({
      ...freshSchedules,
      schedule: warmSchedule,
      'first-fill': () => fillRates(timers, {}).first,
      'first-fill-sized': () => fillRates(timers, { initialCapacity: timers }).first,
      refill: () => fillRates(timers, {}).refill,
    })
  ) {
    return;
  }
  // A wheel's first fill in a fresh process, against the refill of that wheel (its timers cancelled) in another.
  const fresh = (id: string, first: string): BenchCase => ({
    id,
    unit: 'ops/s',
    better: 'higher',
    peer: 'refill of the same wheel',
    rounds,
    warmup: 0,
    ours: () => measureInChild(first, { otelApi: true }),
    theirs: () => measureInChild('refill', { otelApi: true }),
  });
  await runBench('timewheel', [
    freshVersus('schedule', 'distinct', 'hierarchical', 'setTimeout'),
    freshVersus('schedule', 'distinct', 'hierarchical', 'timer-wheel'),
    freshVersus('schedule-id', 'distinct', 'hierarchical-id', 'setTimeout'),
    freshVersus('sorted-delays', 'sorted', 'hierarchical', 'setTimeout'),
    freshVersus('same-delay', 'same', 'hierarchical', 'setTimeout'),
    freshVersus('same-delay-id', 'same', 'hierarchical-id', 'setTimeout'),
    // Handles against ids: what a handle object costs on top of the timer.
    freshVersus('handles-vs-ids', 'distinct', 'hierarchical', 'hierarchical-id'),
    versus('cancel', 'hierarchical', 'setTimeout', (impl) => cancelPerSecond(impl, timers), 'ops/s', 'higher'),
    versus('cancel', 'hierarchical', 'timer-wheel', (impl) => cancelPerSecond(impl, timers), 'ops/s', 'higher'),
    versus('cancel-id', 'hierarchical-id', 'setTimeout', (impl) => cancelPerSecond(impl, timers), 'ops/s', 'higher'),
    { ...versus('heap-per-timer', 'hierarchical', 'setTimeout', (impl) => heapBytesPerTimer(impl, timers), 'bytes', 'lower'), rounds: 3, warmup: 0 },
    { ...versus('heap-per-timer', 'hierarchical', 'timer-wheel', (impl) => heapBytesPerTimer(impl, timers), 'bytes', 'lower'), rounds: 3, warmup: 0 },
    { ...versus('heap-per-timer-id', 'hierarchical-id', 'setTimeout', (impl) => heapBytesPerTimer(impl, timers), 'bytes', 'lower'), rounds: 3, warmup: 0 },
    {
      id: 'lateness-p99',
      unit: 'ms',
      better: 'lower',
      peer: 'setTimeout',
      rounds,
      ours: async () => {
        const result = await measureLateness('hierarchical', latenessTimers, latenessSpan);
        latenessRuns.ours.push(result);
        return result.p99;
      },
      theirs: async () => {
        const result = await measureLateness('setTimeout', latenessTimers, latenessSpan);
        latenessRuns.peer.push(result);
        return result.p99;
      },
    },
    // What metrics cost: a wheel made with an OpenTelemetry SDK registered (a reader collecting every second)
    // against one made with none; then the API installed but no SDK, against the API not installed at all.
    {
      id: 'telemetry-schedule',
      unit: 'ops/s',
      better: 'higher',
      peer: 'hierarchical without an SDK',
      rounds,
      ours: () => withMetricsSdk(async () => schedulePerSecond('hierarchical', timers)),
      theirs: () => schedulePerSecond('hierarchical', timers),
    },
    otelApiCase('schedule', 'schedule', { unit: 'ops/s', better: 'higher', rounds, warmup: 0 }),
    fresh('fresh-fill', 'first-fill'),
    fresh('fresh-fill-sized', 'first-fill-sized'),
    freshVersus('hashed.schedule', 'distinct', 'hashed', 'setTimeout'),
    versus('hashed.cancel', 'hashed', 'setTimeout', (impl) => cancelPerSecond(impl, timers), 'ops/s', 'higher'),
  ]);
  const describe = (runs: Lateness[]): string =>
    runs.map((r) => `p50 ${r.p50.toFixed(3)} p99 ${r.p99.toFixed(3)} early ${r.early}`).join(' | ');
  if (latenessRuns.ours.length === 0) return;
  console.log(`lateness rounds (${latenessTimers} timers over ${latenessSpan} ms, incl. warm-up):`);
  console.log(`  ours:       ${describe(latenessRuns.ours)}`);
  console.log(`  setTimeout: ${describe(latenessRuns.peer)}`);
})().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
