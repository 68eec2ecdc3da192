/** Socket calls: create, bind, listen, accept, connect, options, names, shutdown, close. */
import { SyscallError } from '../errors.js';
import { SOCKADDR_MAX, type SocketAddress, decodeAddress, encodeAddress } from './address.js';
import { EINPROGRESS, check, checkWouldBlock } from './check.js';
import { addressOf, declare, lastErrno } from './library.js';

const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;

/** setsockopt levels and names (Linux values, the same on x86-64 and arm64). */
export const SOL_SOCKET = 1;
export const IPPROTO_TCP = 6;
export const SocketOption = {
  SO_REUSEADDR: [SOL_SOCKET, 2],
  SO_ERROR: [SOL_SOCKET, 4],
  SO_SNDBUF: [SOL_SOCKET, 7],
  SO_RCVBUF: [SOL_SOCKET, 8],
  SO_KEEPALIVE: [SOL_SOCKET, 9],
  SO_REUSEPORT: [SOL_SOCKET, 15],
  SO_INCOMING_CPU: [SOL_SOCKET, 49],
  TCP_NODELAY: [IPPROTO_TCP, 1],
  TCP_KEEPIDLE: [IPPROTO_TCP, 4],
  TCP_KEEPINTVL: [IPPROTO_TCP, 5],
  TCP_KEEPCNT: [IPPROTO_TCP, 6],
  TCP_USER_TIMEOUT: [IPPROTO_TCP, 18],
} as const satisfies Record<string, readonly [number, number]>;
/** A socket option known to {@link setIntOption} / {@link getIntOption}. */
export type SocketOptionName = keyof typeof SocketOption;

/** shutdown(2) directions. */
export const SHUT_RD = 0;
export const SHUT_WR = 1;

const socket = declare<(domain: number, type: number, protocol: number) => number>('int socket(int, int, int)');
const bind = declare<(fd: number, addr: Buffer, length: number) => number>('int bind(int, const uint8_t *addr, uint32_t len)');
const listen = declare<(fd: number, backlog: number) => number>('int listen(int, int)');
const accept4 = declare<(fd: number, addr: Buffer, length: Buffer, flags: number) => number>('int accept4(int, void *addr, void *len, int flags)');
const connect = declare<(fd: number, addr: Buffer, length: number) => number>('int connect(int, const uint8_t *addr, uint32_t len)');
const setsockopt = declare<(fd: number, level: number, name: number, value: Buffer, length: number) => number>(
  'int setsockopt(int, int, int, const uint8_t *value, uint32_t len)',
);
const getsockopt = declare<(fd: number, level: number, name: number, value: Buffer, length: Buffer) => number>(
  'int getsockopt(int, int, int, uint8_t *value, uint8_t *len)',
);
const getsockname = declare<(fd: number, addr: Buffer, length: Buffer) => number>('int getsockname(int, uint8_t *addr, uint8_t *len)');
const getpeername = declare<(fd: number, addr: Buffer, length: Buffer) => number>('int getpeername(int, uint8_t *addr, uint8_t *len)');
const shutdownCall = declare<(fd: number, how: number) => number>('int shutdown(int, int)');
const closeCall = declare<(fd: number) => number>('int close(int)');

// Scratch space reused by every call on this thread (each thread loads its own copy of this module).
const intValue = Buffer.alloc(4);
const lengthValue = Buffer.alloc(4);
const nameValue = Buffer.alloc(SOCKADDR_MAX);

/** Options of {@link listenTcp}. */
export interface ListenOptions {
  /** Let several sockets (one per reactor) bind the same port; the kernel spreads connections between them. */
  reusePort?: boolean;
  /** listen(2) backlog. Default 511, like node:net. */
  backlog?: number;
}

/** A non-blocking TCP listener bound to `host:port`. Returns its fd. */
export function listenTcp(host: string, port: number, options: ListenOptions = {}): number {
  const { sockaddr, length, family } = encodeAddress(host, port);
  const fd = check('socket', socket.native(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  try {
    setIntOption(fd, 'SO_REUSEADDR', 1);
    if (options.reusePort === true) setIntOption(fd, 'SO_REUSEPORT', 1);
    check('bind', bind.native(fd, sockaddr, length));
    check('listen', listen.native(fd, options.backlog ?? 511));
    return fd;
  } catch (error) {
    closeCall.native(fd);
    throw error;
  }
}

const SO_ATTACH_REUSEPORT_CBPF = 51;

/**
 * Attaches to the SO_REUSEPORT group of `fd` a classic BPF program that picks, for each new connection, the
 * socket whose index (order of joining the group) equals the CPU that received the packet; an index past the
 * group falls back to the kernel's hash. Works from Linux 4.5, where SO_INCOMING_CPU steering needs 6.1.
 */
export function attachCpuSteering(fd: number): void {
  // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; } x 2: A = cpu id (ancillary load); return A.
  const filter = Buffer.alloc(16);
  filter.writeUInt16LE(0x20, 0); // BPF_LD | BPF_W | BPF_ABS
  filter.writeUInt32LE(0xfffff000 + 36, 4); // SKF_AD_OFF + SKF_AD_CPU
  filter.writeUInt16LE(0x16, 8); // BPF_RET | BPF_A
  // struct sock_fprog { u16 len; (padding) struct sock_filter *filter; }
  const program = Buffer.alloc(16);
  program.writeUInt16LE(2, 0);
  program.writeBigUInt64LE(addressOf(filter), 8);
  check('setsockopt(SO_ATTACH_REUSEPORT_CBPF)', setsockopt.native(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, program, 16));
  // The kernel copied the program during the call; `filter` only had to live until here.
  filter.fill(0);
}

/** Accepts one pending connection as a non-blocking fd, or returns -1 when none is pending. */
export function acceptConnection(listenerFd: number): number {
  // The peer's address comes with the connection: read later from the fd, it may be gone (a peer that reset) or
  // another connection's (the fd number reused after a close). See acceptedPeer.
  lengthValue.writeUInt32LE(SOCKADDR_MAX, 0);
  return checkWouldBlock('accept4', accept4.native(listenerFd, nameValue, lengthValue, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/** A copy of the peer's sockaddr from this thread's last acceptConnection (decode it with decodeAddress). */
export function acceptedPeer(): Buffer {
  return Buffer.from(nameValue);
}

/** Starts a non-blocking connect to `host:port`; the fd becomes writable when it completes (then read SO_ERROR). */
export function connectTcp(host: string, port: number): number {
  const { sockaddr, length, family } = encodeAddress(host, port);
  const fd = check('socket', socket.native(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (connect.native(fd, sockaddr, length) < 0) {
    const errno = lastErrno();
    if (errno !== EINPROGRESS) {
      closeCall.native(fd);
      throw new SyscallError('connect', errno, `${host}:${port}`);
    }
  }
  return fd;
}

/** Sets an integer socket option. */
export function setIntOption(fd: number, option: SocketOptionName, value: number): void {
  const [level, name] = SocketOption[option];
  intValue.writeInt32LE(value, 0);
  check(`setsockopt(${option})`, setsockopt.native(fd, level, name, intValue, 4));
}

/** Reads an integer socket option. */
export function getIntOption(fd: number, option: SocketOptionName): number {
  const [level, name] = SocketOption[option];
  lengthValue.writeUInt32LE(4, 0);
  check(`getsockopt(${option})`, getsockopt.native(fd, level, name, intValue, lengthValue));
  return intValue.readInt32LE(0);
}

/** The local address of a socket. */
export function localAddress(fd: number): SocketAddress {
  lengthValue.writeUInt32LE(SOCKADDR_MAX, 0);
  check('getsockname', getsockname.native(fd, nameValue, lengthValue));
  return decodeAddress(nameValue);
}

/** The peer address of a connected socket. */
export function peerAddress(fd: number): SocketAddress {
  lengthValue.writeUInt32LE(SOCKADDR_MAX, 0);
  check('getpeername', getpeername.native(fd, nameValue, lengthValue));
  return decodeAddress(nameValue);
}

/** shutdown(2); a socket the peer already reset is not an error here. */
export function shutdownSocket(fd: number, how: number): void {
  shutdownCall.native(fd, how);
}

/** close(2). Errors are ignored: after close the fd is gone either way (Linux never retries close). */
export function closeFd(fd: number): void {
  closeCall.native(fd);
}
