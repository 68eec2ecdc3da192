import { status } from '@grpc/grpc-js';
import { startStallProxy } from '@x/testkit';
import { type EnforcerEvent, KeepaliveEnforcer } from '../src/index.js';
import { echoClient, say, slow, startEcho } from './helpers.js';

const TIME = 1000;
const TIMEOUT = 500;
const SLACK = 250;

describe('dead peer behind a link that black-holes traffic (sockets stay open)', () => {
  it('with keepalive, the client and the server each notice within time + timeout + 250 ms', async () => {
    const closes: number[] = [];
    const enforcer = new KeepaliveEnforcer({
      policy: { minTimeMs: 500, permitWithoutStream: true },
      parameters: { timeMs: TIME, timeoutMs: TIMEOUT },
      onEvent: (event: EnforcerEvent) => event.type === 'connection-close' && closes.push(Date.now()),
    });
    const service = await startEcho(enforcer.grpcServerOptions(), (server) => enforcer.attach(server));
    const proxy = await startStallProxy(service.port);
    const client = echoClient(proxy.port, { 'grpc.keepalive_time_ms': TIME, 'grpc.keepalive_timeout_ms': TIMEOUT, 'grpc.keepalive_permit_without_calls': 1 });
    try {
      expect(await say(client, 'up')).toBe('up');
      const call = slow(client, 20_000, { deadline: Date.now() + 30_000 }).then(
        () => ({ code: status.OK, at: Date.now() }),
        (error: { code: number }) => ({ code: error.code, at: Date.now() }),
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
      const stalledAt = Date.now();
      proxy.stall();
      const outcome = await call;
      expect(outcome.code).toBe(status.UNAVAILABLE);
      expect(outcome.at - stalledAt).toBeLessThanOrEqual(TIME + TIMEOUT + SLACK);
      const deadline = Date.now() + 3000;
      while (closes.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(closes).toHaveLength(1);
      expect(closes[0]! - stalledAt).toBeLessThanOrEqual(TIME + TIMEOUT + SLACK);
    } finally {
      client.close();
      await proxy.close();
      await service.stop();
    }
  }, 20_000);

  it('without keepalive, the call hangs until its deadline', async () => {
    const service = await startEcho();
    const proxy = await startStallProxy(service.port);
    const client = echoClient(proxy.port);
    try {
      expect(await say(client, 'up')).toBe('up');
      const started = Date.now();
      const call = slow(client, 20_000, { deadline: started + 2500 });
      await new Promise((resolve) => setTimeout(resolve, 100));
      proxy.stall();
      await expect(call).rejects.toEqual(expect.objectContaining({ code: status.DEADLINE_EXCEEDED }));
      expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
    } finally {
      client.close();
      await proxy.close();
      await service.stop();
    }
  }, 20_000);
});
