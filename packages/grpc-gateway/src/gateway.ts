/**
 * grpc-gateway for Node: an HTTP request listener that serves the gRPC methods of a package definition at the
 * routes their `google.api.http` rules declare, with protobuf's canonical JSON both ways, grpc-gateway's status
 * mapping and error body `{ code, message, details }`, server streams as newline-delimited JSON (`{"result": ...}`
 * per message, `{"error": ...}` when the stream fails), deadlines from `Grpc-Timeout` (else `defaultTimeoutMs`),
 * and the call cancelled (RST_STREAM CANCEL) when the HTTP client goes away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SecureClientSessionOptions } from 'node:http2';
import { type Client, status } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Type } from 'protobufjs';
import { InvalidArgumentError, MAX_TIMEOUT_MS, assertBoolean, assertFunction, assertKnownKeys, assertNumber, assertString } from '@x/core';
import { deadlineIn, decodeGrpcTimeout, httpStatusFromGrpcCode } from '@x/grpc-keepalive';
import { type Binding, bindingsOf, rootOf, servicesOf } from './http-rules.js';
import { JsonCodec, JsonMappingError } from './json-codec.js';
import { type OpenApiInfo, openApiDocument } from './openapi.js';
import { addResponseTrailers, requestMetadata, setResponseMetadata } from './metadata.js';
import { GrpcJsUpstream } from './grpc-js-upstream.js';
import { Http2Upstream } from './http2-upstream.js';
import type { CallStatus, RequestMetadata, Upstream } from './upstream.js';
import { errorDetails } from './status-details.js';
import { readBody } from './request-body.js';
import { malformedEscape, requestJson } from './request-json.js';
import { Router } from './router.js';
import { gatewayTelemetry } from './telemetry.js';

/** Where the gateway sends its calls: `address` (its own HTTP/2 connection) or `client` (a grpc-js channel), one of the two. */
export type GatewayUpstream =
  | {
      /**
       * The gRPC server's address, `http://host:port` (plaintext HTTP/2) or `https://host:port` (TLS), reached over
       * one HTTP/2 connection of the gateway's own: it serves about 1.4x the requests a second it serves through a
       * grpc-js client (see README: Benchmarks). `close()` ends it.
       */
      address: string;
      /** TLS options for an `https://` address: `ca`, `cert` and `key` for mutual TLS, `servername`. */
      tls?: SecureClientSessionOptions;
      client?: never;
    }
  | {
      /**
       * A grpc-js client (any service's, or `new grpc.Client(target, credentials)`) whose channel carries every call:
       * for grpc-js's name resolution, load balancing, credentials or interceptors.
       */
      client: Client;
      address?: never;
      tls?: never;
    };

/** Options of {@link createGateway}: what to serve and how, and {@link GatewayUpstream} (`address` or `client`). */
export type GatewayOptions = GatewayServeOptions & GatewayUpstream;

/** What {@link createGateway} serves and how. */
export interface GatewayServeOptions {
  /** The services' descriptors, from @grpc/proto-loader's `loadSync` (any of its options). */
  packageDefinition: PackageDefinition;
  /** The services to serve (full names, `library.v1.Library`). Default: every service of the package definition. */
  services?: readonly string[];
  /** Serve methods without a `google.api.http` rule at `POST /<package.Service>/<Method>`, body `*` (default false). */
  unboundMethods?: boolean;
  /** Deadline for requests without `Grpc-Timeout` (grpc-gateway's DefaultContextTimeout). Default: none. */
  defaultTimeoutMs?: number;
  /** Largest request body accepted (413 above). Default 4 MiB, gRPC's default receive limit. */
  maxBodyBytes?: number;
  /** How long a request body may take to arrive (408 after). Default 30 s. */
  bodyTimeoutMs?: number;
  /** Refuse JSON fields the request message does not have, with 400 (default true). */
  rejectUnknownFields?: boolean;
  /** Write fields at their default value in responses (default true, as grpc-gateway). */
  emitUnpopulated?: boolean;
  /**
   * Request headers forwarded as gRPC metadata: returns the metadata key, or undefined to drop the header. Default:
   * `authorization`, the W3C trace context (`traceparent`, `tracestate`) and any `grpc-metadata-*` (prefix removed).
   */
  forwardHeader?: (name: string) => string | undefined;
  /** Serve the OpenAPI 3.1 document of the routes at this path (GET), e.g. `/openapi.json`. Default: not served. */
  openApiPath?: string;
  /** The document's `info` (title, version, description). */
  openApiInfo?: OpenApiInfo;
}

/** An HTTP request listener (for `http.createServer`, or a framework's raw handler). */
export type GatewayHandler = ((request: IncomingMessage, response: ServerResponse) => void) & {
  /**
   * Closes the gateway's own connection (with `address`; calls in flight finish, later requests answer 503).
   * A `client` given to the gateway stays open: it is the caller's to close.
   */
  close(): void;
  /** The routes served, as `GET /v1/{name=shelves/*}` -> `library.v1.Library.GetBook`, in the order added. */
  readonly routes: ReadonlyArray<{ readonly route: string; readonly method: string }>;
  /** The OpenAPI 3.1 document of the routes (made once, at the first call). */
  openApi(): Record<string, unknown>;
};

/** Headers that go on under their own name: credentials, and the trace context the server's spans continue. */
const FORWARDED_AS_IS = new Set(['authorization', 'traceparent', 'tracestate']);

const defaultForward = (name: string): string | undefined =>
  FORWARDED_AS_IS.has(name) ? name : name.startsWith('grpc-metadata-') ? name.slice('grpc-metadata-'.length) : undefined;

const OPTION_KEYS = ['packageDefinition', 'address', 'tls', 'client', 'services', 'unboundMethods', 'defaultTimeoutMs', 'maxBodyBytes', 'bodyTimeoutMs', 'rejectUnknownFields', 'emitUnpopulated', 'forwardHeader', 'openApiPath', 'openApiInfo'];

/**
 * An HTTP request listener serving `services` as their `google.api.http` rules say.
 *
 * @throws HttpRuleError for a rule that cannot be served, RouteConflictError for two rules serving the same
 *   requests, InvalidArgumentError for bad options.
 * @example
 * ```ts
 * const packageDefinition = loadSync('library.proto', { includeDirs: [googleApiProtos] });
 * http.createServer(createGateway({ packageDefinition, address: 'http://localhost:50051', defaultTimeoutMs: 5_000 })).listen(8080);
 * // curl localhost:8080/v1/shelves/1/books/2
 * ```
 */
export function createGateway(options: GatewayOptions): GatewayHandler {
  assertKnownKeys('options', options, OPTION_KEYS);
  const { packageDefinition } = options;
  if (!isPackageDefinition(packageDefinition)) throw new InvalidArgumentError('options.packageDefinition', packageDefinition, "@grpc/proto-loader's package definition (loadSync's result, not grpc.loadPackageDefinition's)");
  if (options.services !== undefined && (!Array.isArray(options.services) || !options.services.every((name) => typeof name === 'string'))) {
    throw new InvalidArgumentError('options.services', options.services, 'an array of service names');
  }
  const upstream = upstreamOf(options);
  const defaultTimeoutMs = options.defaultTimeoutMs === undefined ? undefined : assertNumber('options.defaultTimeoutMs', options.defaultTimeoutMs, { min: 1 });
  const maxBodyBytes = assertNumber('options.maxBodyBytes', options.maxBodyBytes ?? 4 * 1024 * 1024, { min: 0, integer: true });
  const bodyTimeoutMs = assertNumber('options.bodyTimeoutMs', options.bodyTimeoutMs ?? 30_000, { min: 1, max: MAX_TIMEOUT_MS });
  const forward = options.forwardHeader === undefined ? defaultForward : assertFunction<(name: string) => string | undefined>('options.forwardHeader', options.forwardHeader);
  const root = rootOf(packageDefinition);
  const codec = new JsonCodec(root, {
    rejectUnknownFields: options.rejectUnknownFields === undefined ? true : assertBoolean('options.rejectUnknownFields', options.rejectUnknownFields),
    emitUnpopulated: options.emitUnpopulated === undefined ? true : assertBoolean('options.emitUnpopulated', options.emitUnpopulated),
  });
  const unbound = options.unboundMethods === undefined ? false : assertBoolean('options.unboundMethods', options.unboundMethods);
  const openApiPath = options.openApiPath === undefined ? undefined : assertString('options.openApiPath', options.openApiPath);
  if (openApiPath !== undefined && !openApiPath.startsWith('/')) throw new InvalidArgumentError('options.openApiPath', openApiPath, 'a path starting with "/"');
  const router = new Router<Binding>();
  const bindings: Binding[] = [];
  for (const service of options.services ?? servicesOf(packageDefinition)) {
    for (const binding of bindingsOf(packageDefinition, root, service, unbound)) {
      router.add(binding.httpMethod, binding);
      bindings.push(binding);
    }
  }
  const routes = bindings.map((binding) => ({ route: `${binding.httpMethod} ${binding.template.source}`, method: binding.name }));
  let document: Record<string, unknown> | undefined;
  let documentText: string | undefined;
  const openApi = (): Record<string, unknown> => (document ??= openApiDocument(bindings, options.openApiInfo));
  const telemetry = gatewayTelemetry();

  const handler = (request: IncomingMessage, response: ServerResponse): void => {
    // A bug (ours, or in a forwardHeader) fails its request with 500, never the process.
    guarded(response, () => serve(request, response));
  };
  const serve = (request: IncomingMessage, response: ServerResponse): void => {
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
    const query = queryAt === -1 ? '' : url.slice(queryAt + 1);
    const httpMethod = request.method ?? 'GET';
    if (path === openApiPath && (httpMethod === 'GET' || httpMethod === 'HEAD')) {
      request.resume();
      documentText ??= JSON.stringify(openApi());
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(documentText) });
      return void response.end(httpMethod === 'HEAD' ? undefined : documentText);
    }
    const matched = router.match(httpMethod, path);
    // Timed to the response's end (or the client's hang-up); a path no rule serves counts under no route.
    telemetry?.time(httpMethod, matched?.route.template.source, response);
    if (matched === undefined) {
      request.resume();
      const allowed = router.methodsFor(path);
      if (allowed.length === 0) return sendError(response, status.NOT_FOUND, `no route for ${httpMethod} ${path}`);
      response.setHeader('allow', allowed.join(', '));
      return sendError(response, status.UNIMPLEMENTED, `${httpMethod} is not served at ${path}`, 405);
    }
    const { route: binding, variables } = matched;
    const malformed = malformedEscape(path, query);
    if (malformed !== undefined) {
      request.resume();
      return sendError(response, status.INVALID_ARGUMENT, `malformed percent-encoding: ${malformed}`);
    }
    let deadline: number | undefined;
    const timeoutHeader = request.headers['grpc-timeout'];
    try {
      const timeoutMs = typeof timeoutHeader === 'string' ? decodeGrpcTimeout(timeoutHeader) : defaultTimeoutMs;
      deadline = timeoutMs === undefined ? undefined : deadlineIn(timeoutMs);
    } catch (error) {
      request.resume();
      return sendError(response, status.INVALID_ARGUMENT, (error as Error).message);
    }
    // A JsonMappingError thrown here is a 400 (guarded).
    readBody(request, response, maxBodyBytes, bodyTimeoutMs, sendError, (text) => guarded(response, () => {
      const body = binding.body === undefined || text === '' ? undefined : parseJson(text);
      const json = requestJson(binding, body ?? (binding.body === '*' ? {} : undefined), variables, queryAt === -1 ? undefined : new URLSearchParams(query));
      const message = encode(binding.requestType, codec.read(binding.requestType, json));
      const metadata = requestMetadata(request, forward);
      if (typeof metadata === 'string') return sendError(response, status.INVALID_ARGUMENT, metadata);
      if (binding.serverStreaming) return stream(upstream, binding, codec, message, metadata, deadline, /\btrailers\b/i.test(String(request.headers.te ?? '')), response);
      unary(upstream, binding, codec, message, metadata, deadline, response);
    }));
  };
  return Object.assign(handler, { routes, openApi, close: () => upstream.close() });
}

/** The connection the options name: the gateway's own HTTP/2 connection to `address`, or `client`'s channel. */
function upstreamOf(options: GatewayOptions): Upstream {
  const { address, client, tls } = options;
  if ((address === undefined) === (client === undefined)) throw new InvalidArgumentError(address === undefined ? 'options.address' : 'options.client', address ?? client, 'either address or client, not both and not neither');
  if (client !== undefined) {
    if (typeof (client as Partial<Client> | null)?.makeUnaryRequest !== 'function') throw new InvalidArgumentError('options.client', client, 'a grpc-js Client');
    if (tls !== undefined) throw new InvalidArgumentError('options.tls', tls, 'nothing with a client (its credentials say how it connects)');
    return new GrpcJsUpstream(client);
  }
  let url: URL | undefined;
  try {
    url = new URL(assertString('options.address', address));
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
  }
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.port === '' || (url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '' || url.username !== '') {
    throw new InvalidArgumentError('options.address', address, 'http://host:port or https://host:port');
  }
  if (tls !== undefined && (typeof tls !== 'object' || tls === null)) throw new InvalidArgumentError('options.tls', tls, 'TLS options (an object)');
  if (tls !== undefined && url.protocol === 'http:') throw new InvalidArgumentError('options.tls', tls, 'nothing with an http:// address (use https://)');
  return new Http2Upstream(url.origin, tls);
}

/** A unary call: the answer goes out once both the reply and the status (with the trailing metadata) are in. */
function unary(upstream: Upstream, binding: Binding, codec: JsonCodec, message: Buffer, metadata: RequestMetadata, deadline: number | undefined, response: ServerResponse): void {
  let reply: Buffer | undefined;
  const call = upstream.call(
    { path: binding.path, message, metadata, deadline, serverStreaming: false },
    {
      onHeaders: (headers) => setResponseMetadata(response, headers, 'grpc-metadata-'),
      onMessage: (received) => {
        reply = received;
        return true;
      },
      onStatus: (callStatus) =>
        guarded(response, () => {
          response.off('close', onClose);
          setResponseMetadata(response, callStatus.trailers, 'grpc-trailer-');
          if (callStatus.code !== status.OK) return sendStatus(response, codec, callStatus);
          let json: unknown;
          try {
            json = replyJson(binding, codec, reply ?? Buffer.alloc(0));
          } catch (failure) {
            return sendError(response, status.INTERNAL, `the reply could not be written as JSON: ${(failure as Error).message}`);
          }
          send(response, 200, json);
        }),
    },
  );
  // The HTTP client went away before the answer: cancel the call (RST_STREAM CANCEL) instead of letting the
  // server work for nobody.
  const onClose = (): void => {
    if (!response.writableFinished) call.cancel();
  };
  response.on('close', onClose);
}

/**
 * A server stream as newline-delimited JSON. A reader slower than the stream pauses the call (the connection's
 * HTTP/2 flow control then holds the server back), so memory stays bounded. Its trailing metadata ends the
 * response as HTTP trailers when the client takes them (`acceptsTrailers`).
 */
function stream(upstream: Upstream, binding: Binding, codec: JsonCodec, message: Buffer, metadata: RequestMetadata, deadline: number | undefined, acceptsTrailers: boolean, response: ServerResponse): void {
  const start = (): void => {
    if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/json' });
  };
  const call = upstream.call(
    { path: binding.path, message, metadata, deadline, serverStreaming: true },
    {
      onHeaders: (headers) => setResponseMetadata(response, headers, 'grpc-metadata-'),
      onMessage: (reply) => {
        let line: string;
        try {
          line = `${toJson({ result: replyJson(binding, codec, reply) })}\n`;
        } catch (failure) {
          line = `${toJson({ error: errorBody(status.INTERNAL, `a message could not be written as JSON: ${(failure as Error).message}`) })}\n`;
        }
        start();
        if (response.write(line)) return true;
        response.once('drain', () => call.resume());
        return false;
      },
      onStatus: (callStatus) => {
        response.off('close', onClose);
        if (callStatus.code === status.OK) {
          start();
          if (acceptsTrailers) addResponseTrailers(response, callStatus.trailers);
          return void response.end();
        }
        if (!response.headersSent) return sendStatus(response, codec, callStatus);
        if (acceptsTrailers) addResponseTrailers(response, callStatus.trailers);
        response.end(`${toJson({ error: errorBody(callStatus.code, callStatus.details, errorDetails(codec, callStatus.statusDetails)) })}\n`);
      },
    },
  );
  const onClose = (): void => {
    if (!response.writableFinished) call.cancel();
  };
  response.on('close', onClose);
}

/** A failed call's status as grpc-gateway's error body. */
function sendStatus(response: ServerResponse, codec: JsonCodec, callStatus: CallStatus): void {
  sendError(response, callStatus.code, callStatus.details, undefined, errorDetails(codec, callStatus.statusDetails));
}

function replyJson(binding: Binding, codec: JsonCodec, reply: Buffer): unknown {
  const message = binding.responseType.decode(reply);
  if (binding.responseBody === undefined) return codec.write(binding.responseType, message);
  // The field's value even where the message would leave it out (unset, or at its default): grpc-gateway writes
  // the field's value, `""` or `null` included.
  return codec.writeField(binding.responseType.fields[binding.responseBody]!, message);
}

/** proto-loader's definitions: messages carry their descriptors, services their methods' paths. */
function isPackageDefinition(value: unknown): value is PackageDefinition {
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).every((definition: unknown) => typeof definition === 'object' && definition !== null && ('format' in definition || Object.values(definition).every((method: unknown) => typeof (method as { path?: unknown } | null)?.path === 'string')));
}

/** Runs `work`; an exception it throws answers 500 (when nothing was answered yet) instead of ending the process. */
function guarded(response: ServerResponse, work: () => void): void {
  try {
    work();
  } catch (error) {
    if (error instanceof JsonMappingError) return sendError(response, status.INVALID_ARGUMENT, error.message);
    if (!response.headersSent) sendError(response, status.INTERNAL, `the gateway failed: ${error instanceof Error ? error.message : String(error)}`);
    else response.destroy();
  }
}

function encode(type: Type, object: Record<string, unknown>): Buffer {
  const bytes = type.encode(type.fromObject(object)).finish();
  // protobufjs writes into a Buffer on Node: no copy then.
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new JsonMappingError('', 'the request body is not JSON');
  }
}

function toJson(value: unknown): string {
  return JSON.stringify(value);
}

function send(response: ServerResponse, httpStatus: number, body: unknown): void {
  if (response.headersSent || response.destroyed) return;
  const text = toJson(body);
  response.writeHead(httpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** grpc-gateway's error body, `{ code, message, details }`. */
function errorBody(code: number, message: string, details: unknown[] = []): { code: number; message: string; details: unknown[] } {
  return { code, message, details };
}

function sendError(response: ServerResponse, code: number, message: string, httpStatus = httpStatusFromGrpcCode(code), details: unknown[] = []): void {
  send(response, httpStatus, errorBody(code, message, details));
}
