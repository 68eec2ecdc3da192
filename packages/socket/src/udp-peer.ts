/**
 * The address of a datagram's sender, or of where to send one. Read from the kernel's sockaddr as a few numbers
 * (no string, no Buffer per datagram); the host text is formatted only when asked for. Replying to a peer writes
 * those numbers back into a sockaddr as they came.
 */
import { InvalidArgumentError } from '@x/core';
import { AF_INET, AF_INET6, decodeAddress, encodeAddress } from './libc/address.js';

/** A UDP endpoint: IPv4 or IPv6 address and port. Immutable; keep it as long as you like. */
export class UdpPeer {
  private text: string | undefined;
  readonly #family: 'IPv4' | 'IPv6';
  readonly #port: number;

  /** @internal Use {@link UdpPeer.of}, or the `from` a handler is given. */
  constructor(
    family: 'IPv4' | 'IPv6',
    port: number,
    /** @internal The address as the kernel wrote it, four 32-bit words (IPv4: the first only). */
    readonly a0: number,
    /** @internal */
    readonly a1: number,
    /** @internal */
    readonly a2: number,
    /** @internal */
    readonly a3: number,
    /** @internal IPv6 scope id (0 when none). */
    readonly scope: number,
  ) {
    this.#family = family;
    this.#port = port;
  }

  /** 'IPv4' or 'IPv6'. */
  get family(): 'IPv4' | 'IPv6' {
    return this.#family;
  }

  /** The port (a getter: a peer kept for later cannot be pointed elsewhere by accident). */
  get port(): number {
    return this.#port;
  }

  /**
   * A peer from an IP literal and a port (names are resolved by the caller: `dns.lookup`). Throws
   * InvalidArgumentError for anything else.
   *
   * @example
   * ```ts
   * socket.send(Buffer.from('ping'), UdpPeer.of('127.0.0.1', 9000));
   * ```
   */
  static of(host: string, port: number): UdpPeer {
    // A zone would be dropped on the way into the sockaddr: a link-local peer would then be unreachable.
    if (typeof host === 'string' && host.includes('%')) throw new InvalidArgumentError('host', host, 'an IP literal without a zone (IPv6 zones are not supported yet)');
    const { sockaddr } = encodeAddress(host, port);
    const words = new Int32Array(8);
    new Uint8Array(words.buffer).set(sockaddr);
    return readPeer(words, 0);
  }

  /** The address as text (`127.0.0.1`, `::1`), formatted on first use. */
  get host(): string {
    if (this.text === undefined) {
      const words = new Int32Array(8);
      writePeer(this, words, 0);
      this.text = decodeAddress(Buffer.from(words.buffer)).host;
    }
    return this.text;
  }

  /** True when `other` is the same address and port. */
  equals(other: UdpPeer): boolean {
    // A brand check, not instanceof: Object.create(UdpPeer.prototype) passes instanceof but has no fields.
    if (typeof other !== 'object' || other === null || !(#family in other)) return false;
    return (
      this.family === other.family &&
      this.port === other.port &&
      this.a0 === other.a0 &&
      this.a1 === other.a1 &&
      this.a2 === other.a2 &&
      this.a3 === other.a3 &&
      this.scope === other.scope
    );
  }

  /** `host:port`, with IPv6 hosts in brackets. */
  toString(): string {
    return this.family === 'IPv6' ? `[${this.host}]:${this.port}` : `${this.host}:${this.port}`;
  }

  toJSON(): { host: string; port: number; family: 'IPv4' | 'IPv6' } {
    return { host: this.host, port: this.port, family: this.family };
  }
}

/** Reads the sockaddr at 32-bit word `at` of `words` (8 words of room). */
export function readPeer(words: Int32Array, at: number): UdpPeer {
  const head = words[at]!;
  // sa_family is the first 16 bits (little-endian), the port the next 16 in network order.
  const port = ((head >>> 16) & 0xff) * 256 + (head >>> 24);
  if ((head & 0xffff) === AF_INET6) return new UdpPeer('IPv6', port, words[at + 2]!, words[at + 3]!, words[at + 4]!, words[at + 5]!, words[at + 6]!);
  return new UdpPeer('IPv4', port, words[at + 1]!, 0, 0, 0, 0);
}

/** Writes `peer` as a sockaddr at word `at` of `words`; returns its length in bytes. */
export function writePeer(peer: UdpPeer, words: Int32Array, at: number): number {
  const port = ((peer.port & 0xff) << 8) | (peer.port >>> 8);
  if (peer.family === 'IPv6') {
    words[at] = AF_INET6 | (port << 16);
    words[at + 1] = 0;
    words[at + 2] = peer.a0;
    words[at + 3] = peer.a1;
    words[at + 4] = peer.a2;
    words[at + 5] = peer.a3;
    words[at + 6] = peer.scope;
    return 28;
  }
  words[at] = AF_INET | (port << 16);
  words[at + 1] = peer.a0;
  words[at + 2] = 0;
  words[at + 3] = 0;
  return 16;
}

/** `peer` as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), for an IPv6 socket sending to an IPv4 peer. */
export function mappedToIPv6(peer: UdpPeer): UdpPeer {
  // ::ffff: is the third word's bytes 00 00 ff ff, i.e. 0xffff0000 read little-endian.
  return new UdpPeer('IPv6', peer.port, 0, 0, 0xffff0000 | 0, peer.a0, 0);
}
