/**
 * Counts of many objects of one kind (wheels, servers, reactors), reported as one series per attribute set:
 * summed over the objects alive when metrics are collected, plus what the objects that closed (or were garbage
 * collected) had counted, so that a counter never goes back. (OpenTelemetry keeps one value per attribute set
 * of an asynchronous instrument: objects reporting their own counts under the same attributes would overwrite
 * each other.) The objects' counts are their own plain numbers, read only at collection.
 */
import type { GaugeObservation, InstrumentOptions, TelemetryAttributes, TelemetryMeter } from './telemetry.js';

/** One object's counts, as it keeps them (the object is read at collection), and the attributes it counts under. */
export interface CountSource<K extends string> {
  readonly attributes: TelemetryAttributes;
  readonly counts: Readonly<Record<K, number>>;
}

/** An instrument of {@link ProcessTotals}: which count it reports. */
export interface TotalInstrument<K extends string> extends InstrumentOptions {
  name: string;
  count: K;
}

export class ProcessTotals<K extends string> {
  private readonly live = new Set<CountSource<K>>();
  /** Per attribute set (by identity: make each set once), what closed objects had counted. */
  private readonly retired = new Map<TelemetryAttributes, Record<string, number>>();
  private readonly collected = new FinalizationRegistry<CountSource<K>>((source) => this.remove(source));

  /**
   * `counters` are monotonic (kept over closed objects); `gauges` are levels of open objects only (what is open,
   * pending, queued).
   */
  constructor(meter: TelemetryMeter, counters: readonly TotalInstrument<K>[], gauges: readonly TotalInstrument<K>[]) {
    for (const { name, count, ...options } of counters) meter.observableCounter(name, options, (o) => this.observe(o, count, true));
    for (const { name, count, ...options } of gauges) meter.gauge(name, options, (o) => this.observe(o, count, false));
  }

  /** Counts `source` from now on, until `remove(source)` or until `owner` is garbage collected. */
  add(owner: object, source: CountSource<K>): void {
    this.live.add(source);
    this.collected.register(owner, source, source);
  }

  /** The object closed: its monotonic counts stay in the totals, its levels leave them. */
  remove(source: CountSource<K>): void {
    if (!this.live.delete(source)) return;
    this.collected.unregister(source);
    let retired = this.retired.get(source.attributes);
    if (retired === undefined) this.retired.set(source.attributes, (retired = {}));
    for (const [count, value] of Object.entries(source.counts) as [K, number][]) retired[count] = (retired[count] ?? 0) + value;
  }

  private observe(observation: GaugeObservation, count: K, withRetired: boolean): void {
    const sums = new Map<TelemetryAttributes, number>();
    // A level of objects that all closed is 0, said as such (the last value would otherwise stand).
    for (const [attributes, retired] of this.retired) sums.set(attributes, withRetired ? (retired[count] ?? 0) : 0);
    for (const { attributes, counts } of this.live) sums.set(attributes, (sums.get(attributes) ?? 0) + counts[count]);
    for (const [attributes, sum] of sums) observation.observe(sum, attributes);
  }
}
