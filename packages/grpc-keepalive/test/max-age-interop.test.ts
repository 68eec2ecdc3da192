/**
 * Max age against clients we did not write: grpc-java at a steady rate, and a raw HTTP/2 client whose call
 * crosses the server's GOAWAY on the wire. Node's HTTP/2 layer ignores every stream that arrives after the
 * session sent a GOAWAY, so a drain must tell clients at once which streams were not taken (their last stream
 * id), for them to retry those elsewhere; no call may hang, and each drained connection must close within its
 * grace.
 */
import { type ClientHttp2Session, type ServerHttp2Session, connect, constants } from 'node:http2';
import { KeepaliveEnforcer, MAX_AGE } from '../src/index.js';
import { onSessions } from '../src/grpc-internals.js';
import { grpcJavaEchoLoad } from './grpc-java.js';
import { startEcho } from './helpers.js';

const AGE_MS = 2_000;
const GRACE_MS = 1_000;

interface SessionLife {
  drainedAt?: number;
  closedAt?: number;
}

/** Watches, from outside the enforcer, when each session was first sent a max-age GOAWAY and when it closed. */
function watchSessions(server: object, onDrain?: (session: ServerHttp2Session) => void): SessionLife[] {
  const lives: SessionLife[] = [];
  onSessions(server, (session) => {
    const life: SessionLife = {};
    lives.push(life);
    const goaway = session.goaway.bind(session);
    session.goaway = (code?: number, lastStreamId?: number, data?: NodeJS.ArrayBufferView) => {
      const first = life.drainedAt === undefined && data !== undefined && Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString() === MAX_AGE;
      if (first) life.drainedAt = performance.now();
      goaway(code, lastStreamId, data);
      if (first) onDrain?.(session);
    };
    session.once('close', () => (life.closedAt = performance.now()));
  });
  return lives;
}

const grpcRequest = (client: ClientHttp2Session, text: string) => {
  const body = Buffer.from(text);
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length + 2, 0x0a, body.length]), body]);
  const stream = client.request({
    ':method': 'POST',
    ':path': '/test.Echo/Say',
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.end(frame);
  return stream;
};

describe('max age against outside clients', () => {
  it('a grpc-java client at 200 calls/s over 4 connections loses no call, and every drained connection closes within its grace', async () => {
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionAgeMs: AGE_MS, maxConnectionAgeGraceMs: GRACE_MS } });
    let lives: SessionLife[] = [];
    const server = await startEcho(enforcer.grpcServerOptions(), (s) => {
      enforcer.attach(s);
      lives = watchSessions(s);
    });
    try {
      const result = await grpcJavaEchoLoad(server.port, 4, 200, 10);
      expect(result).toEqual({ calls: 2_000, ok: 2_000, wrong: 0, failed: {} });
      await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 1_000));
      const drained = lives.filter((life) => life.drainedAt !== undefined);
      // 10 s at a 2 s age (±10 %): every connection is drained several times over.
      expect(drained.length).toBeGreaterThanOrEqual(12);
      const late = drained.filter((life) => life.closedAt === undefined || life.closedAt - life.drainedAt! > GRACE_MS + 1_000);
      expect(late).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);

  it('a call that crosses the GOAWAY on the wire is answered or refused as unprocessed, never left hanging', async () => {
    const enforcer = new KeepaliveEnforcer({ parameters: { maxConnectionAgeMs: 300, maxConnectionAgeGraceMs: GRACE_MS } });
    // Connected once the server is up; the drain hook below runs only after that.
    const peer: { client?: ClientHttp2Session } = {};
    const outcomes: Promise<string>[] = [];
    const server = await startEcho(enforcer.grpcServerOptions(), (s) => {
      enforcer.attach(s);
      watchSessions(s, () => {
        // Sent the instant the server sends its GOAWAY, before the client has read it.
        const client = peer.client!;
        const stream = grpcRequest(client, 'crossing');
        outcomes.push(
          new Promise<string>((resolve) => {
            const timer = setTimeout(() => resolve('hung'), 5_000);
            let goawayLastStreamId = Infinity;
            client.once('goaway', (_code, lastStreamId) => (goawayLastStreamId = lastStreamId));
            stream.on('response', () => undefined);
            stream.on('trailers', (trailers) => {
              clearTimeout(timer);
              resolve(`answered ${String(trailers['grpc-status'])}`);
            });
            stream.once('error', () => undefined);
            stream.once('close', () => {
              clearTimeout(timer);
              // Closed without trailers: fine only if the server's GOAWAY said this stream was never taken.
              if (stream.rstCode === constants.NGHTTP2_REFUSED_STREAM || (stream.id ?? 0) > goawayLastStreamId) resolve('refused: safe to retry');
              else resolve(`closed without an answer (rst ${stream.rstCode}, stream ${stream.id}, goaway last ${goawayLastStreamId})`);
            });
          }),
        );
      });
    });
    const client = connect(`http://127.0.0.1:${server.port}`);
    peer.client = client;
    client.on('error', () => undefined);
    try {
      // A first call opens the connection and keeps it busy across the drain.
      const first = grpcRequest(client, 'first');
      first.on('error', () => undefined);
      first.resume();
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(outcomes).toHaveLength(1);
      expect(await outcomes[0]).toMatch(/^(answered 0|refused: safe to retry)$/);
    } finally {
      client.destroy();
      await server.stop();
    }
  }, 30_000);
});
