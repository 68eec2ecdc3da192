/**
 * HTTP headers to gRPC metadata and back, as grpc-gateway does: `authorization`, the W3C trace context and
 * `Grpc-Metadata-*` go on (or what `forwardHeader` says), the server's response metadata comes back as
 * `Grpc-Metadata-<key>` headers. Keys a gRPC request cannot carry are kept out: HTTP/2 forbids connection-specific
 * headers (grpc-js retried such a call in a tight loop, and the gateway stopped answering), and `grpc-*` keys
 * are gRPC's own (`grpc-timeout` would replace the deadline).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestMetadata, ResponseMetadata } from './upstream.js';

/** Connection-specific and transport headers: never metadata. */
const TRANSPORT = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'content-length', 'content-type', 'expect', 'http2-settings', 'date']);

const isReserved = (key: string): boolean => TRANSPORT.has(key) || key.startsWith('grpc-') || key.startsWith(':');

/** What gRPC allows as a metadata key, and as a text value (printable ASCII). */
const LEGAL_KEY = /^[0-9a-z_.-]+$/;
const LEGAL_TEXT = /^[ -~]*$/;

const BASE64 = /^(?:[A-Za-z0-9+/\-_]{4})*(?:[A-Za-z0-9+/\-_]{2}(?:==)?|[A-Za-z0-9+/\-_]{3}=?)?$/;

/**
 * The request's headers as the call's metadata, or why one of them cannot be (a 400). A reserved key that a
 * client asked for by name (`Grpc-Metadata-Connection`) is refused; one a `forwardHeader` that forwards everything
 * maps to is left out. Repeated headers stay separate values.
 */
export function requestMetadata(request: IncomingMessage, forward: (name: string) => string | undefined): RequestMetadata | string {
  const metadata: Array<readonly [string, string | Buffer]> = [];
  for (const [name, values] of Object.entries(request.headersDistinct)) {
    const key = forward(name)?.toLowerCase();
    if (key === undefined || values === undefined) continue;
    if (isReserved(key)) {
      if (name.startsWith('grpc-metadata-')) return `header ${name} names ${key}, which gRPC metadata cannot carry`;
      continue;
    }
    if (!LEGAL_KEY.test(key)) return `header ${name} cannot be gRPC metadata: ${JSON.stringify(key)} is not a legal metadata key`;
    const binary = key.endsWith('-bin');
    for (const value of values) {
      if (binary && !BASE64.test(value)) return `header ${name} is not base64`;
      if (!binary && !LEGAL_TEXT.test(value)) return `header ${name} cannot be gRPC metadata: its value is not printable ASCII`;
      metadata.push([key, binary ? Buffer.from(value, 'base64') : value]);
    }
  }
  return metadata;
}

/** The server's metadata that goes back to the HTTP client, as `<prefix><key>` header names and their values. */
function* asHeaders(metadata: ResponseMetadata, prefix: 'grpc-metadata-' | 'grpc-trailer-'): Generator<[string, readonly string[]]> {
  for (const [key, values] of metadata) if (!isReserved(key)) yield [`${prefix}${key}`, values];
}

/**
 * The server's metadata as headers named as grpc-gateway names them, transport and gRPC keys left out:
 * `Grpc-Metadata-<key>` for its headers, `Grpc-Trailer-<key>` for its trailers (of a unary call, whose HTTP
 * response waits for them).
 */
export function setResponseMetadata(response: ServerResponse, metadata: ResponseMetadata, prefix: 'grpc-metadata-' | 'grpc-trailer-'): void {
  if (response.headersSent) return;
  for (const [name, values] of asHeaders(metadata, prefix)) {
    try {
      response.setHeader(name, values as string[]);
    } catch {
      // A value HTTP cannot carry as a header is left out rather than fail the response.
    }
  }
}

/**
 * A server stream's trailing metadata as HTTP/1.1 trailers (`Grpc-Trailer-<key>`), for a client that said it takes
 * them (`TE: trailers`); the response's headers went out with the first message, before the trailers existed.
 */
export function addResponseTrailers(response: ServerResponse, metadata: ResponseMetadata): void {
  const trailers: Array<[string, string]> = [];
  for (const [name, values] of asHeaders(metadata, 'grpc-trailer-')) for (const value of values) trailers.push([name, value]);
  if (trailers.length === 0) return;
  try {
    response.addTrailers(trailers);
  } catch {
    // A value HTTP cannot carry is left out with the rest rather than fail the stream's end.
  }
}
