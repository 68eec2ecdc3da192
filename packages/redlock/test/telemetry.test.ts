/** The Redlock's OpenTelemetry metrics, read back from the SDK's reader after real rounds on the five masters. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Redis } from 'ioredis';
import { type MetricsSdk, metricPoints as points, registerMetricsSdk } from '@x/testkit';
import { LockLostError, LockNotAcquiredError, Redlock } from '../src/index.js';
import { connectMasters, quitAll, resource } from './helpers.js';

let clients: Redis[];
let sdk: MetricsSdk;

beforeAll(async () => {
  clients = await connectMasters();
});
afterAll(async () => {
  await quitAll(clients);
});
beforeEach(() => {
  sdk = registerMetricsSdk();
});
afterEach(async () => {
  await sdk.shutdown();
});

function collected(): Promise<ResourceMetrics> {
  return sdk.collect();
}

function byOutcome(from: ResourceMetrics, name: string): Record<string, { count: number; sum: number }> {
  return Object.fromEntries(points(from, name).map((p) => [String(p.attributes.outcome), p.value as { count: number; sum: number }]));
}

describe('Redlock metrics (OpenTelemetry)', () => {
  it('counts acquires by outcome with their duration and rounds, the locks held, and why instances refused', async () => {
    const redlock = new Redlock(clients, { restartGuard: false, requestTimeout: 300 });
    const other = new Redlock(clients, { restartGuard: false, requestTimeout: 300 });
    try {
      const key = resource('metrics');
      const first = await redlock.acquire(key, 5_000);
      const second = await redlock.acquire(resource('metrics-2'), 5_000);
      let now = await collected();
      expect(points(now, 'x.redlock.locks.held').map((p) => p.value)).toEqual([2]);
      // Refused: held on all five, no retry.
      await expect(other.acquire(key, 1_000, { retryCount: 0 })).rejects.toBeInstanceOf(LockNotAcquiredError);
      // Refused after two rounds (one retry).
      await expect(other.acquire(key, 1_000, { retryCount: 1 })).rejects.toBeInstanceOf(LockNotAcquiredError);
      await first.release();
      await first.release();
      now = await collected();
      expect(points(now, 'x.redlock.locks.held').map((p) => p.value)).toEqual([1]);
      const durations = byOutcome(now, 'x.redlock.acquire.duration');
      expect(durations.acquired!.count).toBe(2);
      expect(durations.held!.count).toBe(2);
      expect(durations.acquired!.sum).toBeGreaterThan(0);
      expect(durations.acquired!.sum).toBeLessThan(2);
      const attempts = byOutcome(now, 'x.redlock.acquire.attempts');
      expect(attempts.acquired).toMatchObject({ count: 2, sum: 2 });
      expect(attempts.held).toMatchObject({ count: 2, sum: 3 });
      const refusals = Object.fromEntries(points(now, 'x.redlock.instance.failures').map((p) => [String(p.attributes.reason), p.value]));
      // Three refused rounds: a majority (at least three) of the instances said held in each.
      expect(refusals.held).toBeGreaterThanOrEqual(9);
      await second.release();
      expect(points(await collected(), 'x.redlock.locks.held').map((p) => p.value)).toEqual([0]);
    } finally {
      await Promise.all([redlock.close(), other.close()]);
    }
  });

  it('counts a lock lost under using() when its extension fails', async () => {
    const redlock = new Redlock(clients, { restartGuard: false, requestTimeout: 300 });
    try {
      const key = resource('metrics-lost');
      const run = redlock.using(key, 600, async (signal) => {
        // Taken away behind its back: the extension at half the validity finds it gone on every instance.
        await Promise.all(clients.map((client) => client.del(key)));
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
      });
      await expect(run).rejects.toBeInstanceOf(LockLostError);
      const now = await collected();
      expect(points(now, 'x.redlock.locks.lost').map((p) => p.value)).toEqual([1]);
      expect(points(now, 'x.redlock.locks.held').map((p) => p.value)).toEqual([0]);
    } finally {
      await redlock.close();
    }
  });
});
