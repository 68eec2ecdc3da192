/** The enforcers' OpenTelemetry metrics, read back from the SDK's reader, on real grpc-js servers and clients. */
import type { ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { type MetricsSdk, metricPoints as points, registerMetricsSdk } from '@x/testkit';
import { KeepaliveEnforcer } from '../src/index.js';
import { echoClient, say, startEcho } from './helpers.js';

// One SDK for the file, as an application registers one: the instruments are made with the first enforcer.
let sdk: MetricsSdk;
beforeAll(() => {
  sdk = registerMetricsSdk();
});
afterAll(async () => {
  await sdk.shutdown();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function value(from: ResourceMetrics, name: string, attributes: Record<string, string> = {}): unknown {
  return points(from, name).find((p) => JSON.stringify(p.attributes) === JSON.stringify(attributes))?.value;
}

describe('KeepaliveEnforcer metrics (OpenTelemetry)', () => {
  it('counts connections, pings, strikes and GOAWAYs by reason over every enforcer, and times the drains', async () => {
    // One server whose client pings too often, one that drains idle connections after 300 ms.
    const strict = new KeepaliveEnforcer({ policy: { minTimeMs: 5_000, permitWithoutStream: true } });
    const idle = new KeepaliveEnforcer({ parameters: { maxConnectionIdleMs: 300 } });
    const pinged = await startEcho({}, (server) => strict.attach(server));
    const idled = await startEcho(idle.grpcServerOptions(), (server) => idle.attach(server));
    const noisy = echoClient(pinged.port, { 'grpc.keepalive_time_ms': 1_000, 'grpc.keepalive_permit_without_calls': 1 });
    const quiet = echoClient(idled.port);
    try {
      expect(await say(noisy, 'hello')).toBe('hello');
      expect(await say(quiet, 'hello')).toBe('hello');
      let now = await sdk.collect();
      expect(value(now, 'x.grpc_keepalive.connections.open')).toBe(2);
      for (let i = 0; i < 100 && strict.stats().goawaysSent === 0; i++) await sleep(100);
      await sleep(600);
      now = await sdk.collect();
      const stats = [strict.stats(), idle.stats()];
      const sum = (key: keyof (typeof stats)[number]): number => stats[0]![key] + stats[1]![key];
      expect(value(now, 'x.grpc_keepalive.connections.opened')).toBe(sum('connectionsOpened'));
      expect(value(now, 'x.grpc_keepalive.connections.closed')).toBe(sum('connectionsClosed'));
      expect(value(now, 'x.grpc_keepalive.connections.open')).toBe(sum('open'));
      expect(value(now, 'x.grpc_keepalive.pings.received')).toBe(sum('pingsReceived'));
      expect(value(now, 'x.grpc_keepalive.ping.strikes')).toBe(3);
      expect(value(now, 'x.grpc_keepalive.goaways', { reason: 'too_many_pings' })).toBe(1);
      expect(value(now, 'x.grpc_keepalive.goaways', { reason: 'max_idle' })).toBe(idle.stats().goawaysSent);
      expect(idle.stats().goawaysSent).toBeGreaterThanOrEqual(1);
      // too_many_pings closes 50 ms after its GOAWAY; an idle connection closes when the client lets go.
      const drained = value(now, 'x.grpc_keepalive.drain.duration', { reason: 'too_many_pings' }) as { count: number; min: number; max: number };
      expect(drained.count).toBe(1);
      expect(drained.min).toBeGreaterThanOrEqual(0.04);
      expect(drained.max).toBeLessThan(1);
      expect((value(now, 'x.grpc_keepalive.drain.duration', { reason: 'max_idle' }) as { count: number }).count).toBeGreaterThanOrEqual(1);
    } finally {
      noisy.close();
      quiet.close();
      await pinged.stop();
      await idled.stop();
    }
  }, 30_000);
});
