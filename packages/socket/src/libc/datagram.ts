/**
 * UDP sockets and the batched datagram calls: recvmmsg(2) takes many datagrams and sendmmsg(2) sends many in one
 * system call each, where node:dgram makes one call per datagram.
 *
 * A {@link MessageVector} is the native memory those calls work on: `capacity` struct mmsghdr, each with its own
 * iovec, address slot and control slot (room for one UDP_SEGMENT message). The layout is LP64 (x86-64 and arm64,
 * the only targets):
 *   struct msghdr  { void *name; u32 namelen; (pad) iovec *iov; size_t iovlen; void *control; size_t controllen; int flags; (pad) } = 56
 *   struct mmsghdr { struct msghdr hdr; u32 len; (pad) } = 64
 */
import { encodeAddress } from './address.js';
import { check, checkWouldBlock } from './check.js';
import { addressOf, declare } from './library.js';
import { attachCpuSteering, closeFd, setIntOption } from './sockets.js';

const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
/** msg_flags bit: the datagram was longer than the buffer given for it. */
export const MSG_TRUNC = 0x20;
/** Linux's UIO_MAXIOV: recvmmsg/sendmmsg take at most this many messages per call. */
export const MAX_BATCH = 1024;

export const MMSGHDR_SIZE = 64;
const IOVEC_SIZE = 16;
/** Room for a sockaddr_in6 (28 bytes), rounded to 8. */
export const NAME_SIZE = 32;
/** CMSG_SPACE(sizeof(u16)): a cmsghdr (len 8, level 4, type 4) and 2 bytes of data, rounded to 8. */
const CONTROL_SIZE = 24;
const SOL_UDP = 17;
/** UDP generic segmentation offload: the kernel cuts one buffer into datagrams of this many bytes. */
const UDP_SEGMENT = 103;
/** UDP generic receive offload: the kernel may hand over several datagrams of one flow as one buffer. */
const UDP_GRO = 104;

/** Linux's UDP_MAX_SEGMENTS before 6.9 (128 since): the most datagrams one UDP_SEGMENT send may make. */
export const MAX_SEGMENTS = 64;
const NAME_OFFSET = 0;
const NAMELEN_OFFSET = 8;
const IOV_OFFSET = 16;
const IOVLEN_OFFSET = 24;
const CONTROL_OFFSET = 32;
const CONTROLLEN_OFFSET = 40;
const FLAGS_OFFSET = 48;
const LEN_OFFSET = 56;

const setsockopt = declare<(fd: number, level: number, name: number, value: Buffer, length: number) => number>('int setsockopt(int, int, int, const uint8_t *value, uint32_t len)');
const socket = declare<(domain: number, type: number, protocol: number) => number>('int socket(int, int, int)');
const bind = declare<(fd: number, addr: Buffer, length: number) => number>('int bind(int, const uint8_t *addr, uint32_t len)');
const recvmmsg = declare<(fd: number, vector: number, count: number, flags: number, timeout: null) => number>(
  'int recvmmsg(int, uintptr_t msgvec, unsigned int vlen, int flags, void *timeout)',
);
const sendmmsg = declare<(fd: number, vector: number, count: number, flags: number) => number>('int sendmmsg(int, uintptr_t msgvec, unsigned int vlen, int flags)');

/** Options of {@link openUdp}. */
export interface UdpBindOptions {
  /** Join (or start) the SO_REUSEPORT group of `host:port`: the kernel spreads datagrams by flow. */
  reusePort?: boolean;
  /** SO_INCOMING_CPU: the reuseport group prefers this socket for datagrams received on that CPU (Linux 6.1+). */
  incomingCpu?: number;
  /** Attach the CPU-steering program to the reuseport group (socket i for datagrams received on CPU i). */
  cpuSteeringProgram?: boolean;
  /** UDP_GRO: accept coalesced datagrams (several of one flow in one buffer, with their size in a control message). */
  gro?: boolean;
  /** SO_RCVBUF in bytes (the kernel doubles it and caps it at net.core.rmem_max). */
  receiveBufferBytes?: number;
  /** SO_SNDBUF in bytes (the kernel doubles it and caps it at net.core.wmem_max). */
  sendBufferBytes?: number;
}

/** A non-blocking UDP socket bound to `host:port`. Returns its fd and address family (AF_INET or AF_INET6). */
export function openUdp(host: string, port: number, options: UdpBindOptions = {}): { fd: number; family: number } {
  const { sockaddr, length, family } = encodeAddress(host, port);
  const fd = check('socket', socket.native(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  try {
    if (options.reusePort === true) setIntOption(fd, 'SO_REUSEPORT', 1);
    if (options.incomingCpu !== undefined) setIntOption(fd, 'SO_INCOMING_CPU', options.incomingCpu);
    if (options.receiveBufferBytes !== undefined) setIntOption(fd, 'SO_RCVBUF', options.receiveBufferBytes);
    if (options.sendBufferBytes !== undefined) setIntOption(fd, 'SO_SNDBUF', options.sendBufferBytes);
    if (options.gro === true) setUdpOption(fd, UDP_GRO, 1);
    check('bind', bind.native(fd, sockaddr, length));
    if (options.cpuSteeringProgram === true) attachCpuSteering(fd);
    return { fd, family };
  } catch (error) {
    closeFd(fd);
    throw error;
  }
}

function setUdpOption(fd: number, name: number, value: number): void {
  const option = Buffer.alloc(4);
  option.writeInt32LE(value, 0);
  check('setsockopt(UDP_GRO)', setsockopt.native(fd, SOL_UDP, name, option, 4));
}

/**
 * `capacity` messages' headers, iovecs and address slots in one off-heap block that never moves, so the
 * pointers written into it once stay valid. Data buffers are set per message with {@link setData}.
 */
export class MessageVector {
  readonly memory: Buffer;
  /** The same memory as 32-bit words: lengths and flags are read with one element load. */
  readonly words: Int32Array;
  private readonly base: number;
  private readonly iovs: number;
  readonly names: number;
  private readonly controls: number;

  constructor(readonly capacity: number) {
    const headers = capacity * MMSGHDR_SIZE;
    this.iovs = headers;
    this.names = headers + capacity * IOVEC_SIZE;
    this.controls = this.names + capacity * NAME_SIZE;
    this.memory = Buffer.allocUnsafeSlow(this.controls + capacity * CONTROL_SIZE).fill(0);
    this.words = new Int32Array(this.memory.buffer, this.memory.byteOffset, this.memory.byteLength / 4);
    this.base = Number(addressOf(this.memory));
    for (let i = 0; i < capacity; i++) {
      const header = i * MMSGHDR_SIZE;
      this.writeAddress(header + NAME_OFFSET, this.base + this.names + i * NAME_SIZE);
      this.writeAddress(header + IOV_OFFSET, this.base + this.iovs + i * IOVEC_SIZE);
      this.memory.writeUInt32LE(1, header + IOVLEN_OFFSET);
      this.writeAddress(header + CONTROL_OFFSET, this.base + this.controls + i * CONTROL_SIZE);
      const control = this.controls + i * CONTROL_SIZE;
      this.memory.writeUInt32LE(CONTROL_SIZE - 6, control); // cmsg_len = CMSG_LEN(2) = 18
      this.memory.writeInt32LE(SOL_UDP, control + 8);
      this.memory.writeInt32LE(UDP_SEGMENT, control + 12);
    }
  }

  /**
   * Makes message `index` a UDP_SEGMENT send cut into datagrams of `size` bytes, or a plain one (size 0). Slots
   * are reused, so every message sent is given one or the other.
   */
  setSegmentSize(index: number, size: number): void {
    const header = index * MMSGHDR_SIZE;
    if (size === 0) {
      this.words[(header + CONTROLLEN_OFFSET) >> 2] = 0;
      return;
    }
    this.memory.writeUInt16LE(size, this.controls + index * CONTROL_SIZE + 16);
    this.words[(header + CONTROLLEN_OFFSET) >> 2] = CONTROL_SIZE;
  }

  /** Points message `index`'s iovec at `length` bytes at native address `address`. */
  setData(index: number, address: number, length: number): void {
    const iov = this.iovs + index * IOVEC_SIZE;
    this.writeAddress(iov, address);
    this.memory.writeUInt32LE(length, iov + 8);
    this.memory.writeUInt32LE(0, iov + 12);
  }

  /** Byte offset in {@link memory} of message `index`'s address slot. */
  nameOffset(index: number): number {
    return this.names + index * NAME_SIZE;
  }

  /** Sets the address length of message `index` (in: room for the kernel to fill; out: the length sent to). */
  setNameLength(index: number, length: number): void {
    this.words[(index * MMSGHDR_SIZE + NAMELEN_OFFSET) >> 2] = length;
  }

  /** Bytes of message `index` as the last call left them (received or sent). */
  messageLength(index: number): number {
    return this.words[(index * MMSGHDR_SIZE + LEN_OFFSET) >> 2]!;
  }

  /**
   * The size of the datagrams coalesced in received message `index` (UDP_GRO), or 0 when it is one datagram.
   * The kernel writes the control message only when it coalesced: a GRO socket then says so in the slot.
   */
  coalescedSize(index: number): number {
    if (this.words[(index * MMSGHDR_SIZE + CONTROLLEN_OFFSET) >> 2]! === 0) return 0;
    const control = (this.controls + index * CONTROL_SIZE) >> 2;
    if (this.words[control + 2] !== SOL_UDP || this.words[control + 3] !== UDP_GRO) return 0;
    return this.words[control + 4]!;
  }

  /** msg_flags of message `index` after a receive. */
  messageFlags(index: number): number {
    return this.words[(index * MMSGHDR_SIZE + FLAGS_OFFSET) >> 2]!;
  }

  /**
   * recvmmsg of up to `count` messages into the first ones: how many came, -1 when none was waiting. With
   * `control`, each message has room for one control message (UDP_GRO's segment size).
   */
  receive(fd: number, count: number, control = false): number {
    for (let i = 0; i < count; i++) {
      this.words[(i * MMSGHDR_SIZE + NAMELEN_OFFSET) >> 2] = NAME_SIZE;
      this.words[(i * MMSGHDR_SIZE + CONTROLLEN_OFFSET) >> 2] = control ? CONTROL_SIZE : 0;
    }
    return checkWouldBlock('recvmmsg', recvmmsg.native(fd, this.base, count, 0, null));
  }

  /**
   * sendmmsg of messages `from` .. `from + count - 1`: how many went, -1 when the socket's buffer was full
   * (EAGAIN). Any other error of the first message throws; a later message's error ends the batch there.
   */
  send(fd: number, from: number, count: number): number {
    return checkWouldBlock('sendmmsg', sendmmsg.native(fd, this.base + from * MMSGHDR_SIZE, count, 0));
  }

  private writeAddress(offset: number, address: number): void {
    // Split in two words: user-space addresses fit in 47 bits, a double holds them exactly, a BigInt is not needed.
    this.memory.writeUInt32LE(address % 2 ** 32, offset);
    this.memory.writeUInt32LE(Math.floor(address / 2 ** 32), offset + 4);
  }
}
