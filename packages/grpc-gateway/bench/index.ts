/**
 * `npm run bench -w @x/grpc-gateway [-- --quick]`: requests per second from 64 keep-alive HTTP connections on
 * loopback through the gateway (over its own HTTP/2 connection; the `-client` cases through a grpc-js client), against the same gRPC method called directly with grpc-js and against a
 * hand-written fastify 5 route doing what the gateway does (parse, grpc-js call, JSON reply); and a server stream
 * of 10,000 messages through the gateway against the same stream read directly. Server, gateway and load share
 * one process, so the figures are relative.
 */
import { Agent, type IncomingMessage, type RequestListener, createServer, request } from 'node:http';
import { connect } from 'node:http2';
import { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import Fastify from 'fastify';
import { type BenchCase, isQuick, runBench } from '@x/testkit';
import { createGateway, googleApiProtos } from '@x/grpc-gateway';

const quick = isQuick();
const DURATION_MS = quick ? 1_000 : 3_000;
const CONCURRENCY = 64;
const STREAM_MESSAGES = 10_000;

const PROTO = join(__dirname, '..', 'test', 'fixtures', 'library.proto');
const packageDefinition = loadSync(PROTO, { includeDirs: [googleApiProtos] });
// What a hand-written route's author loads: longs and enums as strings, for JSON.
const userDefinition = loadSync(PROTO, { includeDirs: [googleApiProtos], longs: String, enums: String });
const Library = (grpc.loadPackageDefinition(userDefinition) as unknown as { library: { v1: { Library: grpc.ServiceClientConstructor } } }).library.v1.Library;
type LibraryClient = grpc.Client & {
  GetBook(request: { name: string }, callback: (error: grpc.ServiceError | null, reply?: unknown) => void): void;
  StreamBooks(request: { count: number }): grpc.ClientReadableStream<unknown>;
};

const BOOK = { title: 'Dune', pageCount: '412', genre: 'FICTION', tags: ['sf'] };

async function startServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = new grpc.Server();
  server.addService(Library.service, {
    GetBook: (call: grpc.ServerUnaryCall<{ name: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { ...BOOK, name: call.request.name }),
    StreamBooks: (call: grpc.ServerWritableStream<{ count: number }, unknown>) => {
      let sent = 0;
      const next = (): void => {
        while (sent < call.request.count) {
          sent++;
          if (!call.write({ ...BOOK, name: `shelves/1/books/${sent}` })) return void call.once('drain', next);
        }
        call.end();
      };
      next();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())) };
}

/** What CONCURRENCY loops calling `call` for DURATION_MS did: calls per second, and the 99th percentile of their latencies (ms). */
async function load(call: (i: number) => Promise<void>): Promise<{ rate: number; p99: number }> {
  let done = 0;
  const latencies: number[] = [];
  const until = Date.now() + DURATION_MS;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const started = performance.now();
        await call(done);
        latencies.push(performance.now() - started);
        done++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return { rate: done / (DURATION_MS / 1000), p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}

async function callsPerSecond(call: (i: number) => Promise<void>): Promise<number> {
  return (await load(call)).rate;
}

/** GETs against an HTTP server started by `start` (given the gRPC port): their rate and p99. */
async function httpLoad(start: (grpcPort: number) => Promise<{ port: number; close(): Promise<void> }>): Promise<{ rate: number; p99: number }> {
  const server = await startServer();
  const http = await start(server.port);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  try {
    return await load(
      (i) =>
        new Promise<void>((resolve, reject) => {
          const req = request({ host: '127.0.0.1', port: http.port, path: `/v1/shelves/1/books/${i % 100}`, agent }, (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
          });
          req.on('error', reject);
          req.end();
        }),
    );
  } finally {
    agent.destroy();
    await http.close();
    await server.stop();
  }
}

const httpRate = async (start: Parameters<typeof httpLoad>[0]): Promise<number> => (await httpLoad(start)).rate;
const httpP99 = async (start: Parameters<typeof httpLoad>[0]): Promise<number> => (await httpLoad(start)).p99;

/** An HTTP server of `handler` on an ephemeral port; `release` runs after it closed. */
async function listening(handler: RequestListener, release: () => void): Promise<{ port: number; close(): Promise<void> }> {
  const http = createServer(handler);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      release();
    },
  };
}

function ourGateway(grpcPort: number, through: 'address' | 'client' = 'address'): Promise<{ port: number; close(): Promise<void> }> {
  const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
  const gateway = createGateway({ packageDefinition, ...(through === 'address' ? { address: `http://127.0.0.1:${grpcPort}` } : { client }) });
  return listening(gateway, () => {
    gateway.close();
    client.close();
  });
}

/** The route a fastify user writes by hand for the same method. */
async function fastifyRoute(grpcPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const client = new Library(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure()) as unknown as LibraryClient;
  const app = Fastify();
  app.get<{ Params: { shelf: string; book: string } }>('/v1/shelves/:shelf/books/:book', (req, reply) => {
    client.GetBook({ name: `shelves/${req.params.shelf}/books/${req.params.book}` }, (error, book) => {
      if (error) return void reply.code(500).send({ code: error.code, message: error.details, details: [] });
      void reply.send(book);
    });
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (app.server.address() as AddressInfo).port, close: async () => void (await app.close()) };
}

/**
 * The least any gateway on node:http and node:http2 can do per request: a GET answered with one HTTP/2 call of a
 * request encoded once, and a reply read and dropped for a JSON body written once. No routing, no JSON mapping, no
 * metadata, no status: what is left is the HTTP/1.1 and HTTP/2 cost, the ceiling of `unary-vs-direct`.
 */
function floorProxy(grpcPort: number): Promise<{ port: number; close(): Promise<void> }> {
  const session = connect(`http://127.0.0.1:${grpcPort}`);
  const name = Buffer.from('shelves/1/books/1');
  const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, name.length + 2, 0x0a, name.length]), name]);
  const json = JSON.stringify({ ...BOOK, name: 'shelves/1/books/1' });
  const handler: RequestListener = (_request, response) => {
    const call = session.request({ ':method': 'POST', ':path': '/library.v1.Library/GetBook', 'content-type': 'application/grpc', te: 'trailers' });
    call.on('data', () => undefined);
    call.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      response.end(json);
    });
    call.end(frame);
  };
  return listening(handler, () => session.close());
}

async function directRate(): Promise<number> {
  const server = await startServer();
  const client = new Library(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as LibraryClient;
  try {
    return await callsPerSecond((i) => new Promise((resolve, reject) => client.GetBook({ name: `shelves/1/books/${i % 100}` }, (error) => (error ? reject(error) : resolve()))));
  } finally {
    client.close();
    await server.stop();
  }
}

/** Messages per second of one stream of STREAM_MESSAGES through the gateway, read line by line. */
async function gatewayStreamRate(through: 'address' | 'client' = 'address'): Promise<number> {
  const server = await startServer();
  const http = await ourGateway(server.port, through);
  try {
    const started = performance.now();
    const lines = await new Promise<number>((resolve, reject) => {
      request({ host: '127.0.0.1', port: http.port, path: `/v1/books:stream?count=${STREAM_MESSAGES}` }, (res: IncomingMessage) => {
        let count = 0;
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          const parts = (rest + chunk).split('\n');
          rest = parts.pop()!;
          for (const line of parts) if ((JSON.parse(line) as { result?: unknown }).result !== undefined) count++;
        });
        res.on('end', () => resolve(count));
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    if (lines !== STREAM_MESSAGES) throw new Error(`${lines} messages`);
    return STREAM_MESSAGES / ((performance.now() - started) / 1000);
  } finally {
    await http.close();
    await server.stop();
  }
}

async function directStreamRate(): Promise<number> {
  const server = await startServer();
  const client = new Library(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure()) as unknown as LibraryClient;
  try {
    const started = performance.now();
    const count = await new Promise<number>((resolve, reject) => {
      let received = 0;
      const stream = client.StreamBooks({ count: STREAM_MESSAGES });
      stream.on('data', () => received++);
      stream.on('end', () => resolve(received));
      stream.on('error', reject);
    });
    if (count !== STREAM_MESSAGES) throw new Error(`${count} messages`);
    return STREAM_MESSAGES / ((performance.now() - started) / 1000);
  } finally {
    client.close();
    await server.stop();
  }
}

const rounds = quick ? 3 : 5;
const cases: BenchCase[] = [
  { id: 'unary-get', unit: 'req/s', better: 'higher', peer: 'hand-written fastify 5 route', rounds, ours: () => httpRate(ourGateway), theirs: () => httpRate(fastifyRoute) },
  { id: 'unary-get-p99', unit: 'ms', better: 'lower', peer: 'hand-written fastify 5 route', rounds, ours: () => httpP99(ourGateway), theirs: () => httpP99(fastifyRoute) },
  { id: 'unary-vs-direct', unit: 'req/s', better: 'higher', peer: 'direct grpc-js call', rounds, ours: () => httpRate(ourGateway), theirs: () => directRate() },
  // Not a goal: the ceiling of unary-vs-direct on this machine, measured beside it.
  { id: 'floor-vs-direct', unit: 'req/s', better: 'higher', peer: 'direct grpc-js call', rounds, ours: () => httpRate(floorProxy), theirs: () => directRate() },
  { id: 'server-stream', unit: 'msg/s', better: 'higher', peer: 'direct grpc-js stream', rounds, ours: () => gatewayStreamRate(), theirs: () => directStreamRate() },
  // The gateway through a grpc-js client (the `client` option) against its own connection (`address`).
  { id: 'unary-get-client', unit: 'req/s', better: 'higher', peer: 'ours over its own HTTP/2 connection', rounds, ours: () => httpRate((port) => ourGateway(port, 'client')), theirs: () => httpRate(ourGateway) },
  { id: 'server-stream-client', unit: 'msg/s', better: 'higher', peer: 'ours over its own HTTP/2 connection', rounds, ours: () => gatewayStreamRate('client'), theirs: () => gatewayStreamRate() },
];

void runBench('grpc-gateway', cases);
