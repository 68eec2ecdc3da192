/**
 * read / write / writev on non-blocking fds. writev takes an {@link IoVector}: iovecs written into one raw
 * Buffer (pointer + length), which is several times cheaper to pass through koffi than an array of structs.
 */
import { check, checkWouldBlock } from './check.js';
import { addressOf, declare } from './library.js';

const readCall = declare<(fd: number, buffer: Uint8Array, length: number) => number>('long read(int, uint8_t *buf, unsigned long)');
const writeCall = declare<(fd: number, buffer: Uint8Array, length: number) => number>('long write(int, const uint8_t *buf, unsigned long)');
const readAtAddressCall = declare<(fd: number, address: number, length: number) => number>('long read(int, uintptr_t buf, unsigned long)');
const writevCall = declare<(fd: number, iov: Buffer, count: number) => number>('long writev(int, const uint8_t *iov, int)');
const eventfdCall = declare<(initial: number, flags: number) => number>('int eventfd(unsigned int, int)');

const IOVEC_SIZE = 16;
/** Linux's IOV_MAX: writev refuses more buffers than this in one call. */
export const IOV_MAX = 1024;

/** Reads into `buffer`: bytes read, 0 at end of stream, -1 when nothing is available (EAGAIN). */
export function readSome(fd: number, buffer: Uint8Array): number {
  return checkWouldBlock('read', readCall.native(fd, buffer, buffer.byteLength));
}

/**
 * read(2) into memory given by its address (an integer, as the C ABI passes a pointer), for reads at an offset
 * of a larger buffer without creating a view of it. The caller keeps that memory alive and unmoved (off the V8
 * heap). Bytes read, 0 at end of stream, -1 when nothing is available (EAGAIN).
 */
export function readAtAddress(fd: number, address: number, length: number): number {
  return checkWouldBlock('read', readAtAddressCall.native(fd, address, length));
}

/** Writes from `buffer`: bytes written (possibly fewer), -1 when the socket buffer is full (EAGAIN). */
export function writeSome(fd: number, buffer: Uint8Array): number {
  return checkWouldBlock('write', writeCall.native(fd, buffer, buffer.byteLength));
}

/** A reusable array of iovecs for {@link IoVector.write}. */
export class IoVector {
  private readonly raw = Buffer.alloc(IOVEC_SIZE * IOV_MAX);
  /** Buffers set since the last {@link clear}; kept referenced so they cannot be collected mid-call. */
  private readonly held: Uint8Array[] = [];

  get length(): number {
    return this.held.length;
  }

  /** Appends `buffer`; returns false when the vector already holds {@link IOV_MAX} entries. */
  push(buffer: Uint8Array): boolean {
    const index = this.held.length;
    if (index === IOV_MAX) return false;
    this.raw.writeBigUInt64LE(addressOf(buffer), index * IOVEC_SIZE);
    this.raw.writeBigUInt64LE(BigInt(buffer.byteLength), index * IOVEC_SIZE + 8);
    this.held.push(buffer);
    return true;
  }

  clear(): void {
    this.held.length = 0;
  }

  /** writev of every entry: bytes written, -1 on EAGAIN. */
  write(fd: number): number {
    return checkWouldBlock('writev', writevCall.native(fd, this.raw, this.held.length));
  }
}

const EFD_NONBLOCK = 0o4000;
const EFD_CLOEXEC = 0o2000000;
const eventfdValue = Buffer.alloc(8);

/** A non-blocking eventfd: another thread writes to it to wake a reactor out of epoll_wait. */
export function createEventFd(): number {
  return check('eventfd', eventfdCall.native(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

/** Adds 1 to an eventfd's counter (wakes its epoll). Safe from any thread. */
export function signalEventFd(fd: number): void {
  const one = Buffer.alloc(8);
  one.writeBigUInt64LE(1n, 0);
  writeCall.native(fd, one, 8);
}

/** Resets an eventfd's counter; returns how many signals it had collected. */
export function drainEventFd(fd: number): number {
  const read = readCall.native(fd, eventfdValue, 8);
  return read === 8 ? Number(eventfdValue.readBigUInt64LE(0)) : 0;
}
