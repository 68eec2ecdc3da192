/**
 * One accepted (or connected) TCP socket as a handler sees it. The reactor owns the fd; the connection holds
 * its state and forwards writes and closes to the reactor, which batches them into as few system calls as it
 * can.
 */
import { fstatSync, openSync } from 'node:fs';
import { InvalidArgumentError, assertNumber } from '@x/core';
import { SocketStateError } from './errors.js';
import { type SocketAddress, decodeAddress } from './libc/address.js';
import { getIntOption, peerAddress } from './libc/sockets.js';
import { type Connection, type ConnectionState } from './handler.js';
import { Outbound } from './outbound.js';

/** What a connection needs from the reactor that owns it. */
export interface ConnectionOwner {
  readonly id: number;
  queued(connection: ReactorConnection): void;
  endConnection(connection: ReactorConnection): void;
  destroyConnection(connection: ReactorConnection, error?: Error): void;
}


/** A TCP connection served by an epoll reactor (see {@link Connection} for the contract). */
export class ReactorConnection implements Connection {
  /** Free for the handler: per-connection state (a decoder, a session). */
  data: unknown = undefined;
  /** Set when the reactor stops reading because the outbound queue is above the high-water mark. */
  readPaused = false;
  /** True once the peer finished sending (read returned 0). */
  readEnded = false;
  /** The epoll interest the reactor last registered. */
  interest = 0;
  /** The reactor's clock reading of the last read or write. */
  lastActive = 0;
  /** True once the reactor shut the write side down (after end() and a complete flush). */
  writeShut = false;
  /** Set by the reactor while this connection is in the dirty list. */
  dirty = false;
  private currentState: ConnectionState = 'open';
  private peer: SocketAddress | undefined;
  /** The peer's sockaddr as accept(2) gave it, decoded on first use; undefined for an adopted fd. */
  private peerSockaddr: Buffer | undefined;
  /** @internal */
  readonly outbound = new Outbound();

  constructor(
    /** The socket's file descriptor (the reactor's table index). */
    readonly fd: number,
    private readonly owner: ConnectionOwner,
    /** The CPU the reactor thread ran on when it accepted this connection. */
    readonly cpu: number,
    private readonly highWaterMark: number,
  ) {}

  /** Id of the reactor serving this connection. */
  get reactorId(): number {
    return this.owner.id;
  }

  get state(): ConnectionState {
    return this.currentState;
  }

  /** True once closed (by either side, an error or the reactor). */
  get isClosed(): boolean {
    return this.currentState === 'closed';
  }

  /**
   * The peer's address, as accepted: it stays readable after the connection closed (in `onClose`, after an
   * `await`). For an adopted fd, read once with getpeername while open, then cached.
   */
  get remoteAddress(): SocketAddress {
    if (this.peer !== undefined) return this.peer;
    if (this.peerSockaddr !== undefined) this.peer = decodeAddress(this.peerSockaddr);
    else if (this.currentState === 'closed') throw new SocketStateError('remoteAddress of an adopted connection first read after it closed');
    else this.peer = peerAddress(this.fd);
    return this.peer;
  }

  /** @internal The reactor gives the sockaddr accept(2) returned. */
  acceptedFrom(sockaddr: Buffer): void {
    this.peerSockaddr = sockaddr;
  }

  /** The CPU whose network softirq last handled this socket's packets (SO_INCOMING_CPU), or -1 if unknown. */
  get incomingCpu(): number {
    return this.currentState === 'closed' ? -1 : getIntOption(this.fd, 'SO_INCOMING_CPU');
  }

  /** Bytes (and file bytes) queued but not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.outbound.bytes;
  }

  /** False while the queue is at or above the high-water mark: stop writing until `onDrain`. */
  get writable(): boolean {
    return this.currentState === 'open' && this.outbound.bytes < this.highWaterMark;
  }

  /**
   * Queues `bytes`; the reactor writes them at the end of this handler call (several writes become one writev).
   * Do not modify `bytes` afterwards. Returns {@link writable}; on a closed connection writes nothing and
   * returns false (its `onClose` has run or is about to).
   */
  write(bytes: Uint8Array): boolean {
    if (this.currentState === 'closed') return false;
    if (this.currentState === 'ending') throw new SocketStateError(`write after end() on connection ${this.fd}`);
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', bytes, 'a Uint8Array or Buffer');
    if (bytes.byteLength === 0) return this.writable;
    this.outbound.push(bytes);
    this.owner.queued(this);
    return this.writable;
  }

  /**
   * Queues `length` bytes of a file from `offset` to be sent with sendfile(2): the bytes never enter JavaScript.
   * `file` is a path (opened now, closed when sent) or an fd the caller keeps owning. A file shorter than the
   * range ends the transfer early.
   */
  sendFile(file: string | number, offset = 0, length?: number): boolean {
    if (this.currentState !== 'open') throw new SocketStateError(`sendFile on a connection that is ${this.currentState}`);
    assertNumber('offset', offset, { min: 0, integer: true });
    if (length !== undefined) assertNumber('length', length, { min: 0, integer: true });
    const ownsFd = typeof file === 'string';
    // A descriptor is an int: past 2^31-1, fs would throw its own RangeError.
    const fileFd = typeof file === 'string' ? openSync(file, 'r') : assertNumber('file', file, { min: 0, max: 2 ** 31 - 1, integer: true });
    const size = length ?? Math.max(0, fstatSync(fileFd).size - offset);
    const position = Buffer.alloc(8);
    position.writeBigInt64LE(BigInt(offset), 0);
    this.outbound.push({ fileFd, offset: position, remaining: size, ownsFd });
    this.owner.queued(this);
    return this.writable;
  }

  /** Sends what is queued (and `bytes`), then closes the write side; the connection closes once the peer ends too. */
  end(bytes?: Uint8Array): void {
    // end() again is a no-op, but bytes given with it would be lost silently: refused as a write after end() is.
    if (this.currentState === 'ending' && bytes !== undefined) throw new SocketStateError('end(bytes) after end() on a connection');
    if (this.currentState !== 'open') return;
    if (bytes !== undefined) this.write(bytes);
    this.currentState = 'ending';
    this.owner.endConnection(this);
  }

  /** Closes at once, dropping anything queued. `onClose` receives `error` if given. */
  close(error?: Error): void {
    if (this.currentState === 'closed') return;
    this.owner.destroyConnection(this, error);
  }

  /** @internal the reactor marks the connection closed before calling `onClose`. */
  markClosed(): void {
    this.currentState = 'closed';
  }
}
