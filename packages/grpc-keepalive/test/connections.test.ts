import { type ClientHttp2Session, connect } from 'node:http2';
import { type ServerOptions, status } from '@grpc/grpc-js';
import { type EnforcerEvent, KeepaliveEnforcer, MAX_AGE, MAX_IDLE, installDrainGuard } from '../src/index.js';
import { echoClient, say, slow, startEcho } from './helpers.js';

interface SeenGoaway {
  code: number;
  lastStreamId: number;
  debug: string;
  at: number;
}

/** A raw HTTP/2 client that records every GOAWAY and PING it receives, in order (grpc-js hides them). */
function rawClient(port: number): { session: ClientHttp2Session; goaways: SeenGoaway[]; frames: string[] } {
  const session = connect(`http://127.0.0.1:${port}`);
  const goaways: SeenGoaway[] = [];
  const frames: string[] = [];
  session.on('goaway', (code, lastStreamId, data) => {
    goaways.push({ code, lastStreamId, debug: data?.toString() ?? '', at: Date.now() });
    frames.push(`GOAWAY ${lastStreamId}${data?.length ? ` ${data.toString()}` : ''}`);
  });
  session.on('ping', () => frames.push('PING'));
  session.on('error', () => undefined);
  return { session, goaways, frames };
}

/** Starts Echo.Slow(ms) as raw HTTP/2 gRPC, keeping a stream (and so the connection) open for `ms`. */
function rawSlowCall(session: ClientHttp2Session, ms: number): Promise<void> {
  const varint: number[] = [];
  for (let value = ms; ; value >>>= 7) {
    if (value < 0x80) {
      varint.push(value);
      break;
    }
    varint.push((value & 0x7f) | 0x80);
  }
  const message = Buffer.from([0x08, ...varint]);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, message.length]), message]);
  const stream = session.request({ ':method': 'POST', ':path': '/test.Echo/Slow', 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => undefined);
  stream.end(frame);
  return new Promise((resolve) => {
    stream.on('close', () => resolve());
    stream.resume();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('connection management (gRFC A9) on a real grpc-js server', () => {
  it('idle: ours sends GOAWAY with max_idle, grpc-js alone sends it with no debug data', async () => {
    const events: EnforcerEvent[] = [];
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionIdleMs: 300 }, onEvent: (event) => events.push(event) });
    const ours = await startEcho(enforcer.grpcServerOptions(), (server) => enforcer.attach(server));
    const theirs = await startEcho({ 'grpc.max_connection_idle_ms': 300 });
    const a = rawClient(ours.port);
    const b = rawClient(theirs.port);
    try {
      await sleep(900);
      expect(a.goaways.map((g) => g.debug)).toContain(MAX_IDLE);
      expect(b.goaways.length).toBeGreaterThan(0);
      expect(b.goaways.every((g) => g.debug === '')).toBe(true);
      expect(events).toContainEqual(expect.objectContaining({ type: 'connection-close', reason: MAX_IDLE }));
      // A grpc-js client simply reconnects after an idle close.
      const client = echoClient(ours.port);
      expect(await say(client, 'one')).toBe('one');
      await sleep(700);
      expect(await say(client, 'two')).toBe('two');
      client.close();
    } finally {
      a.session.destroy();
      b.session.destroy();
      await ours.stop();
      await theirs.stop();
    }
  });

  it('idle and age past 2^31-1 ms wait (no GOAWAY 1 ms after connecting), and 0 means never, as in grpc-go', async () => {
    for (const parameters of [
      { maxConnectionIdleMs: 2 ** 31, maxConnectionAgeMs: 30 * 24 * 3600_000 },
      { maxConnectionIdleMs: 0, maxConnectionAgeMs: 0, maxConnectionAgeGraceMs: 0 },
    ]) {
      const events: EnforcerEvent[] = [];
      const enforcer = new KeepaliveEnforcer({ parameters, onEvent: (event) => events.push(event) });
      const server = await startEcho(enforcer.grpcServerOptions(), (s) => enforcer.attach(s));
      const client = echoClient(server.port);
      try {
        expect(await say(client, 'one')).toBe('one');
        await sleep(300);
        expect(await say(client, 'two')).toBe('two');
        expect(await say(client, 'three')).toBe('three');
        expect(events.filter((event) => event.type === 'goaway')).toEqual([]);
        expect(enforcer.stats()).toMatchObject({ connectionsOpened: 1, open: 1 });
      } finally {
        client.close();
        await server.stop();
      }
    }
  });

  it('refuses a server whose own grpc-js idle or age options would drain connections a second time', async () => {
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionAgeMs: 60_000 } });
    let refused: unknown;
    const server = await startEcho({ 'grpc.max_connection_age_ms': 60_000 }, (s) => {
      refused = (() => {
        try {
          enforcer.attach(s);
        } catch (error) {
          return error;
        }
      })();
    });
    await server.stop();
    expect(refused).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'server', message: expect.stringMatching(/grpcServerOptions/) });
    // Without idle or age of its own, an enforcer only polices pings: grpc-js's options are fine with it.
    const pingsOnly = new KeepaliveEnforcer();
    const other = await startEcho({ 'grpc.max_connection_age_ms': 60_000 }, (s) => pingsOnly.attach(s));
    await other.stop();
  });

  it('max age: ours sends one GOAWAY with the last stream taken; grpc-js sends GOAWAY(2^31-1) and that one back to back', async () => {
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionAgeMs: 300 } });
    const ours = await startEcho(enforcer.grpcServerOptions(), (server) => enforcer.attach(server));
    const theirs = await startEcho({ 'grpc.max_connection_age_ms': 300 });
    const a = rawClient(ours.port);
    const b = rawClient(theirs.port);
    try {
      // A call in flight keeps each connection open through the GOAWAYs (an idle client would just leave).
      await Promise.all([rawSlowCall(a.session, 800), rawSlowCall(b.session, 800)]);
      // Node ignores streams that arrive after any GOAWAY, so the first one already names the last stream taken
      // (max-age-interop.test.ts shows why 2^31-1 first would leave calls hanging). close() adds Node's own.
      expect(a.frames[0]).toBe(`GOAWAY 1 ${MAX_AGE}`);
      expect(a.frames.filter((frame) => frame.startsWith('GOAWAY')).every((frame) => frame.startsWith('GOAWAY 1'))).toBe(true);
      expect(a.frames).not.toContain('PING');
      expect(a.goaways.every((g) => g.code === 0)).toBe(true);
      // grpc-js 1.14 sends its two GOAWAYs back to back, no PING between.
      expect(b.frames.slice(0, 2)).toEqual([`GOAWAY ${2 ** 31 - 1} ${MAX_AGE}`, 'GOAWAY 1']);
    } finally {
      a.session.destroy();
      b.session.destroy();
      await ours.stop();
      await theirs.stop();
    }
  });

  it('max age grace: calls still running when the grace ends fail UNAVAILABLE (retryable), later calls work', async () => {
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionAgeMs: 300, maxConnectionAgeGraceMs: 300 } });
    const service = await startEcho(enforcer.grpcServerOptions(), (server) => enforcer.attach(server));
    const client = echoClient(service.port);
    try {
      // Twenty at once: cut by RST_STREAM NO_ERROR they failed INTERNAL ("Call ended without gRPC status").
      const codes = await Promise.all(Array.from({ length: 20 }, () => slow(client, 3000).then(() => 'ok', (error: { code: number }) => error.code)));
      expect(codes).toEqual(Array(20).fill(status.UNAVAILABLE));
      expect(await say(client, 'after')).toBe('after');
    } finally {
      client.close();
      await service.stop();
    }
  });

  const drain = async (serverOptions: ServerOptions, enforcer: KeepaliveEnforcer | undefined, keepalive: boolean): Promise<{ ok: number; failed: string[] }> => {
    const service = await startEcho(serverOptions, (server) => enforcer?.attach(server));
    // Pings every second; the generous ack timeout keeps a loaded test machine's event-loop stall (client and
    // server share this process) from passing for a dead peer, which would drop the connection's calls.
    const client = echoClient(service.port, keepalive ? { 'grpc.keepalive_time_ms': 1000, 'grpc.keepalive_timeout_ms': 10_000 } : {});
    let ok = 0;
    const failed: string[] = [];
    const until = Date.now() + 2500;
    try {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          while (Date.now() < until) {
            try {
              // A deadline turns a call that would never end into a failure this test can name.
              await slow(client, 300, { deadline: Date.now() + 8_000 });
              ok++;
            } catch (error) {
              failed.push(`${(error as { code: number }).code} ${(error as Error).message}`);
            }
          }
        }),
      );
    } finally {
      client.close();
      // A server that cannot shut down gracefully is a finding too: report it instead of hanging the test.
      const stopped = await Promise.race([service.stop().then(() => true), sleep(5_000).then(() => false)]);
      if (!stopped) {
        failed.push('tryShutdown did not finish within 5 s');
        service.server.forceShutdown();
      }
    }
    return { ok, failed };
  };

  describe('drain under load', () => {
    // Once in about ten CI runs on Node 24, on a loaded machine, every call of one draining connection (35) waited
    // out its 8 s deadline instead of being answered or refused; not reproduced alone or under CPU load since.
    // One retry, with the failure logged, keeps that open question from blocking unrelated changes; a drain that
    // loses calls twice in a row still fails.
    jest.retryTimes(1, { logErrorsBeforeRetry: true });

    // With client keepalive on, a keepalive ping that falls while a connection drains drops its calls (grpc-node
    // #3068, reproduced in drain-guard.test.ts). Here calls last 300 ms and pings come every second, so that happens
    // only when the drain runs late: a loaded CI run once saw 13 calls fail that way. Users with client keepalive
    // install the guard, so the keepalive case runs with it.
    it.each([
      ['without client keepalive', false],
      ['with client keepalive and installDrainGuard()', true],
    ])('drains under load at max age with no failed call (%s)', async (_label, keepalive) => {
      const uninstall = keepalive ? installDrainGuard() : () => undefined;
      const closes: string[] = [];
      const enforcer = new KeepaliveEnforcer({
        parameters: { maxConnectionAgeMs: 600, maxConnectionAgeGraceMs: 5000 },
        onEvent: (event) => event.type === 'connection-close' && closes.push(event.reason),
      });
      const result = await drain(enforcer.grpcServerOptions(), enforcer, keepalive).finally(uninstall);
      // No call failed, and the server closed connections for their age or at shutdown only (never for pings).
      const otherCloses = closes.filter((reason) => reason !== MAX_AGE && reason !== 'closed');
      expect({ failed: result.failed, otherCloses }).toEqual({ failed: [], otherCloses: [] });
      expect(closes).toContain(MAX_AGE);
      expect(result.ok).toBeGreaterThan(200);
      expect(enforcer.stats().connectionsOpened).toBeGreaterThan(1);
    }, 25_000);
  });
});
