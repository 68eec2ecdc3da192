/** The consumer's OpenTelemetry metrics, read back from the SDK's reader after real consumption on the broker. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { type MetricsSdk, metricPoints as points, registerMetricsSdk, requireKafka } from '@x/testkit';
import { ParallelConsumer } from '../src/index.js';
import { eventually, freshTopic, kafka, produce, uniqueName } from './kafka.js';

let sdk: MetricsSdk;
const consumers: ParallelConsumer[] = [];

beforeAll(async () => {
  await (await requireKafka()).disconnect();
});
beforeEach(() => {
  sdk = registerMetricsSdk();
});
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
  await sdk.shutdown();
});

/** The single value of a counter or gauge (summed over its attribute sets). */
function total(from: ResourceMetrics, name: string): number {
  return points(from, name).reduce((sum, p) => sum + (p.value as number), 0);
}

function histogramCount(from: ResourceMetrics, name: string, filter: (attributes: Record<string, unknown>) => boolean = () => true): number {
  return points(from, name)
    .filter((p) => filter(p.attributes))
    .reduce((sum, p) => sum + (p.value as { count: number }).count, 0);
}

describe('consumer metrics (OpenTelemetry)', () => {
  it('counts records taken on, completed, failed, retried and dead, times every run of a slow stream, and reports lag, commits and rebalances', async () => {
    const topic = await freshTopic(2);
    await produce(topic, 60, 6);
    const groupId = uniqueName('g');
    const failedOnce = new Set<number>();
    const options = {
      kafka,
      groupId,
      topics: [topic],
      fromBeginning: true,
      commitIntervalMs: 50,
      maxAttempts: 2,
      retryDelayMs: 1,
      handler: async (record: { value: Buffer | null }) => {
        const value = Number(record.value);
        // Values 0-4 fail for good (two attempts each); 10-14 fail once and then succeed.
        if (value < 5) throw new TypeError(`poison ${value}`);
        if (value >= 10 && value < 15 && !failedOnce.has(value)) {
          failedOnce.add(value);
          throw Object.assign(new Error('flaky'), { code: 'E_FLAKY' });
        }
      },
    };
    const a = new ParallelConsumer(options);
    a.on('error', () => undefined);
    consumers.push(a);
    await a.start();
    await eventually(() => a.metrics().completed === 60, 'every record completed');
    await eventually(() => a.metrics().partitions.reduce((sum, p) => sum + Number(p.committedOffset), 0) === 60, 'everything committed');
    let now = await sdk.collect();
    const group = { 'messaging.system': 'kafka', 'messaging.consumer.group.name': groupId };
    expect(points(now, 'messaging.client.consumed.messages').map((p) => [p.attributes, p.value])).toEqual([[group, 60]]);
    expect(total(now, 'x.kafka_fast.records.completed')).toBe(60);
    // 5 poison records x 2 attempts, 5 flaky ones once.
    expect(total(now, 'x.kafka_fast.records.failed')).toBe(15);
    expect(total(now, 'x.kafka_fast.records.retried')).toBe(10);
    expect(total(now, 'x.kafka_fast.records.dead')).toBe(5);
    expect(total(now, 'x.kafka_fast.records.in_flight')).toBe(0);
    expect(total(now, 'x.kafka_fast.records.buffered')).toBe(0);
    expect(points(now, 'x.kafka_fast.consumer.lag').map((p) => [p.attributes['messaging.destination.partition.id'], p.value]).sort()).toEqual([
      ['0', 0],
      ['1', 0],
    ]);
    // Under 100 runs a second, every run is timed: 60 records and 10 second attempts, 15 runs failed, with their
    // error's code or class.
    expect(histogramCount(now, 'messaging.process.duration')).toBe(70);
    expect(histogramCount(now, 'messaging.process.duration', (attributes) => attributes['error.type'] === 'TypeError')).toBe(10);
    expect(histogramCount(now, 'messaging.process.duration', (attributes) => attributes['error.type'] === 'E_FLAKY')).toBe(5);
    expect(histogramCount(now, 'x.kafka_fast.commit.duration')).toBeGreaterThanOrEqual(1);
    expect(total(now, 'x.kafka_fast.rebalances')).toBe(0);

    // A second member joins: the first takes part in a rebalance, and says how long it took.
    const b = new ParallelConsumer({ ...options, groupId });
    b.on('error', () => undefined);
    consumers.push(b);
    let assigned = false;
    a.on('assigned', () => (assigned = true));
    await b.start();
    await eventually(() => assigned, 'the first member assigned again');
    now = await sdk.collect();
    expect(total(now, 'x.kafka_fast.rebalances')).toBeGreaterThanOrEqual(1);
    expect(histogramCount(now, 'x.kafka_fast.rebalance.duration')).toBeGreaterThanOrEqual(1);

    // Closed consumers are no longer read at collection, and stay in the counters.
    const lagReads = [a, b].map((c) => jest.spyOn((c as unknown as { telemetry: { partitionLags: () => unknown } }).telemetry, 'partitionLags'));
    await sdk.collect();
    expect(lagReads.map((spy) => spy.mock.calls.length)).toEqual([1, 1]);
    await a.close();
    await b.close();
    now = await sdk.collect();
    expect(lagReads.map((spy) => spy.mock.calls.length)).toEqual([1, 1]);
    expect(total(now, 'x.kafka_fast.records.completed')).toBe(60);
    expect(total(now, 'x.kafka_fast.records.in_flight')).toBe(0);
  }, 120_000);

  it('adds up two consumers of one group in one process, and keeps a closed one in the counters', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    const options = { kafka, groupId, topics: [topic], fromBeginning: true, commitIntervalMs: 50, handler: () => undefined };
    const [a, b] = [new ParallelConsumer(options), new ParallelConsumer(options)];
    consumers.push(a, b);
    const held = new Map<ParallelConsumer, number>();
    for (const c of [a, b]) c.on('assigned', ({ partitions }) => held.set(c, partitions.length));
    await a.start();
    await b.start();
    await eventually(() => held.get(a) === 1 && held.get(b) === 1, 'one partition each');
    await produce(topic, 200, 20);
    await eventually(() => a.metrics().completed + b.metrics().completed === 200, 'every record completed');
    await eventually(() => [a, b].every((c) => c.metrics().partitions.every((p) => p.lag === 0 && p.committedOffset !== '-1')), 'everything committed');
    const [byA, byB] = [a.metrics().completed, b.metrics().completed];
    expect(byA).toBeGreaterThan(0);
    expect(byB).toBeGreaterThan(0);
    let now = await sdk.collect();
    const group = { 'messaging.system': 'kafka', 'messaging.consumer.group.name': groupId };
    // One series for the group, the sum of both members (each registering its own, the last read would win).
    expect(points(now, 'messaging.client.consumed.messages').map((p) => [p.attributes, p.value])).toEqual([[group, 200]]);
    expect(points(now, 'x.kafka_fast.records.completed').map((p) => p.value)).toEqual([200]);
    expect(points(now, 'x.kafka_fast.consumer.lag').map((p) => p.attributes['messaging.destination.partition.id']).sort()).toEqual(['0', '1']);

    // A member that closed keeps its counts in the counters; its partition leaves the lag gauge.
    await b.close();
    await eventually(() => held.get(a) === 2, 'the other partition back on the first member');
    now = await sdk.collect();
    expect(points(now, 'x.kafka_fast.records.completed').map((p) => p.value)).toEqual([200]);
    await produce(topic, 20, 20);
    await eventually(() => a.metrics().completed === byA + 20, 'twenty more on the first member');
    now = await sdk.collect();
    expect(points(now, 'x.kafka_fast.records.completed').map((p) => p.value)).toEqual([220]);
  }, 120_000);

  it('times an even sample of a fast stream, while the counts stay exact', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 20_000, 100);
    const consumer = new ParallelConsumer({ kafka, groupId: uniqueName('g'), topics: [topic], fromBeginning: true, maxConcurrency: 100, handler: () => undefined });
    consumers.push(consumer);
    const started = performance.now();
    await consumer.start();
    await eventually(() => consumer.metrics().completed === 20_000, 'every record completed');
    const seconds = (performance.now() - started) / 1000;
    const now = await sdk.collect();
    expect(total(now, 'messaging.client.consumed.messages')).toBe(20_000);
    expect(total(now, 'x.kafka_fast.records.completed')).toBe(20_000);
    const timed = histogramCount(now, 'messaging.process.duration');
    // Every run while the rate was unknown (the first 50 ms), then about 100 a second.
    expect(timed).toBeGreaterThan(0);
    expect(timed).toBeLessThan(20_000 / 2);
    console.log(`fast stream: ${timed} of 20,000 runs timed in ${seconds.toFixed(1)} s`);
  }, 120_000);

  it('records nothing without a registered MeterProvider', async () => {
    await sdk.shutdown();
    const topic = await freshTopic(1);
    await produce(topic, 10, 2);
    const consumer = new ParallelConsumer({ kafka, groupId: uniqueName('g'), topics: [topic], fromBeginning: true, handler: () => undefined });
    consumers.push(consumer);
    await consumer.start();
    await eventually(() => consumer.metrics().completed === 10, 'every record completed');
    sdk = registerMetricsSdk();
    expect(points(await sdk.collect(), 'messaging.client.consumed.messages')).toEqual([]);
    // metrics() counts all the same.
    expect(consumer.metrics()).toMatchObject({ received: 10, completed: 10, failed: 0 });
  }, 60_000);
});
