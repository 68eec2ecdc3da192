import { metrics } from '@opentelemetry/api';
import { metricPoints as points, registerMetricsSdk as registerSdk } from '@x/testkit';
import { DURATION_BUCKETS_S, RateSampler, packageMeter, processInstruments } from '../src/index.js';

describe('packageMeter', () => {
  afterEach(() => {
    metrics.disable();
    delete process.env.X_TELEMETRY;
  });

  it('records nothing, and says so, while no MeterProvider is registered', () => {
    const meter = packageMeter('@x/test', '1.0.0');
    expect(meter.recording).toBe(false);
    // The no-op instruments take every call.
    meter.counter('x.test.calls', { description: 'calls', unit: '{call}' }).add(1, { a: 'b' });
    meter.histogram('x.test.duration', { description: 'duration', unit: 's', buckets: DURATION_BUCKETS_S }).record(0.1);
    expect(typeof meter.gauge('x.test.depth', { description: 'depth', unit: '{item}' }, () => undefined)).toBe('function');
  });

  it('records counters, up-down counters, histograms with their buckets and gauges to a registered SDK, by attributes', async () => {
    const sdk = registerSdk();
    try {
      const meter = packageMeter('@x/test', '1.2.3');
      expect(meter.recording).toBe(true);
      const calls = meter.counter('x.test.calls', { description: 'calls', unit: '{call}' });
      const open = meter.upDownCounter('x.test.open', { description: 'open things', unit: '{thing}' });
      const duration = meter.histogram('x.test.duration', { description: 'how long', unit: 's', buckets: [0.01, 0.1, 1] });
      let depth = 7;
      const stop = meter.gauge('x.test.depth', { description: 'depth', unit: '{item}' }, (observation) => observation.observe(depth, { queue: 'q' }));
      const ok = { outcome: 'ok' };
      calls.add(2, ok);
      calls.add(1, { outcome: 'failed' });
      calls.add(3, ok);
      open.add(1);
      open.add(1);
      open.add(-1);
      for (const seconds of [0.005, 0.05, 0.5, 5]) duration.record(seconds);
      let collected = await sdk.collect();
      expect(collected.scopeMetrics[0]!.scope).toMatchObject({ name: '@x/test', version: '1.2.3' });
      expect(points(collected, 'x.test.calls').map((p) => [p.attributes, p.value]).sort()).toEqual([
        [{ outcome: 'failed' }, 1],
        [{ outcome: 'ok' }, 5],
      ]);
      expect(points(collected, 'x.test.open').map((p) => p.value)).toEqual([1]);
      const histogram = points(collected, 'x.test.duration')[0]!.value as { buckets: { boundaries: number[]; counts: number[] }; count: number; sum: number };
      expect(histogram.buckets).toEqual({ boundaries: [0.01, 0.1, 1], counts: [1, 1, 1, 1] });
      expect(histogram.count).toBe(4);
      expect(points(collected, 'x.test.depth').map((p) => [p.attributes, p.value])).toEqual([[{ queue: 'q' }, 7]]);
      // A gauge is read at collection, and not at all once stopped.
      depth = 9;
      collected = await sdk.collect();
      expect(points(collected, 'x.test.depth').map((p) => p.value)).toEqual([9]);
      stop();
      depth = 11;
      collected = await sdk.collect();
      expect(points(collected, 'x.test.depth').map((p) => p.value)).not.toContain(11);
    } finally {
      await sdk.shutdown();
    }
  });

  it('reads an observable counter at collection, as a cumulative total, until stopped', async () => {
    const sdk = registerSdk();
    try {
      const meter = packageMeter('@x/test', '1.0.0');
      let handled = 0;
      const stop = meter.observableCounter('x.test.handled', { description: 'handled', unit: '{record}' }, (observation) => observation.observe(handled, { group: 'g' }));
      handled = 5;
      expect(points(await sdk.collect(), 'x.test.handled').map((p) => [p.attributes, p.value])).toEqual([[{ group: 'g' }, 5]]);
      handled = 12;
      expect(points(await sdk.collect(), 'x.test.handled').map((p) => p.value)).toEqual([12]);
      stop();
      handled = 20;
      expect(points(await sdk.collect(), 'x.test.handled').map((p) => p.value)).not.toContain(20);
    } finally {
      await sdk.shutdown();
    }
    expect(typeof packageMeter('@x/test', '1.0.0').observableCounter('x.test.none', { description: 'none', unit: '{record}' }, () => undefined)).toBe('function');
  });

  it('records nothing with X_TELEMETRY=off, whatever is registered', async () => {
    const sdk = registerSdk();
    try {
      process.env.X_TELEMETRY = 'off';
      const meter = packageMeter('@x/test', '1.0.0');
      expect(meter.recording).toBe(false);
      meter.counter('x.test.off', { description: 'off', unit: '{call}' }).add(1);
      expect(points(await sdk.collect(), 'x.test.off')).toEqual([]);
    } finally {
      await sdk.shutdown();
    }
  });
});

describe('processInstruments', () => {
  it('makes the instruments once per registered provider, again for a provider registered later, and none while nothing records', async () => {
    let made = 0;
    const instruments = processInstruments('@x/test-process', '1.0.0', (meter) => {
      made++;
      return meter.counter('x.test.process.made', { description: 'made', unit: '{thing}' });
    });
    expect(instruments()).toBeUndefined();
    expect(made).toBe(0);
    const first = registerSdk();
    try {
      instruments()!.add(1);
      instruments()!.add(2);
      expect(made).toBe(1);
      expect(points(await first.collect(), 'x.test.process.made').map((p) => p.value)).toEqual([3]);
    } finally {
      await first.shutdown();
    }
    expect(instruments()).toBeUndefined();
    const second = registerSdk();
    try {
      // The first provider's counter would record where nobody reads any more.
      instruments()!.add(5);
      expect(made).toBe(2);
      expect(points(await second.collect(), 'x.test.process.made').map((p) => p.value)).toEqual([5]);
    } finally {
      await second.shutdown();
    }
  });
});

describe('RateSampler', () => {
  it('samples every event of a slow stream', async () => {
    const sampler = new RateSampler(100, 4);
    let sampled = 0;
    for (let i = 0; i < 12; i++) {
      if (sampler.sample()) sampled++;
      // 50 events a second: under the 100 asked for.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(sampled).toBe(12);
  });

  it('samples a fast stream down to the rate asked, evenly', () => {
    // A time of the test's own: one event every microsecond, a million a second.
    let now = 0;
    const sampler = new RateSampler(100, 256, () => now);
    const picks: number[] = [];
    for (let event = 0; event < 2_000_000; event++, now += 0.001) if (sampler.sample()) picks.push(event);
    // The first 50 ms (50,000 events) are taken whole: the rate is not known yet. Then one in 10,000: 100 a second.
    const settled = picks.filter((event) => event >= 60_000);
    const gaps = settled.slice(1).map((event, k) => event - settled[k]!);
    // (The stride is measured again every window: a rounding apart, and the phase moves when it changes.)
    for (const gap of gaps) expect(Math.abs(gap - 10_000)).toBeLessThanOrEqual(50);
    expect(settled.length).toBeGreaterThanOrEqual(190);
    expect(settled.length).toBeLessThanOrEqual(196);
  });
});
