/**
 * The wheels' OpenTelemetry instruments (see README: Metrics): none record unless the application registered an
 * SDK's MeterProvider before the first wheel was made (`@opentelemetry/api`, an optional peer).
 *
 * A process may make many wheels (one per queue, per server), so the counts are reported per kind of wheel, summed
 * over the wheels alive when metrics are collected plus what closed (or collected) wheels had counted. Nothing is
 * added to scheduling or cancelling: the wheels' own counters are read at collection; firing times a sample of
 * timers for the lateness histogram (see RateSampler in @x/core).
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, type TelemetryAttributes, type TelemetryHistogram, type TelemetryMeter, packageMeter } from '@x/core';
import type { TimerWheelStats } from './wheel.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** Which wheel counted: the `x.timewheel.kind` attribute. */
export type WheelKind = 'hashed' | 'hierarchical';

/** A wheel's counters as it keeps them (the object itself, read at collection). */
export interface WheelCounters extends TimerWheelStats {
  readonly kind: WheelKind;
}

type Totals = Record<'scheduled' | 'fired' | 'cancelled', number>;

const ATTRIBUTES: Record<WheelKind, TelemetryAttributes> = { hashed: { 'x.timewheel.kind': 'hashed' }, hierarchical: { 'x.timewheel.kind': 'hierarchical' } };

let meter: TelemetryMeter | undefined;
let latenessHistogram: TelemetryHistogram | undefined;
const live = new Set<WheelCounters>();
const retired: Record<WheelKind, Totals> = { hashed: { scheduled: 0, fired: 0, cancelled: 0 }, hierarchical: { scheduled: 0, fired: 0, cancelled: 0 } };
/** A wheel dropped without close(): its counts join the retired ones when it is collected. */
const dropped = new FinalizationRegistry<WheelCounters>((counters) => retire(counters));

function retire(counters: WheelCounters): void {
  if (!live.delete(counters)) return;
  const totals = retired[counters.kind];
  totals.scheduled += counters.scheduled;
  totals.fired += counters.fired;
  totals.cancelled += counters.cancelled;
}

/** Sum of a count over live and retired wheels, per kind. */
function observeTotal(name: keyof Totals): (observation: { observe(value: number, attributes: TelemetryAttributes): void }) => void {
  return (observation) => {
    const sums = { hashed: retired.hashed[name], hierarchical: retired.hierarchical[name] };
    for (const counters of live) sums[counters.kind] += counters[name];
    for (const kind of ['hashed', 'hierarchical'] as const) if (sums[kind] > 0) observation.observe(sums[kind], ATTRIBUTES[kind]);
  };
}

/** The instruments, made with the first wheel made while an SDK is registered; undefined when nothing records. */
function instruments(): TelemetryHistogram | undefined {
  if (meter?.recording === true) return latenessHistogram;
  // Asked again at each new wheel until something records: an SDK registered after the first wheels still counts
  // the wheels made after it.
  meter = packageMeter('@x/timewheel', VERSION);
  if (!meter.recording) return undefined;
  meter.observableCounter('x.timewheel.timers.scheduled', { description: 'Timers scheduled', unit: '{timer}' }, observeTotal('scheduled'));
  meter.observableCounter('x.timewheel.timers.fired', { description: 'Timer callbacks run', unit: '{timer}' }, observeTotal('fired'));
  meter.observableCounter('x.timewheel.timers.cancelled', { description: 'Timers cancelled before firing', unit: '{timer}' }, observeTotal('cancelled'));
  meter.gauge('x.timewheel.timers.pending', { description: 'Timers waiting to fire, in open wheels', unit: '{timer}' }, (observation) => {
    const sums = { hashed: 0, hierarchical: 0 };
    for (const counters of live) sums[counters.kind] += counters.pending;
    for (const kind of ['hashed', 'hierarchical'] as const) observation.observe(sums[kind], ATTRIBUTES[kind]);
  });
  latenessHistogram = meter.histogram('x.timewheel.timer.lateness', {
    description: 'How long after its deadline a timer fired (a sample)',
    unit: 's',
    buckets: DURATION_BUCKETS_S,
  });
  return latenessHistogram;
}

/**
 * Counts `wheel` in the metrics until `unwatchWheel` (its close) or its collection. Returns the lateness
 * histogram to record a sample of firings to, or undefined when nothing records.
 */
export function watchWheel(wheel: object, counters: WheelCounters): TelemetryHistogram | undefined {
  const histogram = instruments();
  if (histogram === undefined) return undefined;
  live.add(counters);
  dropped.register(wheel, counters, counters);
  return histogram;
}

export function unwatchWheel(counters: WheelCounters): void {
  dropped.unregister(counters);
  retire(counters);
}

/** The attributes of a kind of wheel, for the lateness histogram. */
export function attributesOf(kind: WheelKind): TelemetryAttributes {
  return ATTRIBUTES[kind];
}
