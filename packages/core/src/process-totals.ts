/**
 * Counts of many objects of one kind (wheels, servers, reactors), reported as one series per attribute set:
 * summed over the objects alive when metrics are collected, plus what the objects that closed (or were garbage
 * collected) had counted, so that a counter never goes back. (OpenTelemetry keeps one value per attribute set
 * of an asynchronous instrument: objects reporting their own counts under the same attributes would overwrite
 * each other.) The objects' counts are their own plain numbers, read only at collection. Attribute sets are told
 * apart by content, so objects that made theirs apart (two consumers of one group) still add up.
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
  /** The objects counted now, with the key of their attribute set. */
  private readonly live = new Map<CountSource<K>, string>();
  /** Per attribute set (by its key), the attributes and what closed objects had counted. */
  private readonly retired = new Map<string, { attributes: TelemetryAttributes; counts: Record<string, number> }>();
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
    this.live.set(source, attributeKey(source.attributes));
    this.collected.register(owner, source, source);
  }

  /** The object closed: its monotonic counts stay in the totals, its levels leave them. */
  remove(source: CountSource<K>): void {
    const key = this.live.get(source);
    if (key === undefined) return;
    this.live.delete(source);
    this.collected.unregister(source);
    let retired = this.retired.get(key);
    if (retired === undefined) this.retired.set(key, (retired = { attributes: source.attributes, counts: {} }));
    for (const [count, value] of Object.entries(source.counts) as [K, number][]) retired.counts[count] = (retired.counts[count] ?? 0) + value;
  }

  private observe(observation: GaugeObservation, count: K, withRetired: boolean): void {
    const sums = new Map<string, { attributes: TelemetryAttributes; sum: number }>();
    // A level of objects that all closed is 0, said as such (the last value would otherwise stand).
    for (const [key, { attributes, counts }] of this.retired) sums.set(key, { attributes, sum: withRetired ? (counts[count] ?? 0) : 0 });
    for (const [{ attributes, counts }, key] of this.live) {
      const entry = sums.get(key);
      if (entry === undefined) sums.set(key, { attributes, sum: counts[count] });
      else entry.sum += counts[count];
    }
    for (const { attributes, sum } of sums.values()) observation.observe(sum, attributes);
  }
}

/** The same string for equal attribute sets, whatever order their keys were written in. */
function attributeKey(attributes: TelemetryAttributes): string {
  return JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
