/**
 * grpc-gateway's idea for unary methods: `POST /<package.Service>/<Method>` with a JSON body becomes a gRPC call,
 * its reply becomes JSON, and a failure becomes grpc-gateway's HTTP status and error body `{ code, message,
 * details }`. The `Grpc-Timeout` request header sets the deadline (else `defaultTimeoutMs`); a client that
 * hangs up cancels the call (the server sees RST_STREAM CANCEL). Statuses that are ours, not grpc-gateway's:
 * 405 for a method other than POST, 413 for a body above `maxBodyBytes`. An incoming W3C trace context
 * (`traceparent`, `tracestate`) goes on as the call's metadata, and each request is timed into
 * `http.server.request.duration` (see telemetry.ts) when an OpenTelemetry SDK is registered.
 */
import { type IncomingMessage, type ServerResponse } from 'node:http';
import { type Client, Metadata, type ServiceDefinition, type ServiceError, status } from '@grpc/grpc-js';
import { assertKnownKeys, assertNumber } from '@x/core';
import { deadlineIn, decodeGrpcTimeout } from './deadlines.js';
import { httpStatusFromGrpcCode } from './http-status.js';
import { gatewayTelemetry } from './telemetry.js';

/** Options of {@link createGateway}. */
export interface GatewayOptions {
  /** A client of the service (from `loadPackageDefinition`), whose channel the gateway uses. */
  client: Client;
  /** The service definition (`Constructor.service`); unary methods are exposed. */
  service: ServiceDefinition;
  /** Deadline for requests without `Grpc-Timeout` (grpc-gateway's DefaultContextTimeout). Default: none. */
  defaultTimeoutMs?: number;
  /** Largest request body accepted. Default 4 MiB (gRPC's default receive limit). */
  maxBodyBytes?: number;
  /**
   * Request headers forwarded as gRPC metadata. Default: `authorization`, the W3C trace context (`traceparent`,
   * `tracestate`) and any `grpc-metadata-*` (prefix removed).
   */
  forwardHeader?: (name: string) => string | undefined;
}

type UnaryMethod = (request: unknown, metadata: Metadata, options: { deadline?: number }, callback: (error: ServiceError | null, reply?: unknown) => void) => {
  cancel(): void;
};

/** Headers that go on under their own name: credentials, and the trace context the server's spans continue. */
const FORWARDED_AS_IS = new Set(['authorization', 'traceparent', 'tracestate']);

const defaultForward = (name: string): string | undefined =>
  FORWARDED_AS_IS.has(name) ? name : name.startsWith('grpc-metadata-') ? name.slice('grpc-metadata-'.length) : undefined;

function toJson(value: unknown): string {
  // protojson writes bytes as base64.
  return JSON.stringify(value, (_key, item: unknown) => (item instanceof Uint8Array ? Buffer.from(item).toString('base64') : item));
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

/**
 * An HTTP request listener that serves the unary methods of `service` as JSON.
 *
 * @example
 * ```ts
 * const gateway = createGateway({ client, service: Greeter.service, defaultTimeoutMs: 5_000 });
 * http.createServer(gateway).listen(8080);
 * // curl -d '{"name":"x"}' localhost:8080/hello.Greeter/SayHello
 * ```
 */
export function createGateway(options: GatewayOptions): (request: IncomingMessage, response: ServerResponse) => void {
  assertKnownKeys('options', options, ['client', 'service', 'defaultTimeoutMs', 'maxBodyBytes', 'forwardHeader']);
  const defaultTimeoutMs = options.defaultTimeoutMs === undefined ? undefined : assertNumber('options.defaultTimeoutMs', options.defaultTimeoutMs, { min: 1 });
  const maxBodyBytes = assertNumber('options.maxBodyBytes', options.maxBodyBytes ?? 4 * 1024 * 1024, { min: 0, integer: true });
  const forward = options.forwardHeader ?? defaultForward;
  const telemetry = gatewayTelemetry();
  const routes = new Map<string, UnaryMethod>();
  for (const [name, method] of Object.entries(options.service)) {
    if (method.requestStream || method.responseStream) continue;
    const call = (options.client as unknown as Record<string, UnaryMethod | undefined>)[name];
    if (typeof call === 'function') routes.set(method.path, call.bind(options.client) as UnaryMethod);
  }

  return (request, response) => {
    const path = (request.url ?? '').split('?')[0]!;
    const method = routes.get(path);
    // Timed to the response's end (or the client's hang-up); a path that is no method counts under no route.
    telemetry?.time(request.method ?? 'UNKNOWN', method === undefined ? undefined : path, response);
    if (method === undefined) return sendError(response, status.NOT_FOUND, `no unary method at ${path}`);
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      return sendError(response, status.UNIMPLEMENTED, `use POST for ${path}`, 405);
    }
    let deadline: number | undefined;
    const timeoutHeader = request.headers['grpc-timeout'];
    try {
      const timeoutMs = typeof timeoutHeader === 'string' ? decodeGrpcTimeout(timeoutHeader) : defaultTimeoutMs;
      deadline = timeoutMs === undefined ? undefined : deadlineIn(timeoutMs);
    } catch (error) {
      return sendError(response, status.INVALID_ARGUMENT, (error as Error).message);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        // Answer at once and drop the rest unread; the connection is not reused after an unread body.
        if (!response.headersSent) response.setHeader('connection', 'close');
        sendError(response, status.RESOURCE_EXHAUSTED, `request body above ${maxBodyBytes} bytes`, 413);
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (response.headersSent || size > maxBodyBytes) return;
      let message: unknown;
      try {
        message = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendError(response, status.INVALID_ARGUMENT, 'the request body is not JSON');
      }
      if (typeof message !== 'object' || message === null || Array.isArray(message)) {
        return sendError(response, status.INVALID_ARGUMENT, 'the request body must be a JSON object');
      }
      const metadata = new Metadata();
      for (const [name, value] of Object.entries(request.headers)) {
        const key = forward(name);
        if (key === undefined || typeof value !== 'string') continue;
        try {
          // grpc-js throws on what metadata cannot carry: an illegal key, a non-ASCII value, a '-bin' key
          // given as text. That is the client's mistake: 400, never an exception out of the request handler.
          metadata.set(key, key.endsWith('-bin') ? Buffer.from(value, 'base64') : value);
        } catch (error) {
          return sendError(response, status.INVALID_ARGUMENT, `header ${name} cannot be gRPC metadata: ${(error as Error).message}`);
        }
      }
      const call = method(message, metadata, deadline === undefined ? {} : { deadline }, (error, reply) => {
        response.off('close', onClose);
        if (error !== null) return sendError(response, error.code ?? status.UNKNOWN, error.details || error.message);
        send(response, 200, reply ?? {});
      });
      // The HTTP client went away before the answer: cancel the gRPC call (RST_STREAM CANCEL) instead of
      // letting the server work for nobody.
      const onClose = (): void => {
        if (!response.writableFinished) call.cancel();
      };
      response.on('close', onClose);
    });
  };
}
