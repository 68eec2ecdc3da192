/**
 * sockaddr_in / sockaddr_in6 built from and read back into `{ host, port }`. Only IP literals: name lookup
 * belongs to the caller (dns.lookup), never to a reactor thread.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { InvalidArgumentError, assertNumber } from '@x/core';

export const AF_INET = 2;
export const AF_INET6 = 10;
/** Big enough for sockaddr_in6 (28 bytes). */
export const SOCKADDR_MAX = 28;

/** An IP address and port. */
export interface SocketAddress {
  host: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

function ipv6Bytes(host: string): Buffer {
  const bytes = Buffer.alloc(16);
  let text = host;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) is two 16-bit groups.
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...headGroups, ...new Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  groups.forEach((group, i) => bytes.writeUInt16BE(Number.parseInt(group, 16), i * 2));
  return bytes;
}

/** Encodes `host:port` as a sockaddr; returns the buffer and the length to pass to bind/connect. */
export function encodeAddress(host: string, port: number): { sockaddr: Buffer; length: number; family: number } {
  assertNumber('port', port, { min: 0, max: 65535, integer: true });
  if (isIPv4(host)) {
    const sockaddr = Buffer.alloc(16);
    sockaddr.writeUInt16LE(AF_INET, 0);
    sockaddr.writeUInt16BE(port, 2);
    host.split('.').forEach((octet, i) => sockaddr.writeUInt8(Number(octet), 4 + i));
    return { sockaddr, length: 16, family: AF_INET };
  }
  if (isIPv6(host)) {
    const sockaddr = Buffer.alloc(28);
    sockaddr.writeUInt16LE(AF_INET6, 0);
    sockaddr.writeUInt16BE(port, 2);
    ipv6Bytes(host.split('%')[0]!).copy(sockaddr, 8);
    return { sockaddr, length: 28, family: AF_INET6 };
  }
  throw new InvalidArgumentError('host', host, 'an IPv4 or IPv6 literal (resolve names with dns.lookup first)');
}

/** Reads a sockaddr written by the kernel (getsockname, getpeername). */
export function decodeAddress(sockaddr: Buffer): SocketAddress {
  const family = sockaddr.readUInt16LE(0);
  const port = sockaddr.readUInt16BE(2);
  if (family === AF_INET) return { host: [...sockaddr.subarray(4, 8)].join('.'), port, family: 'IPv4' };
  if (family === AF_INET6) {
    // An IPv4 peer of a dual-stack socket (::ffff:a.b.c.d), written as inet_ntop and node:net write it.
    if (sockaddr.readUInt32BE(8) === 0 && sockaddr.readUInt32BE(12) === 0 && sockaddr.readUInt32BE(16) === 0xffff) {
      return { host: `::ffff:${[...sockaddr.subarray(20, 24)].join('.')}`, port, family: 'IPv6' };
    }
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(sockaddr.readUInt16BE(8 + i * 2).toString(16));
    // The shortest form of the longest zero run, as inet_ntop writes it.
    const joined = `:${groups.join(':')}:`.replace(/(^|:)0(:0)+(:|$)/, '::');
    const host = joined.replace(/^:(?!:)/, '').replace(/(?<!:):$/, '');
    return { host, port, family: 'IPv6' };
  }
  return { host: '', port, family: 'IPv4' };
}
