/**
 * Calls over the gateway's own HTTP/2 connection to one gRPC server (the `address` option), framed as gRPC's
 * HTTP/2 protocol says (PROTOCOL-HTTP2.md). A unary call is one request with its headers, one DATA frame and a
 * status in the trailers: grpc-js wraps the same call in a channel, a load balancer, interceptors and a retry
 * layer, which costs the gateway about as much CPU per call as the HTTP request that asked for it.
 *
 * One connection, made on the first call and made again after it closes, fails or is told to go away (GOAWAY:
 * calls in flight finish on it, new ones go to a new connection). While a connection cannot be made, calls fail
 * at once with UNAVAILABLE until a backoff has passed, instead of each trying again.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type SecureClientSessionOptions, connect, constants } from 'node:http2';
import { status } from '@grpc/grpc-js';
import { exponentialBackoff } from '@x/core';
import { encodeGrpcTimeout } from '@x/grpc-keepalive';
import type { CallListener, CallStatus, ResponseMetadata, Upstream, UpstreamCall, UpstreamCallOptions } from './upstream.js';

/** The largest reply accepted, as grpc-js's default receive limit: a larger one fails the call with RESOURCE_EXHAUSTED. */
const MAX_REPLY_BYTES = 4 * 1024 * 1024;

/** How long calls fail at once after a connection attempt failed, by failures in a row (0.1 s doubling to 5 s). */
const RECONNECT = exponentialBackoff({ initial: 100, max: 5_000 });

/** HTTP/2 error codes of a reset stream, as gRPC status codes (PROTOCOL-HTTP2.md, "Errors"). */
const RST_STATUS: Record<number, number> = {
  [constants.NGHTTP2_REFUSED_STREAM]: status.UNAVAILABLE,
  [constants.NGHTTP2_CANCEL]: status.CANCELLED,
  [constants.NGHTTP2_ENHANCE_YOUR_CALM]: status.RESOURCE_EXHAUSTED,
  [constants.NGHTTP2_INADEQUATE_SECURITY]: status.PERMISSION_DENIED,
};

/** An HTTP status without a gRPC one, as a gRPC status code (http-grpc-status-mapping.md). */
function statusOfHttp(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

export class Http2Upstream implements Upstream {
  private session: ClientHttp2Session | undefined;
  /** Failed connection attempts in a row, and until when calls fail at once (a backoff after the last). */
  private failedConnects = 0;
  private retryAt = 0;
  private lastFailure = '';
  private closed = false;

  constructor(
    /** `http://host:port` or `https://host:port`. */
    private readonly address: string,
    private readonly tls: SecureClientSessionOptions | undefined,
  ) {}

  call(options: UpstreamCallOptions, listener: CallListener): UpstreamCall {
    const headers: Record<string, string | string[]> = {
      ':method': 'POST',
      ':path': options.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-accept-encoding': 'identity',
    };
    let timeoutMs: number | undefined;
    if (options.deadline !== undefined && Number.isFinite(options.deadline)) {
      timeoutMs = options.deadline - Date.now();
      if (timeoutMs <= 0) return failed(listener, status.DEADLINE_EXCEEDED, 'the deadline passed before the call started');
      headers['grpc-timeout'] = encodeGrpcTimeout(timeoutMs);
    }
    for (const [key, value] of options.metadata) {
      const text = typeof value === 'string' ? value : value.toString('base64');
      const present = headers[key];
      headers[key] = present === undefined ? text : Array.isArray(present) ? [...present, text] : [present, text];
    }
    const framed = frame(options.message);
    // Each attempt on the connection of the moment: a stream the server refused unprocessed goes again (below).
    const start = (): ClientHttp2Stream | string => {
      const now = this.sessionNow();
      if (typeof now === 'string') return now;
      try {
        const stream = now.request(headers);
        stream.end(framed);
        return stream;
      } catch (error) {
        // Out of stream ids, or the session closed under us: the next call gets a new connection.
        this.drop(now);
        return `the connection to ${this.address} cannot take a call: ${(error as Error).message}`;
      }
    };
    const stream = start();
    if (typeof stream === 'string') return failed(listener, status.UNAVAILABLE, stream);
    return new Http2Call(stream, start, options.serverStreaming, listener, timeoutMs);
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = undefined;
  }

  /** The connection to call on, or why there is none now. */
  private sessionNow(): ClientHttp2Session | string {
    if (this.closed) return 'the gateway is closed';
    const current = this.session;
    if (current !== undefined && !current.closed && !current.destroyed) return current;
    if (Date.now() < this.retryAt) return `no connection to ${this.address}: ${this.lastFailure} (trying again in ${this.retryAt - Date.now()} ms)`;
    const session = connect(this.address, { ...this.tls, settings: { enablePush: false } });
    // Calls keep the process alive through their HTTP requests; an idle connection must not.
    session.unref();
    // A connection counts as made once the server's HTTP/2 settings came: a TCP or TLS connection to something
    // that is not an HTTP/2 server (an HTTP/1.1 port, TLS behind an http:// address) fails like a refused one,
    // and backs off like one.
    let spoke = false;
    let failure: string | undefined;
    session.once('remoteSettings', () => {
      spoke = true;
      this.failedConnects = 0;
    });
    session.on('error', (error: Error) => {
      failure = error.message;
      this.drop(session);
    });
    session.on('goaway', () => this.drop(session));
    session.on('close', () => {
      if (!spoke) {
        this.failedConnects++;
        this.lastFailure = failure ?? `the connection closed before HTTP/2 settings came (not an HTTP/2 server${this.address.startsWith('http:') ? ', or TLS behind an http:// address' : ''}?)`;
        this.retryAt = Date.now() + RECONNECT.delay(this.failedConnects);
      }
      this.drop(session);
    });
    this.session = session;
    return session;
  }

  /** New calls go to a new connection; this one finishes what it carries. */
  private drop(session: ClientHttp2Session): void {
    if (this.session === session) this.session = undefined;
    if (!session.closed && !session.destroyed) session.close();
  }
}

/** A gRPC message: a 5-byte prefix (uncompressed, length) and the message. */
function frame(message: Buffer): Buffer {
  const framed = Buffer.allocUnsafe(5 + message.length);
  framed[0] = 0;
  framed.writeUInt32BE(message.length, 1);
  message.copy(framed, 5);
  return framed;
}

/** A call that fails before it starts, reported on the next tick (as a started call would). */
function failed(listener: CallListener, code: number, details: string): UpstreamCall {
  const timer = setImmediate(() => listener.onStatus({ code, details, trailers: new Map() }));
  return { cancel: () => clearImmediate(timer), resume: () => undefined };
}

/** A call starts again at most this often when the server refuses its stream unprocessed. */
const MAX_REFUSALS = 3;

/**
 * One call on a stream: its replies cut out of the DATA frames, its status from the trailers. A stream the server
 * refused before processing it (RST_STREAM REFUSED_STREAM: sent before the client knew the server's limit on
 * concurrent streams, or above the last stream a GOAWAY let through) starts again, as gRPC's transparent retry
 * allows: the server never saw it.
 */
class Http2Call implements UpstreamCall {
  /** Bytes received and not yet cut into replies, and how many the next cut needs (a prefix, then its message). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private needed = 5;
  private replies = 0;
  private headersSeen = false;
  private status: CallStatus | undefined;
  private ended = false;
  private error: Error | undefined;
  private refusals = 0;
  private stream!: ClientHttp2Stream;
  /** The stream's connection (a closed stream no longer says). */
  private session: ClientHttp2Session | undefined;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    stream: ClientHttp2Stream,
    private readonly restart: () => ClientHttp2Stream | string,
    private readonly serverStreaming: boolean,
    private readonly listener: CallListener,
    timeoutMs: number | undefined,
  ) {
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => this.fail(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), timeoutMs);
      this.timer.unref();
    }
    this.attach(stream);
  }

  private attach(stream: ClientHttp2Stream): void {
    this.stream = stream;
    this.session = stream.session as ClientHttp2Session | undefined;
    this.error = undefined;
    // Events of a stream this call has left (refused, then started again) are not this call's any more.
    const current = (): boolean => this.stream === stream;
    stream.on('response', (headers: IncomingHttpHeaders) => current() && this.onResponse(headers));
    stream.on('data', (chunk: Buffer) => current() && this.onData(chunk));
    stream.on('trailers', (trailers: IncomingHttpHeaders) => {
      if (current()) this.status ??= statusOf(trailers, 200);
    });
    // 'error' comes with a reset or a connection's failure; 'close' follows it and every other ending.
    stream.on('error', (error: Error) => {
      if (current()) this.error = error;
    });
    stream.on('close', () => current() && this.onClose());
  }

  cancel(): void {
    this.fail(status.CANCELLED, 'Cancelled on client');
  }

  resume(): void {
    this.stream.resume();
  }

  private onResponse(headers: IncomingHttpHeaders): void {
    const httpStatus = Number(headers[':status']);
    // A trailers-only response (an error without replies) carries its status in these headers.
    if (headers['grpc-status'] !== undefined) {
      this.status = statusOf(headers, httpStatus);
      return;
    }
    if (httpStatus !== 200) return this.fail(statusOfHttp(httpStatus), `the server answered HTTP ${httpStatus}`);
    const contentType = headers['content-type'];
    if (typeof contentType !== 'string' || !contentType.startsWith('application/grpc')) return this.fail(status.UNKNOWN, `the server answered content-type ${String(contentType)}, not application/grpc`);
    this.headersSeen = true;
    this.listener.onHeaders(metadataOf(headers));
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A large reply comes in many DATA frames: joined once it is all here, not once per frame.
    if (this.pendingBytes < this.needed) return;
    let data = this.pending.length === 1 ? chunk : Buffer.concat(this.pending, this.pendingBytes);
    while (data.length >= 5) {
      const compressed = data[0]!;
      const length = data.readUInt32BE(1);
      if (compressed !== 0) return this.fail(status.INTERNAL, 'the server sent a compressed reply, which was not asked for (grpc-accept-encoding: identity)');
      if (length > MAX_REPLY_BYTES) return this.fail(status.RESOURCE_EXHAUSTED, `a reply of ${length} bytes is above the gateway's ${MAX_REPLY_BYTES}`);
      if (data.length < 5 + length) break;
      const message = data.subarray(5, 5 + length);
      data = data.subarray(5 + length);
      if (++this.replies > 1 && !this.serverStreaming) return this.fail(status.INTERNAL, 'the server sent more than one reply to a unary call');
      if (!this.listener.onMessage(message)) this.stream.pause();
      if (this.ended) return;
    }
    this.pending = data.length === 0 ? [] : [data];
    this.pendingBytes = data.length;
    this.needed = data.length >= 5 ? 5 + data.readUInt32BE(1) : 5;
  }

  private onClose(): void {
    if (this.ended) return;
    if (this.status !== undefined) {
      if (this.status.code === status.OK && this.pendingBytes > 0) return this.fail(status.INTERNAL, 'the server ended the call inside a reply');
      if (this.status.code === status.OK && !this.serverStreaming && this.replies === 0) return this.fail(status.UNIMPLEMENTED, 'the server sent no reply to a unary call');
      return this.end(this.status);
    }
    const code = this.stream.rstCode;
    if (code === constants.NGHTTP2_REFUSED_STREAM && !this.headersSeen && this.refusals < MAX_REFUSALS) {
      this.refusals++;
      const again = this.restart();
      if (typeof again !== 'string') return this.attach(again);
    }
    // The server reset the stream: its code says why. Anything else that ends a stream without a status is the
    // connection's failure (refused, reset, gone away).
    if ((this.error as { code?: string } | undefined)?.code === 'ERR_HTTP2_STREAM_ERROR' && code !== undefined && code !== constants.NGHTTP2_NO_ERROR) {
      return this.fail(RST_STATUS[code] ?? status.INTERNAL, `the server reset the stream (HTTP/2 error ${code})`);
    }
    if (this.error !== undefined) return this.fail(status.UNAVAILABLE, `the connection failed: ${this.error.message}`);
    // A connection that went away mid-call (a server killed) is UNAVAILABLE, as grpc-js says it, and may be retried;
    // a server that ended the stream itself without a status broke the protocol (INTERNAL).
    if (!this.headersSeen || this.session === undefined || this.session.destroyed) {
      return this.fail(status.UNAVAILABLE, this.headersSeen ? 'the connection was lost during the call' : 'the connection closed before the server answered');
    }
    this.fail(status.INTERNAL, 'the server ended the call without a status');
  }

  /** Ends the call with `code` here (the stream reset with CANCEL if still open). */
  private fail(code: number, details: string): void {
    if (this.ended) return;
    if (!this.stream.closed) this.stream.close(constants.NGHTTP2_CANCEL);
    this.end({ code, details, trailers: new Map() });
  }

  private end(callStatus: CallStatus): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.pending = [];
    this.listener.onStatus(callStatus);
  }
}

/** The highest gRPC status code; a higher one is UNKNOWN, as gRPC's clients read it. */
const MAX_STATUS = status.UNAUTHENTICATED;

function statusOf(headers: IncomingHttpHeaders, httpStatus: number): CallStatus {
  const raw = headers['grpc-status'];
  const sent = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : undefined;
  const code = sent === undefined ? (httpStatus === 200 ? status.UNKNOWN : statusOfHttp(httpStatus)) : sent <= MAX_STATUS ? sent : status.UNKNOWN;
  const message = headers['grpc-message'];
  const details = headers['grpc-status-details-bin'];
  const text = typeof message === 'string' ? percentDecoded(message) : typeof raw === 'string' ? '' : `the server answered HTTP ${httpStatus} without a gRPC status`;
  return {
    code,
    details: sent !== undefined && sent > MAX_STATUS ? `${text} (status ${sent}, which gRPC does not define)`.trimStart() : text,
    trailers: metadataOf(headers),
    ...(typeof details === 'string' ? { statusDetails: Buffer.from(details, 'base64') } : {}),
  };
}

/** grpc-message is percent-encoded UTF-8: each run of escapes is decoded, and one that is not UTF-8 kept as sent. */
function percentDecoded(text: string): string {
  return text.replace(/(?:%[0-9A-Fa-f]{2})+/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** The headers or trailers as metadata (HTTP/2's and gRPC's own keys are left out where they become headers). */
function metadataOf(headers: IncomingHttpHeaders): ResponseMetadata {
  const map = new Map<string, string[]>();
  for (const [key, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    map.set(key, Array.isArray(value) ? value : [value]);
  }
  return map;
}
