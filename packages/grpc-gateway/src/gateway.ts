/**
 * grpc-gateway for Node: an HTTP request listener that serves the gRPC methods of a package definition at the
 * routes their `google.api.http` rules declare, with protobuf's canonical JSON both ways, grpc-gateway's status
 * mapping and error body `{ code, message, details }`, server streams as newline-delimited JSON (`{"result": ...}`
 * per message, `{"error": ...}` when the stream fails), deadlines from `Grpc-Timeout` (else `defaultTimeoutMs`),
 * and the call cancelled (RST_STREAM CANCEL) when the HTTP client goes away.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Client, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { Type } from 'protobufjs';
import { InvalidArgumentError, MAX_TIMEOUT_MS, assertBoolean, assertFunction, assertKnownKeys, assertNumber, assertString } from '@x/core';
import { decodeGrpcTimeout, httpStatusFromGrpcCode } from '@x/grpc-keepalive';
import { type Binding, bindingsOf, rootOf, servicesOf } from './http-rules.js';
import { JsonCodec, JsonMappingError, lowerCamel } from './json-codec.js';
import { type OpenApiInfo, openApiDocument } from './openapi.js';
import { requestJson } from './request-json.js';
import { Router } from './router.js';
import { gatewayTelemetry } from './telemetry.js';

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /** The services' descriptors, from @grpc/proto-loader's `loadSync` (any of its options). */
  packageDefinition: PackageDefinition;
  /** A grpc-js client (any service's, or `new grpc.Client(address, credentials)`): its channel carries every call. */
  client: Client;
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
  /** The routes served, as `GET /v1/{name=shelves/*}` -> `library.v1.Library.GetBook`, in the order added. */
  readonly routes: ReadonlyArray<{ readonly route: string; readonly method: string }>;
  /** The OpenAPI 3.1 document of the routes (made once, at the first call). */
  openApi(): Record<string, unknown>;
};

/** Headers that go on under their own name: credentials, and the trace context the server's spans continue. */
const FORWARDED_AS_IS = new Set(['authorization', 'traceparent', 'tracestate']);

const defaultForward = (name: string): string | undefined =>
  FORWARDED_AS_IS.has(name) ? name : name.startsWith('grpc-metadata-') ? name.slice('grpc-metadata-'.length) : undefined;

/** Buffers in and out as they are: the gateway encodes and decodes with its own descriptors. */
const asIs = (buffer: Buffer): Buffer => buffer;

const OPTION_KEYS = ['packageDefinition', 'client', 'services', 'unboundMethods', 'defaultTimeoutMs', 'maxBodyBytes', 'bodyTimeoutMs', 'rejectUnknownFields', 'emitUnpopulated', 'forwardHeader', 'openApiPath', 'openApiInfo'];

/**
 * An HTTP request listener serving `services` as their `google.api.http` rules say.
 *
 * @throws HttpRuleError for a rule that cannot be served, RouteConflictError for two rules serving the same
 *   requests, InvalidArgumentError for bad options.
 * @example
 * ```ts
 * const packageDefinition = loadSync('library.proto', { includeDirs: [googleApiProtos] });
 * const client = new grpc.Client('localhost:50051', grpc.credentials.createInsecure());
 * http.createServer(createGateway({ packageDefinition, client, defaultTimeoutMs: 5_000 })).listen(8080);
 * // curl localhost:8080/v1/shelves/1/books/2
 * ```
 */
export function createGateway(options: GatewayOptions): GatewayHandler {
  assertKnownKeys('options', options, OPTION_KEYS);
  const { packageDefinition, client } = options;
  if (typeof packageDefinition !== 'object' || packageDefinition === null) throw new InvalidArgumentError('options.packageDefinition', packageDefinition, "@grpc/proto-loader's package definition");
  if (typeof (client as Partial<Client> | undefined)?.makeUnaryRequest !== 'function') throw new InvalidArgumentError('options.client', client, 'a grpc-js Client');
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
    const url = request.url ?? '/';
    const queryAt = url.indexOf('?');
    const path = queryAt === -1 ? url : url.slice(0, queryAt);
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
    let deadline: number | undefined;
    const timeoutHeader = request.headers['grpc-timeout'];
    try {
      const timeoutMs = typeof timeoutHeader === 'string' ? decodeGrpcTimeout(timeoutHeader) : defaultTimeoutMs;
      deadline = timeoutMs === undefined ? undefined : timeoutMs > MAX_TIMEOUT_MS ? Infinity : Date.now() + timeoutMs;
    } catch (error) {
      request.resume();
      return sendError(response, status.INVALID_ARGUMENT, (error as Error).message);
    }
    readBody(request, response, maxBodyBytes, bodyTimeoutMs, (text) => {
      let message: Buffer;
      try {
        const body = binding.body === undefined || text === '' ? undefined : parseJson(text);
        const json = requestJson(binding, body ?? (binding.body === '*' ? {} : undefined), variables, queryAt === -1 ? undefined : new URLSearchParams(url.slice(queryAt + 1)));
        message = encode(binding.requestType, codec.read(binding.requestType, json));
      } catch (error) {
        if (error instanceof JsonMappingError) return sendError(response, status.INVALID_ARGUMENT, error.message);
        throw error;
      }
      const metadata = metadataOf(request, forward);
      if (typeof metadata === 'string') return sendError(response, status.INVALID_ARGUMENT, metadata);
      const callOptions = deadline === undefined ? {} : { deadline };
      if (binding.serverStreaming) return stream(client, binding, codec, message, metadata, callOptions, response);
      unary(client, binding, codec, message, metadata, callOptions, response);
    });
  };
  return Object.assign(handler, { routes, openApi });
}

function unary(client: Client, binding: Binding, codec: JsonCodec, message: Buffer, metadata: Metadata, callOptions: { deadline?: number }, response: ServerResponse): void {
  const call = client.makeUnaryRequest(binding.path, asIs, asIs, message, metadata, callOptions, (error: ServiceError | null, reply?: Buffer) => {
    response.off('close', onClose);
    if (error !== null) return sendError(response, error.code ?? status.UNKNOWN, error.details || error.message);
    let json: unknown;
    try {
      json = replyJson(binding, codec, reply ?? Buffer.alloc(0));
    } catch (failure) {
      return sendError(response, status.INTERNAL, `the reply could not be written as JSON: ${(failure as Error).message}`);
    }
    send(response, 200, json);
  });
  call.on('metadata', (headers: Metadata) => setMetadataHeaders(response, headers));
  // The HTTP client went away before the answer: cancel the call (RST_STREAM CANCEL) instead of letting the
  // server work for nobody.
  const onClose = (): void => {
    if (!response.writableFinished) call.cancel();
  };
  response.on('close', onClose);
}

/**
 * A server stream as newline-delimited JSON. A reader slower than the stream pauses the call (grpc-js then stops
 * reading from the connection, and HTTP/2 flow control holds the server back), so memory stays bounded.
 */
function stream(client: Client, binding: Binding, codec: JsonCodec, message: Buffer, metadata: Metadata, callOptions: { deadline?: number }, response: ServerResponse): void {
  const call = client.makeServerStreamRequest(binding.path, asIs, asIs, message, metadata, callOptions);
  const start = (): void => {
    if (!response.headersSent) response.writeHead(200, { 'content-type': 'application/json' });
  };
  call.on('metadata', (headers: Metadata) => setMetadataHeaders(response, headers));
  call.on('data', (reply: Buffer) => {
    let line: string;
    try {
      line = `${toJson({ result: replyJson(binding, codec, reply) })}\n`;
    } catch (failure) {
      line = `${toJson({ error: { code: status.INTERNAL, message: `a message could not be written as JSON: ${(failure as Error).message}`, details: [] } })}\n`;
    }
    start();
    if (!response.write(line)) {
      call.pause();
      response.once('drain', () => call.resume());
    }
  });
  call.on('error', (error: ServiceError) => {
    response.off('close', onClose);
    if (!response.headersSent) return sendError(response, error.code ?? status.UNKNOWN, error.details || error.message);
    response.end(`${toJson({ error: { code: error.code ?? status.UNKNOWN, message: error.details || error.message, details: [] } })}\n`);
  });
  call.on('end', () => {
    response.off('close', onClose);
    start();
    response.end();
  });
  const onClose = (): void => {
    if (!response.writableFinished) call.cancel();
  };
  response.on('close', onClose);
}

function replyJson(binding: Binding, codec: JsonCodec, reply: Buffer): unknown {
  const json = codec.write(binding.responseType, binding.responseType.decode(reply)) as Record<string, unknown>;
  return binding.responseBody === undefined ? json : json[lowerCamel(binding.responseBody)];
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

/** The request's headers as gRPC metadata, or why one of them cannot be. */
function metadataOf(request: IncomingMessage, forward: (name: string) => string | undefined): Metadata | string {
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(request.headers)) {
    const key = forward(name);
    if (key === undefined || typeof value !== 'string') continue;
    try {
      // grpc-js throws on what metadata cannot carry (an illegal key, a non-ASCII value): the client's mistake.
      metadata.set(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
    } catch (error) {
      return `header ${name} cannot be gRPC metadata: ${(error as Error).message}`;
    }
  }
  return metadata;
}

/** The server's response metadata as `Grpc-Metadata-<key>` headers (grpc-gateway's names). */
function setMetadataHeaders(response: ServerResponse, metadata: Metadata): void {
  if (response.headersSent) return;
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    const texts = values.map((value) => (Buffer.isBuffer(value) ? value.toString('base64') : value));
    try {
      response.setHeader(`grpc-metadata-${key}`, texts);
    } catch {
      // A value HTTP cannot carry as a header is left out rather than fail the response.
    }
  }
}

/** Reads the request body (UTF-8) within `maxBytes` and `timeoutMs`, answering 413 / 408 itself when it cannot. */
function readBody(request: IncomingMessage, response: ServerResponse, maxBytes: number, timeoutMs: number, then: (text: string) => void): void {
  // A request that declares no body (a GET, usually) has none: no timer, no listeners.
  if (request.headers['content-length'] === undefined && request.headers['transfer-encoding'] === undefined) {
    request.resume();
    return then('');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let done = false;
  const finish = (): void => {
    done = true;
    clearTimeout(timer);
  };
  const timer = setTimeout(() => {
    if (done) return;
    finish();
    response.setHeader('connection', 'close');
    sendError(response, status.DEADLINE_EXCEEDED, `the request body did not arrive within ${timeoutMs} ms`, 408);
    request.destroy();
  }, timeoutMs);
  request.on('data', (chunk: Buffer) => {
    if (done) return;
    size += chunk.length;
    if (size > maxBytes) {
      // Answer at once and drop the rest unread; the connection is not reused after an unread body.
      finish();
      chunks.length = 0;
      response.setHeader('connection', 'close');
      sendError(response, status.RESOURCE_EXHAUSTED, `request body above ${maxBytes} bytes`, 413);
      return;
    }
    chunks.push(chunk);
  });
  request.on('end', () => {
    if (done) return;
    finish();
    then(Buffer.concat(chunks).toString('utf8'));
  });
  request.on('error', () => finish());
  response.on('close', () => finish());
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

function sendError(response: ServerResponse, code: number, message: string, httpStatus = httpStatusFromGrpcCode(code)): void {
  send(response, httpStatus, { code, message, details: [] });
}
