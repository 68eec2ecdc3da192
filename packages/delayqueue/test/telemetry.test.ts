/** A queue's OpenTelemetry metrics, read back from the SDK's reader after real work on the memory backend. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { type MetricsSdk, gate, metricPoints, registerMetricsSdk, requireRedis, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RedisBackend } from '../src/redis/index.js';
import { eventually } from './conformance.js';

let sdk: MetricsSdk;

beforeEach(() => {
  sdk = registerMetricsSdk();
});
afterEach(async () => {
  await sdk.shutdown();
});

function collected(): Promise<ResourceMetrics> {
  return sdk.collect();
}

/** Data points of `name` by topic: a counter's or gauge's value, a histogram's count. */
function byTopic(from: ResourceMetrics, name: string): Record<string, number> {
  return Object.fromEntries(
    metricPoints(from, name).map((p) => [String(p.attributes['messaging.destination.name']), typeof p.value === 'number' ? p.value : (p.value as { count: number }).count]),
  );
}

describe('DelayQueue metrics (OpenTelemetry)', () => {
  it('counts jobs added, delivered, acked, retried and dead by topic, with lateness, handler durations and the handlers running', async () => {
    const queue = new DelayQueue({ attempts: 2, backoff: { type: 'fixed', delay: 10 } });
    const release = gate();
    let running = 0;
    queue.process('mail', async () => {
      running++;
      await release.opened;
    }, { concurrency: 3 });
    queue.process('flaky', () => {
      throw new Error('always');
    });
    await queue.addBulk([1, 2, 3].map((n) => ({ topic: 'mail', payload: n, options: { delay: 20 } })));
    await queue.add('flaky', 'x');
    await eventually(() => running === 3 && queue.metrics().dead === 1, 'three mail handlers running and the flaky job dead');
    let now = await collected();
    expect(byTopic(now, 'messaging.client.sent.messages')).toEqual({ mail: 3, flaky: 1 });
    expect(byTopic(now, 'x.delayqueue.jobs.running')).toMatchObject({ mail: 3 });
    expect(byTopic(now, 'messaging.client.consumed.messages')).toEqual({ mail: 3, flaky: 2 });
    // A topic's counters are said from its first event on, at 0 until they count.
    expect(byTopic(now, 'x.delayqueue.jobs.retried')).toEqual({ mail: 0, flaky: 1 });
    expect(byTopic(now, 'x.delayqueue.jobs.dead')).toEqual({ mail: 0, flaky: 1 });
    expect(byTopic(now, 'x.delayqueue.job.lateness')).toEqual({ mail: 3, flaky: 2 });
    release.open();
    await eventually(() => queue.metrics().acked === 3, 'the three acks');
    now = await collected();
    expect(byTopic(now, 'x.delayqueue.jobs.acked')).toEqual({ mail: 3, flaky: 0 });
    expect(byTopic(now, 'messaging.process.duration')).toEqual({ mail: 3, flaky: 2 });
    expect(byTopic(now, 'x.delayqueue.jobs.running')).toMatchObject({ mail: 0 });
    // The snapshot and the instruments count the same events.
    expect(queue.metrics()).toMatchObject({ added: 4, delivered: 5, acked: 3, retried: 1, dead: 1 });
    await queue.close();
  });

  it.each(['memory', 'redis'] as const)('reports the jobs waiting in each state per topic, read from the %s backend at collection', async (kind) => {
    const redis = kind === 'redis' ? await requireRedis() : undefined;
    const backend = redis === undefined ? undefined : new RedisBackend({ redis, name: uniqueName('dq-metrics') });
    const queue = new DelayQueue({ backend, attempts: 1 });
    const release = gate();
    let running = 0;
    try {
      queue.process('busy', async () => {
        running++;
        await release.opened;
      }, { concurrency: 2 });
      queue.process('broken', () => {
        throw new Error('always');
      });
      await queue.addBulk([
        ...[1, 2, 3].map((n) => ({ topic: 'later', payload: n, options: { delay: 3_600_000 } })),
        ...[1, 2, 3].map((n) => ({ topic: 'busy', payload: n })),
        { topic: 'broken', payload: 'x' },
      ]);
      // Two of 'busy' in their handlers, the third ready behind them; 'broken' dead after its one attempt.
      await eventually(() => running === 2 && queue.metrics().dead === 1, 'two busy handlers and a dead job');
      const points = metricPoints(await collected(), 'x.delayqueue.jobs');
      const states = Object.fromEntries(points.filter((p) => p.value !== 0).map((p) => [`${String(p.attributes['messaging.destination.name'])} ${String(p.attributes['x.delayqueue.job.state'])}`, p.value]));
      expect(states).toEqual({ 'later delayed': 3, 'busy reserved': 2, 'busy ready': 1, 'broken dead': 1 });
    } finally {
      release.open();
      await queue.close();
      await backend?.destroy();
      await backend?.close();
      redis?.disconnect();
    }
  });

  it('adds up two queues working one topic in one process, and keeps a closed one in the counters', async () => {
    const redis = await requireRedis();
    const name = uniqueName('dq-two');
    const backends = [new RedisBackend({ redis, name }), new RedisBackend({ redis, name })];
    const queues = backends.map((backend) => new DelayQueue({ backend }));
    const release = gate();
    let running = 0;
    try {
      for (const queue of queues) {
        queue.process('mail', async () => {
          running++;
          await release.opened;
        }, { concurrency: 2 });
      }
      await queues[0]!.addBulk([1, 2, 3].map((n) => ({ topic: 'mail', payload: n })));
      await queues[1]!.addBulk([4, 5].map((n) => ({ topic: 'mail', payload: n })));
      await eventually(() => running === 4, 'both queues running two handlers each');
      let now = await collected();
      // One series per topic, the sum of both queues (each registering its own, the last read would win).
      expect(byTopic(now, 'messaging.client.sent.messages')).toEqual({ mail: 5 });
      expect(byTopic(now, 'x.delayqueue.jobs.running')).toEqual({ mail: 4 });
      release.open();
      await eventually(() => queues[0]!.metrics().acked + queues[1]!.metrics().acked === 5, 'the five acks');
      const acked = queues.map((q) => q.metrics().acked);
      now = await collected();
      expect(byTopic(now, 'x.delayqueue.jobs.acked')).toEqual({ mail: 5 });
      await queues[1]!.close();
      await queues[0]!.add('mail', 6);
      await eventually(() => queues[0]!.metrics().acked === acked[0]! + 1, 'the sixth ack, on the queue left');
      now = await collected();
      expect(byTopic(now, 'messaging.client.sent.messages')).toEqual({ mail: 6 });
      expect(byTopic(now, 'x.delayqueue.jobs.acked')).toEqual({ mail: 6 });
      expect(byTopic(now, 'x.delayqueue.jobs.running')).toEqual({ mail: 0 });
    } finally {
      release.open();
      await Promise.all(queues.map((queue) => queue.close()));
      await backends[0]!.destroy();
      await Promise.all(backends.map((backend) => backend.close()));
      redis.disconnect();
    }
  });
});
