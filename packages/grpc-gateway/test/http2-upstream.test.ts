/**
 * The gateway's own HTTP/2 connection (the `address` option) against servers that misbehave, go away and come
 * back: what a grpc-js channel would otherwise have handled. The misbehaving servers are node:http2 servers
 * that answer each path in one wrong way; the real gRPC servers are grpc-js's (here and in gateway.test.ts)
 * and grpc-java's (grpc-java.test.ts).
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { type Http2Server, type Settings, type ServerHttp2Stream, constants, createServer as createHttp2Server } from 'node:http2';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { eventually, freePort } from '@x/testkit';
import { type GatewayOptions, createGateway } from '../src/index.js';
import { Http2Upstream } from '../src/http2-upstream.js';
import { type LibraryServer, type RunningGateway, call, loadLibrary, startGateway, startLibrary } from './helpers.js';


/** A gRPC message: the 5-byte prefix and the bytes. */
function framed(bytes: Buffer, compressed = 0, length = bytes.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed;
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, bytes]);
}

/** A length-delimited protobuf field (lengths under 128). */
const field = (number: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);

/** A varint, as protobuf writes lengths. */
function varint(value: number): Buffer {
  const bytes: number[] = [];
  for (; value > 0x7f; value = Math.floor(value / 128)) bytes.push((value & 0x7f) | 0x80);
  bytes.push(value);
  return Buffer.from(bytes);
}

/** A Book{name, title} encoded by hand (fields 1 and 2, strings). */
const book = (name: string, title = ''): Buffer =>
  Buffer.concat([Buffer.from([0x0a]), varint(Buffer.byteLength(name)), Buffer.from(name), ...(title === '' ? [] : [Buffer.from([0x12]), varint(title.length), Buffer.from(title)])]);

type Behaviour = (stream: ServerHttp2Stream) => void;

/** An HTTP/2 server answering each request as `behaviours[<name of the book asked for>]` says. */
async function misbehaving(behaviours: Record<string, Behaviour>, settings: Settings = {}): Promise<{ server: Http2Server; port: number; resets: number[] }> {
  const server = createHttp2Server({ settings });
  const resets: number[] = [];
  server.on('stream', (stream) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('close', () => resets.push(stream.rstCode));
    stream.on('error', () => undefined);
    stream.on('end', () => {
      // The request is a GetBookRequest{name} (field 1) after the 5-byte prefix.
      const name = Buffer.concat(chunks).subarray(7).toString();
      const behaviour = behaviours[name.split('/').pop()!];
      if (behaviour === undefined) return stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12', 'grpc-message': `no behaviour ${name}` }, { endStream: true });
      behaviour(stream);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, resets };
}

const ok = (stream: ServerHttp2Stream, trailers: Record<string, string> = {}): void => {
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-served-by': 'raw' }, { waitForTrailers: true });
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', ...trailers }));
};

describe('the gateway over its own HTTP/2 connection, against a server that misbehaves', () => {
  let raw: Awaited<ReturnType<typeof misbehaving>>;
  let gateway: RunningGateway;
  beforeAll(async () => {
    raw = await misbehaving({
      good: (stream) => {
        ok(stream, { 'x-trailer': 't', 'x-raw-bin': Buffer.from([1, 2, 3]).toString('base64') });
        stream.end(framed(book('shelves/1/books/good')));
      },
      // One DATA frame per byte: the gateway reassembles the message.
      split: (stream) => {
        ok(stream);
        const bytes = framed(book('shelves/1/books/split'));
        for (const byte of bytes) stream.write(Buffer.from([byte]));
        stream.end();
      },
      // 3 MiB in 16 KiB writes.
      large: (stream) => {
        ok(stream);
        const bytes = framed(book('shelves/1/books/large', 'x'.repeat(3 * 1024 * 1024)));
        for (let at = 0; at < bytes.length; at += 16 * 1024) stream.write(bytes.subarray(at, at + 16 * 1024));
        stream.end();
      },
      'trailers-only': (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '7', 'grpc-message': 'not%20yours%20%E2%9C%8B' }, { endStream: true }),
      'bad-status': (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': 'seven' }, { endStream: true }),
      compressed: (stream) => {
        ok(stream);
        stream.end(framed(book('x'), 1));
      },
      huge: (stream) => {
        ok(stream);
        stream.end(framed(Buffer.alloc(0), 0, 2 ** 32 - 1));
      },
      twice: (stream) => {
        ok(stream);
        stream.end(Buffer.concat([framed(book('a')), framed(book('b'))]));
      },
      none: (stream) => {
        ok(stream);
        stream.end();
      },
      truncated: (stream) => {
        ok(stream);
        stream.end(framed(book('shelves/1/books/truncated')).subarray(0, 9));
      },
      'no-status': (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.end(framed(book('x')));
      },
      // The server process dies after its headers and one reply: the connection goes, no status ever comes.
      dropped: (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.write(framed(book('x')), () => stream.session?.destroy());
      },
      // Details of three: a Filter that decodes, a Filter whose bytes do not (a varint cut short), a type nobody knows.
      details: (stream) => {
        const detail = (url: string, value: Buffer): Buffer => field(3, Buffer.concat([field(1, Buffer.from(url)), field(2, value)]));
        const status = Buffer.concat([
          Buffer.from([0x08, 0x09]),
          field(2, Buffer.from('no')),
          detail('type.googleapis.com/library.v1.Filter', field(1, Buffer.from('ada'))),
          detail('type.googleapis.com/library.v1.Filter', Buffer.from([0x10])),
          detail('type.googleapis.com/nobody.Knows', Buffer.from([1, 2])),
        ]);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '9', 'grpc-message': '%E2%82%AC 100% %E2%82', 'grpc-status-details-bin': status.toString('base64') }, { endStream: true });
      },
      'status-99': (stream) => stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '99', 'grpc-message': 'odd' }, { endStream: true }),
      html: (stream) => {
        stream.respond({ ':status': 200, 'content-type': 'text/html' });
        stream.end('<html></html>');
      },
      'not-found': (stream) => {
        stream.respond({ ':status': 404, 'content-type': 'text/plain' });
        stream.end('no');
      },
      refused: (stream) => stream.close(constants.NGHTTP2_REFUSED_STREAM),
      calm: (stream) => stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM),
      silent: () => undefined,
    });
    gateway = await startGateway(raw.port, {}, 'address');
  });
  afterAll(async () => {
    await gateway.close();
    raw.server.close();
  });
  const get = (name: string, headers: Record<string, string> = {}) => call(`${gateway.url}/v1/shelves/1/books/${name}`, 'GET', undefined, headers);
  const errorOf = async (name: string, headers: Record<string, string> = {}) => {
    const reply = await get(name, headers);
    return { status: reply.status, ...(reply.json() as { code: number; message: string }) };
  };

  it('carries a reply, its headers and trailers (-bin ones in base64), and reassembles a message split over frames', async () => {
    const reply = await get('good');
    expect(reply.status).toBe(200);
    expect(reply.json()).toMatchObject({ name: 'shelves/1/books/good' });
    expect(reply.headers['grpc-metadata-x-served-by']).toBe('raw');
    expect(reply.headers['grpc-trailer-x-trailer']).toBe('t');
    expect(reply.headers['grpc-trailer-x-raw-bin']).toBe('AQID');
    expect(reply.headers['grpc-trailer-grpc-status']).toBeUndefined();
    expect((await get('split')).json()).toMatchObject({ name: 'shelves/1/books/split' });
    const large = (await get('large')).json() as { name: string; title: string };
    expect(large.name).toBe('shelves/1/books/large');
    expect(large.title).toHaveLength(3 * 1024 * 1024);
  });

  it('reads the status of a trailers-only answer, its message percent-decoded; a status that is no number is UNKNOWN', async () => {
    expect(await errorOf('trailers-only')).toEqual({ status: 403, code: 7, message: 'not yours ✋', details: [] });
    expect(await errorOf('bad-status')).toMatchObject({ status: 500, code: grpc.status.UNKNOWN });
  });

  it('decodes each run of escapes in grpc-message, keeps the details that decode beside one that does not, and reads an undefined status as UNKNOWN', async () => {
    const reply = await get('details');
    expect(reply.status).toBe(400);
    expect(reply.json()).toEqual({
      code: 9,
      message: '€ 100% %E2%82',
      details: [
        { '@type': 'type.googleapis.com/library.v1.Filter', author: 'ada', minPages: '0' },
        { '@type': 'type.googleapis.com/library.v1.Filter', value: 'EA==' },
        { '@type': 'type.googleapis.com/nobody.Knows', value: 'AQI=' },
      ],
    });
    expect(await errorOf('status-99')).toMatchObject({ status: 500, code: grpc.status.UNKNOWN, message: 'odd (status 99, which gRPC does not define)' });
  });

  it('refuses a compressed reply it did not ask for, a reply above 4 MiB, and a second reply to a unary call', async () => {
    expect(await errorOf('compressed')).toMatchObject({ status: 500, code: grpc.status.INTERNAL, message: expect.stringContaining('compressed') });
    expect(await errorOf('huge')).toMatchObject({ status: 429, code: grpc.status.RESOURCE_EXHAUSTED, message: expect.stringContaining('4294967295 bytes') });
    expect(await errorOf('twice')).toMatchObject({ status: 500, code: grpc.status.INTERNAL, message: expect.stringContaining('more than one reply') });
  });

  it('answers UNIMPLEMENTED for no reply (as grpc-js does), INTERNAL for a reply cut short or a stream without a status', async () => {
    expect(await errorOf('none')).toMatchObject({ status: 501, code: grpc.status.UNIMPLEMENTED });
    expect(await errorOf('truncated')).toMatchObject({ status: 500, code: grpc.status.INTERNAL, message: expect.stringContaining('inside a reply') });
    expect(await errorOf('no-status')).toMatchObject({ status: 500, code: grpc.status.INTERNAL, message: expect.stringContaining('without a status') });
    // A connection lost mid-call is UNAVAILABLE (retryable), as grpc-js says it.
    expect(await errorOf('dropped')).toMatchObject({ status: 503, code: grpc.status.UNAVAILABLE, message: expect.stringContaining('lost during the call') });
  });

  it('maps an answer that is not gRPC by its HTTP status, and a reset stream by its HTTP/2 error code', async () => {
    expect(await errorOf('html')).toMatchObject({ status: 500, code: grpc.status.UNKNOWN, message: expect.stringContaining('text/html') });
    expect(await errorOf('not-found')).toMatchObject({ status: 501, code: grpc.status.UNIMPLEMENTED, message: expect.stringContaining('HTTP 404') });
    expect(await errorOf('refused')).toMatchObject({ status: 503, code: grpc.status.UNAVAILABLE });
    expect(await errorOf('calm')).toMatchObject({ status: 429, code: grpc.status.RESOURCE_EXHAUSTED });
  });

  it('cancels a call past its deadline with RST_STREAM CANCEL, and answers 504', async () => {
    const before = raw.resets.length;
    const started = Date.now();
    expect(await errorOf('silent', { 'grpc-timeout': '200m' })).toMatchObject({ status: 504, code: grpc.status.DEADLINE_EXCEEDED });
    expect(Date.now() - started).toBeLessThan(2_000);
    await eventually(() => raw.resets.length > before, 'the server to see the stream closed', 2_000);
    expect(raw.resets.slice(before)).toContain(constants.NGHTTP2_CANCEL);
  });

  it('keeps serving on the same connection after all of these', async () => {
    const replies = await Promise.all(Array.from({ length: 20 }, () => get('good')));
    expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
  });
});

describe('the gateway over its own HTTP/2 connection, as the server comes and goes', () => {
  it('answers 503 at once while nothing listens, backs off between attempts, and connects once the server is up', async () => {
    const port = await freePort();
    const gateway = await startGateway(port, {}, 'address');
    try {
      const first = await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET');
      expect(first.status).toBe(503);
      expect(first.json()).toMatchObject({ code: grpc.status.UNAVAILABLE, message: expect.stringContaining('ECONNREFUSED') });
      // Within the backoff, no new attempt: the answer says when the next one is.
      const second = await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET');
      expect(second.json()).toMatchObject({ code: grpc.status.UNAVAILABLE, message: expect.stringMatching(/trying again in \d+ ms/) });
      const server = await startLibrary({}, port);
      try {
        await eventually(async () => (await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET')).status === 200, 'the gateway to connect', 10_000, 50);
      } finally {
        await server.stop();
      }
    } finally {
      await gateway.close();
    }
  });

  it('starts again the streams a server refused unprocessed (more at once than its limit, sent before its settings came)', async () => {
    let active = 0;
    let most = 0;
    const raw = await misbehaving(
      {
        good: (stream) => {
          most = Math.max(most, ++active);
          stream.on('close', () => active--);
          setTimeout(() => {
            ok(stream);
            stream.end(framed(book('shelves/1/books/good')));
          }, 20);
        },
      },
      { maxConcurrentStreams: 2 },
    );
    // 20 calls in one tick, as a burst of requests meets a connection just made: they go out before the server's
    // settings come, and the server refuses all but 2.
    const upstream = new Http2Upstream(`http://127.0.0.1:${raw.port}`, undefined);
    try {
      const statuses = await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<number>((resolve) => {
              upstream.call(
                { path: '/library.v1.Library/GetBook', message: book('shelves/1/books/good'), metadata: [], deadline: undefined, serverStreaming: false },
                { onHeaders: () => undefined, onMessage: () => true, onStatus: (callStatus) => resolve(callStatus.code) },
              );
            }),
        ),
      );
      expect(statuses).toEqual(Array(20).fill(grpc.status.OK));
      // The server held to its limit (what it refused never reached its handler).
      expect(most).toBe(2);
    } finally {
      upstream.close();
      raw.server.close();
    }
  });

  it('backs off from a peer that accepts the connection but is no HTTP/2 server, as from one that refuses it', async () => {
    const http1 = createServer((_request, response) => response.end('hello'));
    let connections = 0;
    http1.on('connection', () => connections++);
    await new Promise<void>((resolve) => http1.listen(0, '127.0.0.1', resolve));
    const gateway = await startGateway((http1.address() as AddressInfo).port, {}, 'address');
    try {
      const replies = [];
      for (let i = 0; i < 10; i++) replies.push(await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET'));
      expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(503));
      // One connection, then the backoff (100 ms) answers for it; not one connection per request.
      expect(connections).toBeLessThanOrEqual(2);
      expect(replies[replies.length - 1]!.json()).toMatchObject({ code: grpc.status.UNAVAILABLE, message: expect.stringMatching(/trying again in \d+ ms/) });
    } finally {
      await gateway.close();
      http1.closeAllConnections();
      http1.close();
    }
  });

  it('moves to a new connection when the server restarts, and fails only the calls the old one carried', async () => {
    const port = await freePort();
    let server: LibraryServer = await startLibrary({}, port);
    const gateway = await startGateway(port, {}, 'address');
    try {
      expect((await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET')).status).toBe(200);
      await server.stop();
      server = await startLibrary({}, port);
      await eventually(async () => (await call(`${gateway.url}/v1/shelves/1/books/2`, 'GET')).status === 200, 'the gateway to reconnect', 10_000, 50);
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(`${gateway.url}/v1/shelves/1/books/${i}`, 'GET')));
      expect(replies.map((reply) => reply.status)).toEqual(Array(50).fill(200));
    } finally {
      await gateway.close();
      await server.stop();
    }
  });

  it('after close(), answers 503 and its connection ends', async () => {
    const raw = await misbehaving({
      good: (stream) => {
        ok(stream);
        stream.end(framed(book('shelves/1/books/good')));
      },
    });
    let open = 0;
    raw.server.on('session', (session) => {
      open++;
      session.on('close', () => open--);
    });
    const handler = createGateway({ packageDefinition: loadLibrary(), address: `http://127.0.0.1:${raw.port}` });
    const http = createServer(handler);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
    try {
      expect((await call(`${url}/v1/shelves/1/books/good`, 'GET')).status).toBe(200);
      expect(open).toBe(1);
      handler.close();
      await eventually(() => open === 0, 'the connection to end', 2_000);
      const after = await call(`${url}/v1/shelves/1/books/good`, 'GET');
      expect(after.status).toBe(503);
      expect(after.json()).toMatchObject({ message: 'the gateway is closed' });
      expect(open).toBe(0);
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      raw.server.close();
    }
  });
});

describe('the gateway over its own HTTP/2 connection, with TLS', () => {
  let dir: string;
  let server: grpc.Server;
  let port: number;
  let ca: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'x-gateway-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'cert.pem'));
    const library = (grpc.loadPackageDefinition(loadLibrary()) as unknown as { library: { v1: { Library: grpc.ServiceClientConstructor } } }).library.v1.Library;
    server = new grpc.Server();
    server.addService(library.service, {
      GetBook: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { name: call.request.name, title: 'over TLS' }),
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ private_key: readFileSync(join(dir, 'key.pem')), cert_chain: ca }]), (error, bound) => (error ? reject(error) : resolve(bound))),
    );
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('calls over https with the CA it is given, and answers 503 for a certificate it cannot verify', async () => {
    const trusted = await startGateway(port, { address: `https://localhost:${port}`, tls: { ca } }, 'address');
    const untrusted = await startGateway(port, { address: `https://localhost:${port}` }, 'address');
    try {
      const reply = await call(`${trusted.url}/v1/shelves/1/books/2`, 'GET');
      expect(reply.status).toBe(200);
      expect(reply.json()).toMatchObject({ title: 'over TLS' });
      const refused = await call(`${untrusted.url}/v1/shelves/1/books/2`, 'GET');
      expect(refused.status).toBe(503);
      expect(refused.json()).toMatchObject({ message: expect.stringMatching(/self[- ]signed/i) });
    } finally {
      await trusted.close();
      await untrusted.close();
    }
  });
});

describe('the address option', () => {
  it('refuses what is not http(s)://host:port, both or neither of address and client, and tls where it cannot apply', () => {
    const packageDefinition = loadLibrary();
    const client = new grpc.Client('127.0.0.1:1', grpc.credentials.createInsecure());
    try {
      for (const address of ['127.0.0.1:50051', 'grpc://127.0.0.1:50051', 'http://127.0.0.1', 'http://127.0.0.1:1/path', 'http://u@127.0.0.1:1', '', 5]) {
        expect(() => createGateway({ packageDefinition, address: address as string })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.address' }));
      }
      // Neither, both, and tls with a client do not compile; JavaScript callers meet the same rules at run time.
      // @ts-expect-error neither address nor client
      const neither: GatewayOptions = { packageDefinition };
      // @ts-expect-error both
      const both: GatewayOptions = { packageDefinition, address: 'http://127.0.0.1:1', client };
      expect([neither, both]).toHaveLength(2);
      expect(() => createGateway({ packageDefinition } as never)).toThrow(expect.objectContaining({ argument: 'options.address' }));
      expect(() => createGateway({ packageDefinition, address: 'http://127.0.0.1:1', client } as never)).toThrow(expect.objectContaining({ argument: 'options.client' }));
      expect(() => createGateway({ packageDefinition, address: 'http://127.0.0.1:1', tls: {} })).toThrow(expect.objectContaining({ argument: 'options.tls' }));
      expect(() => createGateway({ packageDefinition, client, tls: {} } as never)).toThrow(expect.objectContaining({ argument: 'options.tls' }));
      expect(() => createGateway({ packageDefinition, address: 'https://127.0.0.1:1', tls: 'x' as never })).toThrow(expect.objectContaining({ argument: 'options.tls' }));
      expect(typeof createGateway({ packageDefinition, address: 'https://[::1]:50051' })).toBe('function');
    } finally {
      client.close();
    }
  });
});
