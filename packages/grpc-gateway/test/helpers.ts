import { type AddressInfo } from 'node:net';
import { type Server as HttpServer, createServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Options, type PackageDefinition, loadSync } from '@grpc/proto-loader';
import { type GatewayOptions, createGateway, googleApiProtos } from '../src/index.js';

export const LIBRARY_PROTO = join(__dirname, 'fixtures', 'library.proto');

/** The library protos as a user loads them (`keepCase` either way: the gateway must not care). */
export function loadLibrary(options: Options = {}): PackageDefinition {
  return loadSync(LIBRARY_PROTO, { includeDirs: [googleApiProtos], ...options });
}

type Call = grpc.ServerUnaryCall<Record<string, unknown>, unknown>;
type Reply = grpc.sendUnaryData<unknown>;

/** What the server saw: each call's method, request (as grpc-js decoded it, keepCase) and metadata. */
export interface Seen {
  method: string;
  request: Record<string, unknown>;
  metadata: grpc.Metadata;
}

export interface LibraryServer {
  port: number;
  seen: Seen[];
  /** Calls the server saw cancelled, by method. */
  cancelled: string[];
  /** Messages StreamBooks has written so far (its writes wait while the client does not read). */
  streamed: { count: number };
  stop(): Promise<void>;
}

/** A book as the server returns it, with every kind of field set. */
export const BOOK = {
  name: 'shelves/1/books/2',
  title: 'Dune',
  page_count: '9007199254740993',
  published: { seconds: '-14182940', nanos: 21_000_000 },
  genre: 'FICTION',
  tags: ['sf', 'classic'],
  cover: Buffer.from([0xfb, 0xff, 0x00]),
  reading_time: { seconds: '5400', nanos: 500_000_000 },
  edition: { value: 3 },
  // protobufjs defines the well-known types with camelCase field names, whatever keepCase says.
  extra: { fields: { shelf: { stringValue: 'A' }, rank: { numberValue: 1.5 }, ok: { boolValue: true }, none: { nullValue: 'NULL_VALUE' } } },
  ratings: { alice: '5' },
  catalog_number: '18446744073709551615',
  price: 9.5,
};

/**
 * Trailing metadata as grpc-go's status.WithDetails sends it: grpc-status-details-bin, a google.rpc.Status with
 * two Anys, a library.v1.Filter{author: "x"} (a type the gateway knows) and a type it does not know. Encoded by hand.
 */
function detailsMetadata(): grpc.Metadata {
  const field = (number: number, bytes: Buffer): Buffer => Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);
  const any = (url: string, value: Buffer): Buffer => Buffer.concat([field(1, Buffer.from(url)), field(2, value)]);
  const status = Buffer.concat([
    Buffer.from([0x08, 9]),
    field(2, Buffer.from('see details')),
    field(3, any('type.googleapis.com/library.v1.Filter', field(1, Buffer.from('x')))),
    field(3, any('type.googleapis.com/acme.Unknown', Buffer.from([1, 2, 3]))),
  ]);
  const metadata = new grpc.Metadata();
  metadata.set('grpc-status-details-bin', status);
  return metadata;
}

/** A grpc-js server implementing library.v1.Library from the same protos (keepCase, longs as strings). */
/** The library server, on `port` (default: an ephemeral one). */
export async function startLibrary(options: grpc.ServerOptions = {}, atPort = 0): Promise<LibraryServer> {
  const definition = loadLibrary({ keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const Library = (grpc.loadPackageDefinition(definition) as unknown as { library: { v1: { Library: grpc.ServiceClientConstructor } } }).library.v1.Library;
  const server = new grpc.Server(options);
  const seen: Seen[] = [];
  const cancelled: string[] = [];
  const streamed = { count: 0 };
  const record = (method: string) => (call: Call, callback: Reply) => {
    seen.push({ method, request: call.request, metadata: call.metadata });
    call.on('cancelled', () => cancelled.push(method));
    const name = String(call.request.name ?? '');
    if (name.endsWith('/missing')) return callback({ code: grpc.status.NOT_FOUND, details: `${name} not found` });
    // `.../code-N` fails with status N; `.../slow-N` answers after N ms.
    const code = /\/code-(\d+)$/.exec(name);
    if (code !== null) return callback({ code: Number(code[1]), details: `failed with ${code[1]}` });
    if (name.endsWith('/with-details')) return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'see details', metadata: detailsMetadata() });
    const slow = /\/slow-(\d+)$/.exec(name);
    if (slow !== null) {
      const timer = setTimeout(() => callback(null, { ...BOOK, title: `slept ${slow[1]}` }), Number(slow[1]));
      return void call.on('cancelled', () => clearTimeout(timer));
    }
    if (method === 'Echo') {
      const metadata = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([key, value]) => [key, String(value)]));
      return callback(null, { method, request_json: JSON.stringify(call.request), metadata });
    }
    if (method === 'DeleteBook') return callback(null, {});
    if (method === 'ListBooks') return callback(null, { books: [BOOK], next_page_token: 'next' });
    const header = new grpc.Metadata();
    header.set('x-served-by', 'library');
    call.sendMetadata(header);
    const trailer = new grpc.Metadata();
    trailer.set('x-checksum', 'c0ffee');
    callback(null, method === 'CreateBook' || method === 'UpdateBook' ? { ...BOOK, ...(call.request.book as object) } : BOOK, trailer);
  };
  server.addService(Library.service, {
    GetBook: record('GetBook'),
    ListBooks: record('ListBooks'),
    CreateBook: record('CreateBook'),
    UpdateBook: record('UpdateBook'),
    DeleteBook: record('DeleteBook'),
    BookTitle: record('BookTitle'),
    BookIsbn: record('BookIsbn'),
    Files: record('Files'),
    Echo: record('Echo'),
    Unannotated: record('Unannotated'),
    StreamBooks: (call: grpc.ServerWritableStream<{ count: number; fail_after: number; padding: number }, unknown>) => {
      seen.push({ method: 'StreamBooks', request: call.request, metadata: call.metadata });
      call.on('cancelled', () => cancelled.push('StreamBooks'));
      const { count, fail_after: failAfter, padding } = call.request;
      let sent = 0;
      const title = 'x'.repeat(padding);
      const next = (): void => {
        while (sent < count) {
          if (failAfter > 0 && sent === failAfter) return void call.emit('error', { code: grpc.status.DATA_LOSS, details: 'the shelf fell', metadata: streamTrailer(sent) });
          if (call.cancelled) return;
          sent++;
          streamed.count++;
          if (!call.write({ name: `shelves/1/books/${sent}`, title })) return void call.once('drain', next);
        }
        call.end(streamTrailer(sent));
      };
      next();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${atPort}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  return { port, seen, cancelled, streamed, stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())) };
}

/** A stream's trailing metadata: how many messages it sent. */
function streamTrailer(sent: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set('x-sent', String(sent));
  return metadata;
}

export interface RunningGateway {
  url: string;
  client: grpc.Client;
  http: HttpServer;
  close(): Promise<void>;
}

/** How the gateway reaches the server: through a grpc-js client, or over its own HTTP/2 connection. */
export type Transport = 'client' | 'address';
export const TRANSPORTS: readonly Transport[] = ['client', 'address'];

/** The gateway on an ephemeral port, in front of the server at `port`. */
export async function startGateway(port: number, options: Partial<GatewayOptions> = {}, transport: Transport = 'client'): Promise<RunningGateway> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const upstream = transport === 'client' ? { client } : { address: `http://127.0.0.1:${port}` };
  // Tests give an address of their own (TLS) or other options over the transport's defaults: checked at run time.
  const gateway = createGateway({ packageDefinition: loadLibrary(), ...upstream, ...options } as GatewayOptions);
  const http = createServer(gateway);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    client,
    http,
    close: async () => {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
      gateway.close();
      client.close();
    },
  };
}

export interface HttpReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** HTTP/1.1 trailers (after a chunked body). */
  trailers: Record<string, string | undefined>;
  text: string;
  json(): unknown;
}

/** One HTTP request with node:http (any method, a raw body). */
export function call(url: string, method: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { method, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode ?? 0, headers: response.headers, trailers: response.trailers, text, json: () => JSON.parse(text) as unknown });
      });
    });
    request.on('error', reject);
    request.end(body);
  });
}
