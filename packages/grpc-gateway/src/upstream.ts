/**
 * What the gateway needs from the connection to the gRPC server: start a call with an encoded request, hear its
 * headers, its replies and its status, pause it, cancel it. Two kinds serve it: a grpc-js client's channel
 * (grpc-js-upstream.ts) and the gateway's own HTTP/2 connection (http2-upstream.ts).
 */

/** Request metadata: keys in lower case; `-bin` keys carry bytes. Repeated keys are repeated entries. */
export type RequestMetadata = ReadonlyArray<readonly [key: string, value: string | Buffer]>;

/** Response metadata as header texts: `-bin` values in base64, several values of a key in order. */
export type ResponseMetadata = ReadonlyMap<string, readonly string[]>;

/** How a call ended. */
export interface CallStatus {
  /** The gRPC status code (0 is OK). */
  readonly code: number;
  readonly details: string;
  /** The trailing metadata. */
  readonly trailers: ResponseMetadata;
  /** `grpc-status-details-bin`: a google.rpc.Status, when the server sent one. */
  readonly statusDetails?: Buffer;
}

/** What a call reports, in this order: headers (at most once), replies, then its status (exactly once). */
export interface CallListener {
  onHeaders(metadata: ResponseMetadata): void;
  /** One reply. Returns false when the reader is full: the call pauses until `resume()`. */
  onMessage(message: Buffer): boolean;
  onStatus(status: CallStatus): void;
}

/** A call in flight. */
export interface UpstreamCall {
  /** Cancels the call (RST_STREAM CANCEL to the server); its status is CANCELLED unless it ended first. */
  cancel(): void;
  /** Resumes reading replies after `onMessage` returned false. */
  resume(): void;
}

export interface UpstreamCallOptions {
  /** `/package.Service/Method`. */
  readonly path: string;
  /** The encoded request. */
  readonly message: Buffer;
  readonly metadata: RequestMetadata;
  /** Epoch ms by which the call must end (Infinity or undefined: none). */
  readonly deadline: number | undefined;
  /** A server stream (any number of replies); otherwise exactly one reply is expected. */
  readonly serverStreaming: boolean;
}

/** The gateway's connection to the gRPC server. */
export interface Upstream {
  call(options: UpstreamCallOptions, listener: CallListener): UpstreamCall;
  /** Ends what the gateway opened itself (its own HTTP/2 connection); a grpc-js client given to it stays the caller's. */
  close(): void;
}
