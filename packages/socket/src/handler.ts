/** The callbacks a reactor calls for each connection, and the connection they receive. */
import { type SocketAddress } from './libc/address.js';

/** A connection's life: open → (ending: end() called, flushing) → closed. */
export type ConnectionState = 'open' | 'ending' | 'closed';

/**
 * A TCP connection as a handler sees it, served by an epoll reactor or, with `transport: 'node:net'`, by a
 * node:net socket.
 *
 * @example
 * ```ts
 * export const handler: Handler = {
 *   onData(conn, bytes) {
 *     if (!conn.write(bytes)) console.log('peer is slow; reading pauses until it drains');
 *   },
 * };
 * ```
 */
export interface Connection {
  /** Free for the handler: per-connection state (a decoder, a session). */
  data: unknown;
  /** The socket's file descriptor; -1 under node:net. */
  readonly fd: number;
  /** Id of the reactor serving this connection (0 under node:net). */
  readonly reactorId: number;
  /** The CPU the reactor thread ran on when it accepted this connection; -1 under node:net. */
  readonly cpu: number;
  readonly state: ConnectionState;
  /** True once closed (by either side, an error or the server). */
  readonly isClosed: boolean;
  /** The peer's address. */
  readonly remoteAddress: SocketAddress;
  /** The CPU whose network softirq last handled this socket's packets (SO_INCOMING_CPU), or -1 if unknown. */
  readonly incomingCpu: number;
  /** Bytes (and file bytes) queued but not yet taken by the kernel. */
  readonly bufferedBytes: number;
  /** False while the queue is at or above the high-water mark: stop writing until `onDrain`. */
  readonly writable: boolean;
  /**
   * Queues `bytes`, written at the end of this handler call (several writes become one writev). Do not modify
   * `bytes` afterwards. Returns {@link writable}; on a closed connection writes nothing and returns false.
   * Throws `SocketStateError` after `end()`, `InvalidArgumentError` for something that is not bytes.
   */
  write(bytes: Uint8Array): boolean;
  /**
   * Queues `length` bytes of a file from `offset`, sent with sendfile(2) (the bytes never enter JavaScript), in
   * order with the writes around it. `file` is a path (opened now, closed when sent) or an fd you keep owning.
   */
  sendFile(file: string | number, offset?: number, length?: number): boolean;
  /**
   * Sends what is queued (and `bytes`), then closes the write side (again: nothing; with bytes: SocketStateError); the connection closes once the peer ends too
   * (or at a shutdown's grace deadline, or its idle timeout). From then on `onData` is no longer called: what the
   * peer still sends is read and dropped (counted in `bytesDiscarded`), so that the close does not reset the
   * connection and cost the peer the replies still on their way; the peer learns from the end of its stream that
   * nothing more will be answered.
   */
  end(bytes?: Uint8Array): void;
  /** Closes at once, dropping anything queued. `onClose` receives `error` if given. */
  close(error?: Error): void;
}

/**
 * What a server does with its connections. Every callback runs on the reactor thread that owns the
 * connection; a callback that throws closes only that connection (its `onClose` gets the error).
 *
 * @example
 * ```ts
 * // echo-handler.js, loaded by each reactor thread
 * exports.handler = { onData: (conn, bytes) => conn.write(bytes) };
 * ```
 */
export interface Handler {
  /** A connection was accepted. */
  onOpen?(connection: Connection): void;
  /**
   * Bytes arrived. `bytes` is a view of the reactor's read memory: valid only until this call returns, so copy
   * what you keep. Writing it (or a slice of it) with `connection.write` is fine and costs no copy: the reactor
   * keeps that memory unused until the bytes are sent, or copies them if they are still queued when it needs it.
   */
  onData(connection: Connection, bytes: Buffer): void;
  /** The peer finished sending (half-close). Default: `connection.end()` once queued bytes are sent. */
  onEnd?(connection: Connection): void;
  /** The outbound queue fell below the low-water mark after having reached the high-water mark. */
  onDrain?(connection: Connection): void;
  /**
   * The server is shutting down gracefully. Default: `connection.end()`: replies already queued go out, bytes
   * that arrive afterwards are dropped, and the connection closes when the peer ends (or at the grace deadline).
   */
  onShutdown?(connection: Connection): void;
  /** The connection is closed; `error` says why when it was not a clean close. */
  onClose?(connection: Connection, error?: Error): void;
}

/** Passed to a handler module's `createHandler`: which reactor it runs in. */
export interface HandlerContext {
  /** 0 .. reactors-1. */
  reactorId: number;
  /** The CPU the reactor was pinned to, or undefined when not pinned. */
  pinnedCpu: number | undefined;
  /** `handlerOptions` given to `createServer` (structured-cloned into the thread). */
  options: unknown;
}

/**
 * What a handler module exports: `handler` (one object for all connections) or `createHandler(context)`
 * (called once per reactor), as named exports or on `default`.
 */
export interface HandlerModule {
  handler?: Handler;
  createHandler?(context: HandlerContext): Handler;
}
