/** What a UDP server does with its datagrams, and what it is given to answer them. */
import { type SocketAddress } from './libc/address.js';
import { type HandlerContext } from './handler.js';
import { type UdpPeer } from './udp-peer.js';

/** The reactor's socket, as a UDP handler sees it. */
export interface UdpSocket {
  /** The reactor this socket belongs to: 0 .. reactors-1. */
  readonly reactorId: number;
  /** The address the socket is bound to. */
  readonly address: SocketAddress;
  /**
   * Queues one datagram to `to`. Datagrams queued while a batch is handled go out together, in one
   * sendmmsg(2), once the batch ends. The bytes are copied: `bytes` may be the datagram you were given.
   *
   * `bytes`: a Buffer, any typed array or DataView (its bytes), or an ArrayBuffer / SharedArrayBuffer. `to`: a
   * UdpPeer, or `{ host, port }` with an IP literal (e.g. a stored `from.toJSON()`); port 0 is refused.
   *
   * Returns false, and drops the datagram (counted in `sendDropped`), when the send queue is full: the kernel's
   * socket buffer took nothing for a while, and UDP drops rather than buffers without bound. Throws
   * InvalidArgumentError for anything else given, a datagram larger than UDP allows (65,507 bytes over IPv4,
   * 65,527 over IPv6), or a peer of a family this socket cannot reach (an IPv4 socket and an IPv6 peer; an IPv6
   * socket reaches IPv4 peers as `::ffff:a.b.c.d`).
   */
  send(bytes: ArrayBufferView | ArrayBufferLike, to: UdpPeer | { host: string; port: number }): boolean;
  /**
   * Queues `bytes` as consecutive datagrams of `segmentSize` bytes each (the last may be shorter), handed to the
   * kernel as one buffer that it cuts (UDP generic segmentation offload, UDP_SEGMENT, Linux 4.18+): one pass
   * through the network stack for up to 64 datagrams. `bytes` is at most 65,507 bytes (65,527 on an IPv6
   * socket), and `segmentSize` plus
   * the IP and UDP headers must fit the path's MTU (else the kernel refuses it: counted in `sendErrors`).
   * Returns false and drops it all when the send queue is full, as `send` does.
   */
  sendSegments(bytes: ArrayBufferView | ArrayBufferLike, segmentSize: number, to: UdpPeer | { host: string; port: number }): boolean;
}

/**
 * What a UDP server does with its datagrams. Every callback runs on the reactor thread that received them.
 *
 * @example
 * ```ts
 * // udp-echo.js, loaded by each reactor thread
 * exports.handler = { onMessage: (socket, bytes, from) => socket.send(bytes, from) };
 * ```
 */
export interface UdpHandler {
  /**
   * The reactor starts serving its bound socket: keep the socket to send from timers or other events of the
   * reactor's thread. An error thrown here is counted and given to `onError` like one of `onMessage`.
   */
  onListening?(socket: UdpSocket): void;
  /**
   * A datagram arrived. `bytes` is a view of the reactor's receive memory, valid only until this call returns:
   * copy what you keep. `from` is yours to keep. A datagram longer than `maxMessageSize` is not delivered (it
   * is counted in `truncated`).
   */
  onMessage(socket: UdpSocket, bytes: Buffer, from: UdpPeer): void;
  /**
   * `onMessage` threw (or the promise it returned rejected) for the datagram from `from`. The reactor goes on
   * with the next datagram either way (and counts `handlerErrors`); without this callback the error is not
   * reported anywhere else. Under `createUdpServer`, an error thrown by other code of the reactor's thread (a
   * timer, an event) is counted and given here too, with `from` undefined.
   */
  onError?(socket: UdpSocket, error: unknown, from: UdpPeer | undefined): void;
}

/**
 * What a UDP handler module exports: `handler` (one object for the whole server) or `createHandler(context)`
 * (called once per reactor), as named exports or on `default`.
 */
export interface UdpHandlerModule {
  handler?: UdpHandler;
  createHandler?(context: HandlerContext): UdpHandler;
}
