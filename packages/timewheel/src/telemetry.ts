/**
 * The wheels' OpenTelemetry instruments (see README: Metrics): none record unless the application registered an
 * SDK's MeterProvider before a wheel was made (`@opentelemetry/api`, an optional peer).
 *
 * A process may make many wheels (one per queue, per server), so the counts are reported per kind of wheel,
 * summed over every wheel (ProcessTotals). Nothing is added to scheduling or cancelling: the wheels' own counters
 * are read at collection; firing times a sample of timers for the lateness histogram (see RateSampler).
 */
import { createRequire } from 'node:module';
import { type CountSource, DURATION_BUCKETS_S, ProcessTotals, type TelemetryAttributes, type TelemetryHistogram, processInstruments } from '@x/core';
import type { TimerWheelStats } from './wheel.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** Which wheel counted: the `x.timewheel.kind` attribute. */
export type WheelKind = 'hashed' | 'hierarchical';

const ATTRIBUTES: Record<WheelKind, TelemetryAttributes> = { hashed: { 'x.timewheel.kind': 'hashed' }, hierarchical: { 'x.timewheel.kind': 'hierarchical' } };

/** A wheel as the metrics see it. */
export interface WheelTelemetry {
  readonly attributes: TelemetryAttributes;
  /** Where to record a sample of firings' lateness; undefined when nothing records. */
  readonly lateness: TelemetryHistogram | undefined;
  /** The wheel closed. */
  close(): void;
}

/** The instruments, made with the first wheel made while an SDK is registered. */
const instruments = processInstruments('@x/timewheel', VERSION, (meter) => ({
  totals: new ProcessTotals<keyof TimerWheelStats>(
    meter,
    [
      { name: 'x.timewheel.timers.scheduled', count: 'scheduled', description: 'Timers scheduled', unit: '{timer}' },
      { name: 'x.timewheel.timers.fired', count: 'fired', description: 'Timer callbacks run', unit: '{timer}' },
      { name: 'x.timewheel.timers.cancelled', count: 'cancelled', description: 'Timers cancelled before firing', unit: '{timer}' },
    ],
    [{ name: 'x.timewheel.timers.pending', count: 'pending', description: 'Timers waiting to fire, in open wheels', unit: '{timer}' }],
  ),
  lateness: meter.histogram('x.timewheel.timer.lateness', { description: 'How long after its deadline a timer fired (a sample)', unit: 's', buckets: DURATION_BUCKETS_S }),
}));

/** Counts `wheel` (its `counters`, read at collection) in the metrics until it closes or is collected. */
export function watchWheel(wheel: object, kind: WheelKind, counters: TimerWheelStats): WheelTelemetry {
  const attributes = ATTRIBUTES[kind];
  const recording = instruments();
  if (recording === undefined) return { attributes, lateness: undefined, close: () => undefined };
  const source: CountSource<keyof TimerWheelStats> = { attributes, counts: counters };
  recording.totals.add(wheel, source);
  return { attributes, lateness: recording.lateness, close: () => recording.totals.remove(source) };
}
