/** Calls through a grpc-js client's channel (the `client` option): grpc-js's name resolution, balancing and credentials. */
import { type Client, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { CallListener, CallStatus, RequestMetadata, ResponseMetadata, Upstream, UpstreamCall, UpstreamCallOptions } from './upstream.js';

/** Buffers in and out as they are: the gateway encodes and decodes with its own descriptors. */
const asIs = (buffer: Buffer): Buffer => buffer;

export class GrpcJsUpstream implements Upstream {
  constructor(private readonly client: Client) {}

  call(options: UpstreamCallOptions, listener: CallListener): UpstreamCall {
    const metadata = toMetadata(options.metadata);
    const callOptions = options.deadline === undefined ? {} : { deadline: options.deadline };
    return options.serverStreaming ? this.stream(options, metadata, callOptions, listener) : this.unary(options, metadata, callOptions, listener);
  }

  /** The caller's client: closing it is the caller's business. */
  close(): void {}

  private unary(options: UpstreamCallOptions, metadata: Metadata, callOptions: { deadline?: number }, listener: CallListener): UpstreamCall {
    // grpc-js calls back with the reply, then emits the status (with the trailers): the listener hears the reply
    // first and the status once both are in.
    let error: ServiceError | null | undefined;
    let trailers: Metadata | undefined;
    const finish = (): void => {
      if (error === undefined || trailers === undefined) return;
      listener.onStatus(error === null ? { code: status.OK, details: '', trailers: fromMetadata(trailers) } : statusOf(error, trailers));
    };
    const call = this.client.makeUnaryRequest(options.path, asIs, asIs, options.message, metadata, callOptions, (failure: ServiceError | null, reply?: Buffer) => {
      if (failure === null) listener.onMessage(reply ?? Buffer.alloc(0));
      error = failure;
      finish();
    });
    call.on('metadata', (headers: Metadata) => listener.onHeaders(fromMetadata(headers)));
    call.on('status', (callStatus: { metadata: Metadata }) => {
      trailers = callStatus.metadata;
      finish();
    });
    return { cancel: () => call.cancel(), resume: () => undefined };
  }

  private stream(options: UpstreamCallOptions, metadata: Metadata, callOptions: { deadline?: number }, listener: CallListener): UpstreamCall {
    const call = this.client.makeServerStreamRequest(options.path, asIs, asIs, options.message, metadata, callOptions);
    call.on('metadata', (headers: Metadata) => listener.onHeaders(fromMetadata(headers)));
    // A full reader pauses the call: grpc-js stops reading from the connection, and HTTP/2 flow control holds the
    // server back.
    call.on('data', (reply: Buffer) => {
      if (!listener.onMessage(reply)) call.pause();
    });
    call.on('error', (error: ServiceError) => listener.onStatus(statusOf(error, error.metadata)));
    // An OK status comes as soon as the server's stream ended, possibly before a paused reader has had every
    // reply: the listener hears it after 'end'.
    let ended = false;
    let trailers: Metadata | undefined;
    const finish = (): void => {
      if (ended && trailers !== undefined) listener.onStatus({ code: status.OK, details: '', trailers: fromMetadata(trailers) });
    };
    call.on('status', (callStatus: { code: number; metadata: Metadata }) => {
      if (callStatus.code !== status.OK) return;
      trailers = callStatus.metadata;
      finish();
    });
    call.on('end', () => {
      ended = true;
      finish();
    });
    return { cancel: () => call.cancel(), resume: () => call.resume() };
  }
}

function statusOf(error: ServiceError, trailers: Metadata | undefined): CallStatus {
  const [details] = trailers?.get('grpc-status-details-bin') ?? [];
  return {
    code: error.code ?? status.UNKNOWN,
    details: error.details || error.message,
    trailers: trailers === undefined ? new Map() : fromMetadata(trailers),
    ...(Buffer.isBuffer(details) ? { statusDetails: details } : {}),
  };
}

function toMetadata(entries: RequestMetadata): Metadata {
  const metadata = new Metadata();
  for (const [key, value] of entries) metadata.add(key, value);
  return metadata;
}

function fromMetadata(metadata: Metadata): ResponseMetadata {
  const map = new Map<string, string[]>();
  for (const [key, values] of Object.entries(metadata.toJSON())) map.set(key, values.map((value) => (Buffer.isBuffer(value) ? value.toString('base64') : value)));
  return map;
}
