import { Server } from '@grpc/grpc-js';
import { type EnforcerEvent, KeepaliveEnforcer, TOO_MANY_PINGS } from '../src/index.js';
import { echoClient, say, startEcho } from './helpers.js';

describe('KeepaliveEnforcer on a real grpc-js server', () => {
  it('sends GOAWAY too_many_pings on the third strike, and the grpc-js client doubles its interval', async () => {
    const events: (EnforcerEvent & { at: number })[] = [];
    const enforcer = new KeepaliveEnforcer({
      policy: { minTimeMs: 5000, permitWithoutStream: true },
      onEvent: (event) => events.push({ ...event, at: Date.now() }),
    });
    const service = await startEcho({}, (server) => enforcer.attach(server));
    // grpc-js applies no 10 s floor: a 1 s client is what a misconfigured client really sends.
    const client = echoClient(service.port, { 'grpc.keepalive_time_ms': 1000, 'grpc.keepalive_permit_without_calls': 1 });
    try {
      expect(await say(client, 'hello')).toBe('hello');
      const started = Date.now();
      while (!events.some((event) => event.type === 'goaway') && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 100));
      const goaway = events.find((event) => event.type === 'goaway');
      expect(goaway).toEqual(expect.objectContaining({ code: 11, debugData: TOO_MANY_PINGS }));
      const pingsBefore = events.filter((event) => event.type === 'ping');
      expect(pingsBefore.map((event) => (event as { strikes: number }).strikes)).toEqual([0, 1, 2, 3]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(events.some((event) => event.type === 'connection-close' && event.reason === 'too_many_pings')).toBe(true);

      // Reconnect and watch the interval: grpc-js doubled it (1 s -> 2 s) after ENHANCE_YOUR_CALM too_many_pings.
      const mark = events.length;
      expect(await say(client, 'again')).toBe('again');
      await new Promise((resolve) => setTimeout(resolve, 5500));
      const later = events.slice(mark).filter((event) => event.type === 'ping').map((event) => event.at);
      expect(later.length).toBeGreaterThanOrEqual(2);
      const gaps = later.slice(1).map((at, i) => at - later[i]!);
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(1800);
      expect(enforcer.stats()).toEqual(expect.objectContaining({ goawaysSent: 1, connectionsOpened: 2 }));
    } finally {
      client.close();
      await service.stop();
    }
  }, 30_000);

  it('leaves a compliant client alone', async () => {
    const events: EnforcerEvent[] = [];
    const enforcer = new KeepaliveEnforcer({ policy: { minTimeMs: 1000, permitWithoutStream: true }, onEvent: (event) => events.push(event) });
    const service = await startEcho({}, (server) => enforcer.attach(server));
    const client = echoClient(service.port, { 'grpc.keepalive_time_ms': 1500, 'grpc.keepalive_permit_without_calls': 1 });
    try {
      expect(await say(client, 'hi')).toBe('hi');
      await new Promise((resolve) => setTimeout(resolve, 5000));
      const pings = events.filter((event) => event.type === 'ping');
      expect(pings.length).toBeGreaterThanOrEqual(2);
      expect(pings.every((event) => (event as { strikes: number }).strikes === 0)).toBe(true);
      expect(events.some((event) => event.type === 'goaway')).toBe(false);
      expect(await say(client, 'still here')).toBe('still here');
      expect(enforcer.stats()).toEqual(expect.objectContaining({ goawaysSent: 0, pingStrikes: 0, connectionsOpened: 1, open: 1 }));
    } finally {
      client.close();
      await service.stop();
    }
  }, 20_000);

  it.each([
    [false, true],
    [true, false],
  ])('pings on an idle connection every 500 ms against minTime 100 ms, permitWithoutStream %s: GOAWAY %s', async (permitWithoutStream, expectGoaway) => {
    const events: EnforcerEvent[] = [];
    const enforcer = new KeepaliveEnforcer({ policy: { minTimeMs: 100, permitWithoutStream }, onEvent: (event) => events.push(event) });
    const service = await startEcho({}, (server) => enforcer.attach(server));
    const client = echoClient(service.port, { 'grpc.keepalive_time_ms': 500, 'grpc.keepalive_permit_without_calls': 1 });
    try {
      expect(await say(client, 'x')).toBe('x');
      // Without calls in flight Go measures pings against 2 hours, not minTime: the fourth ping is the third strike.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      expect(events.some((event) => event.type === 'goaway')).toBe(expectGoaway);
    } finally {
      client.close();
      await service.stop();
    }
  }, 20_000);

  it('refuses a second attach to one server (every ping and connection would count twice), and allows it after detach', async () => {
    const first = new KeepaliveEnforcer();
    const second = new KeepaliveEnforcer();
    const service = await startEcho({}, (server) => first.attach(server));
    try {
      expect(() => first.attach(service.server)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'server' }));
      expect(() => second.attach(service.server)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'server' }));
      first.detach();
      expect(() => second.attach(service.server)).not.toThrow();
      second.detach();
    } finally {
      await service.stop();
    }
  });

  it('fails loudly when attached before bind or to something that is not a grpc-js server', () => {
    const enforcer = new KeepaliveEnforcer();
    expect(() => enforcer.attach({})).toThrow(expect.objectContaining({ code: 'ERR_GRPC_JS_INTERNALS' }));
    expect(() => enforcer.attach(new Server())).toThrow(/attach after bindAsync/);
    expect(() => new KeepaliveEnforcer({ policy: { minTimeMs: -1 } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    // A misspelt option fell back to the defaults without a word.
    expect(() => new KeepaliveEnforcer({ polciy: { minTimeMs: 1 } } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => enforcer.attach(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'server' }));
  });
});
