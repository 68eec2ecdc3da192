import { decodeAddress, encodeAddress } from '../src/libc/address.js';

describe('socket addresses', () => {
  it.each([
    ['127.0.0.1', 8080],
    ['0.0.0.0', 0],
    ['::1', 443],
    ['::', 1],
    ['fe80::1:2', 65535],
    ['2001:db8::ff00:42:8329', 7],
    ['::ffff:10.1.2.3', 99],
  ])('round-trips %s port %d', (host, port) => {
    const { sockaddr } = encodeAddress(host, port);
    const decoded = decodeAddress(sockaddr);
    expect(decoded.port).toBe(port);
    expect(encodeAddress(decoded.host, port).sockaddr.equals(sockaddr)).toBe(true);
  });

  it('writes the IPv4 layout the kernel expects', () => {
    const { sockaddr, length } = encodeAddress('10.0.0.7', 0x1234);
    expect(length).toBe(16);
    expect([...sockaddr.subarray(0, 8)]).toEqual([2, 0, 0x12, 0x34, 10, 0, 0, 7]);
  });

  it('refuses names and bad ports with typed errors', () => {
    expect(() => encodeAddress('localhost', 80)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'host' }));
    expect(() => encodeAddress('127.0.0.1', 70000)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'port' }));
    expect(() => encodeAddress('127.0.0.1', 1.5)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });
});
