/** The callbacks a reactor calls for each connection. */
import { type Connection } from './connection.js';

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
   * Bytes arrived. `bytes` is a view of the reactor's read buffer: valid only until this call returns, so copy
   * what you keep (writing it back with `connection.write` is fine: the reactor copies what it cannot send at once).
   */
  onData(connection: Connection, bytes: Buffer): void;
  /** The peer finished sending (half-close). Default: `connection.end()` once queued bytes are sent. */
  onEnd?(connection: Connection): void;
  /** The outbound queue fell below the low-water mark after having reached the high-water mark. */
  onDrain?(connection: Connection): void;
  /** The server is shutting down gracefully. Default: `connection.end()`. */
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
