/**
 * A UDP reactor's outgoing datagrams: copied into one slab as handlers send them and handed to the kernel in
 * sendmmsg(2) calls of up to 1,024, at the end of each received batch. When the socket buffer is full, what is
 * left waits for the socket to be writable; past the queue's room further datagrams are dropped and counted,
 * as the network would drop them, so memory stays bounded whatever the handlers send.
 */
import { InvalidArgumentError } from '@x/core';
import { SyscallError } from './errors.js';
import { AF_INET6 } from './libc/address.js';
import { MAX_BATCH, MAX_SEGMENTS, MessageVector } from './libc/datagram.js';
import { addressOf } from './libc/library.js';
import { UdpPeer, mappedToIPv6, writePeer } from './udp-peer.js';

/** The largest UDP payload over IPv4 (65,535 - 8 bytes of UDP header - 20 of IP header). */
export const MAX_DATAGRAM = 65_507;
/** The largest UDP payload over IPv6 without jumbograms (65,535 - 8; the IPv6 header is not in its length). */
export const MAX_DATAGRAM_IPV6 = 65_527;

/** What a flush did, for the reactor's counters. */
export interface FlushCounts {
  sent: number;
  bytesSent: number;
  sendCalls: number;
  sendErrors: number;
}

export class UdpSendQueue {
  private readonly vector = new MessageVector(MAX_BATCH);
  private readonly slab: Buffer;
  private readonly slabAddress: number;
  /** Datagrams each queued message makes on the wire (more than 1 for a segmented send). */
  private readonly datagrams = new Int32Array(MAX_BATCH);
  /** First message not yet sent. */
  private head = 0;
  /** Messages queued (sent or not) since the queue was last empty. */
  private count = 0;
  /** Slab bytes used since the queue was last empty. */
  private used = 0;

  /** The kernel took nothing at the last try: wait for writability rather than try again on every send. */
  private blocked = false;

  constructor(
    private readonly fd: number,
    private readonly family: number,
    bytes: number,
    private readonly counts: FlushCounts,
  ) {
    this.slab = Buffer.allocUnsafeSlow(bytes);
    this.slabAddress = Number(addressOf(this.slab));
  }

  /** True when datagrams are waiting to be sent. */
  get pending(): boolean {
    return this.head < this.count;
  }

  /** True when datagrams wait and the kernel has not refused the last try: a flush now may send them. */
  get sendable(): boolean {
    return this.head < this.count && !this.blocked;
  }

  /**
   * Copies a datagram in (or, with `segmentSize`, a buffer the kernel cuts into datagrams of that many bytes);
   * false (dropped) when the queue has no room for it.
   */
  push(data: ArrayBufferView | ArrayBufferLike, to: UdpPeer | { host: string; port: number }, segmentSize = 0): boolean {
    const bytes = asBytes(data);
    const length = bytes.byteLength;
    const largest = this.family === AF_INET6 ? MAX_DATAGRAM_IPV6 : MAX_DATAGRAM;
    if (length > largest) throw new InvalidArgumentError('bytes', length, `at most ${largest} bytes (the largest UDP datagram)`);
    const datagrams = segmentSize === 0 ? 1 : Math.max(1, Math.ceil(length / segmentSize));
    if (datagrams > MAX_SEGMENTS) {
      throw new InvalidArgumentError('segmentSize', segmentSize, `at least ${Math.ceil(length / MAX_SEGMENTS)} for ${length} bytes (at most ${MAX_SEGMENTS} segments a send)`);
    }
    let peer = asPeer(to);
    if (peer.family === 'IPv6' && this.family !== AF_INET6) {
      throw new InvalidArgumentError('to', String(peer), 'an IPv4 peer (this socket is bound to an IPv4 address)');
    }
    if (peer.family === 'IPv4' && this.family === AF_INET6) peer = mappedToIPv6(peer);
    if (!this.fits(length)) {
      // Full within one batch (a handler fanning out): send what is queued now, unless the kernel is refusing.
      if (this.blocked || !this.flush() || !this.fits(length)) return false;
    }
    const index = this.count;
    this.slab.set(bytes, this.used);
    this.vector.setData(index, this.slabAddress + this.used, length);
    this.vector.setNameLength(index, writePeer(peer, this.vector.words, this.vector.nameOffset(index) >> 2));
    // A buffer that makes one datagram anyway goes as a plain send.
    this.vector.setSegmentSize(index, datagrams > 1 ? segmentSize : 0);
    this.datagrams[index] = datagrams;
    this.used += length;
    this.count++;
    return true;
  }

  /**
   * Sends what is queued. Returns true when the queue is empty, false when the kernel took no more (EAGAIN):
   * call again once the socket is writable. A datagram the kernel refuses (no route, a peer address it cannot
   * use) is dropped and counted; the rest go on.
   */
  flush(): boolean {
    const counts = this.counts;
    while (this.head < this.count) {
      let sent: number;
      counts.sendCalls++;
      try {
        sent = this.vector.send(this.fd, this.head, this.count - this.head);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        counts.sendErrors += this.datagrams[this.head]!;
        this.head++;
        continue;
      }
      if (sent < 0) {
        this.blocked = true;
        return false;
      }
      for (let i = this.head; i < this.head + sent; i++) {
        counts.bytesSent += this.vector.messageLength(i);
        counts.sent += this.datagrams[i]!;
      }
      this.head += sent;
    }
    this.head = this.count = this.used = 0;
    this.blocked = false;
    return true;
  }

  private fits(length: number): boolean {
    return this.count < MAX_BATCH && this.used + length <= this.slab.byteLength;
  }
}

/**
 * The bytes of any ArrayBuffer view or ArrayBuffer, as bytes: copying a Uint16Array into the slab element by
 * element would keep one byte of each element and leave the rest of the slab's old bytes in the datagram.
 */
function asBytes(data: unknown): Uint8Array {
  const detached = (): never => {
    throw new InvalidArgumentError('bytes', data, 'bytes that are still there (its ArrayBuffer was transferred or detached)');
  };
  try {
    if (ArrayBuffer.isView(data)) {
      // A view of a transferred buffer reads as empty: sending it would send an empty datagram.
      if ((data.buffer as { detached?: boolean }).detached === true) detached();
      return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  } catch (error) {
    if (error instanceof InvalidArgumentError) throw error;
    detached();
  }
  throw new InvalidArgumentError('bytes', data, 'a Buffer, a typed array, a DataView or an ArrayBuffer');
}

/** A UdpPeer as given, or one made from `{ host, port }` (an IP literal and a port: a stored `from.toJSON()`). */
function asPeer(to: unknown): UdpPeer {
  let peer: UdpPeer | undefined;
  if (to instanceof UdpPeer) peer = to;
  else if (typeof to === 'object' && to !== null && 'host' in to && 'port' in to) {
    const { host, port } = to as { host: unknown; port: unknown };
    if (typeof host === 'string' && typeof port === 'number') peer = UdpPeer.of(host, port);
  }
  if (peer === undefined) throw new InvalidArgumentError('to', to, 'a UdpPeer (the `from` of a message, or UdpPeer.of(host, port)) or { host, port }');
  // Port 0 names no receiver: the kernel would refuse it, counted only as a send error.
  if (peer.port === 0) throw new InvalidArgumentError('to.port', 0, 'a port from 1 to 65535');
  return peer;
}
