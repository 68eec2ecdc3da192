/** The wheels' OpenTelemetry metrics, read back from the SDK's reader. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { ManualClock } from '@x/core';
import { type MetricsSdk, metricPoints as points, registerMetricsSdk } from '@x/testkit';
import { HashedWheel, HierarchicalWheel } from '../src/index.js';

// One SDK for the file, as an application registers one: the wheels' instruments are made with the first wheel.
let sdk: MetricsSdk;
beforeAll(() => {
  sdk = registerMetricsSdk();
});
afterAll(async () => {
  await sdk.shutdown();
});

function byKind(from: ResourceMetrics, name: string): Record<string, unknown> {
  return Object.fromEntries(points(from, name).map((p) => [String(p.attributes['x.timewheel.kind']), p.value]));
}

describe('timer wheel metrics (OpenTelemetry)', () => {
  it('counts timers scheduled, fired and cancelled per kind of wheel over every wheel, closed ones included, with pending timers and lateness', async () => {
    const clock = new ManualClock({ now: 0 });
    const [a, b] = [new HashedWheel({ clock }), new HashedWheel({ clock })];
    const deep = new HierarchicalWheel({ clock });
    let fired = 0;
    for (const wheel of [a, b, deep]) for (let i = 1; i <= 10; i++) wheel.setTimeout(() => fired++, i * 10);
    a.setTimeout(() => fired++, 5).cancel();
    let now = await sdk.collect();
    expect(byKind(now, 'x.timewheel.timers.scheduled')).toEqual({ hashed: 21, hierarchical: 10 });
    expect(byKind(now, 'x.timewheel.timers.cancelled')).toEqual({ hashed: 1, hierarchical: 0 });
    expect(byKind(now, 'x.timewheel.timers.pending')).toEqual({ hashed: 20, hierarchical: 10 });
    clock.advance(50);
    expect(fired).toBe(15);
    now = await sdk.collect();
    expect(byKind(now, 'x.timewheel.timers.fired')).toEqual({ hashed: 10, hierarchical: 5 });
    expect(byKind(now, 'x.timewheel.timers.pending')).toEqual({ hashed: 10, hierarchical: 5 });
    // A manual clock fires each timer at its deadline: every firing timed (a slow stream), none late.
    const lateness = points(now, 'x.timewheel.timer.lateness').map((p) => [p.attributes['x.timewheel.kind'], (p.value as { count: number }).count, (p.value as { sum: number }).sum]);
    expect(lateness.sort()).toEqual([
      ['hashed', 10, 0],
      ['hierarchical', 5, 0],
    ]);
    // A closed wheel's counts stay in the totals; its pending timers are gone.
    b.close();
    now = await sdk.collect();
    expect(byKind(now, 'x.timewheel.timers.scheduled')).toEqual({ hashed: 21, hierarchical: 10 });
    expect(byKind(now, 'x.timewheel.timers.fired')).toEqual({ hashed: 10, hierarchical: 5 });
    expect(byKind(now, 'x.timewheel.timers.pending')).toEqual({ hashed: 5, hierarchical: 5 });
    a.close();
    deep.close();
    now = await sdk.collect();
    expect(byKind(now, 'x.timewheel.timers.pending')).toEqual({ hashed: 0, hierarchical: 0 });
  });

  it('times how late timers fire behind a blocked event loop', async () => {
    const wheel = new HashedWheel();
    const latenessOf = async (): Promise<{ count: number; sum: number }> => {
      const point = points(await sdk.collect(), 'x.timewheel.timer.lateness').find((p) => p.attributes['x.timewheel.kind'] === 'hashed');
      return (point?.value as { count: number; sum: number } | undefined) ?? { count: 0, sum: 0 };
    };
    const before = await latenessOf();
    const fired: number[] = [];
    const scheduledAt = performance.now();
    for (let i = 0; i < 5; i++) wheel.setTimeout(() => fired.push(performance.now()), 10);
    // The loop is busy for 60 ms: the timers due at 10 ms fire about 50 ms late.
    while (performance.now() - scheduledAt < 60);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(fired).toHaveLength(5);
    const after = await latenessOf();
    expect(after.count - before.count).toBe(5);
    expect((after.sum - before.sum) / 5).toBeGreaterThanOrEqual(0.045);
    wheel.close();
  });
});
