/**
 * epoll_create1 / epoll_ctl / epoll_wait, with events read straight out of one Buffer: no object per event
 * crosses the FFI boundary. `struct epoll_event` is packed on x86-64 (12 bytes: u32 events, u64 data) and
 * naturally aligned elsewhere (16 bytes).
 */
import { SyscallError } from '../errors.js';
import { EINTR, check } from './check.js';
import { declare, lastErrno } from './library.js';

export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;

/** Bytes per `struct epoll_event` on this architecture. */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' ? 12 : 16;
const DATA_OFFSET = process.arch === 'x64' ? 4 : 8;
const EVENT_WORDS = EPOLL_EVENT_SIZE / 4;
/** The fd is the low half of the 64-bit user data: its first word on the little-endian machines epoll runs on. */
const DATA_WORD = DATA_OFFSET / 4;

const epollCreate1 = declare<(flags: number) => number>('int epoll_create1(int)');
const epollCtl = declare<(epfd: number, op: number, fd: number, event: Buffer | null) => number>('int epoll_ctl(int, int, int, uint8_t *event)');
const epollWait = declare<(epfd: number, events: Buffer, max: number, timeoutMs: number) => number>('int epoll_wait(int, uint8_t *events, int, int)');

/**
 * One epoll instance and its event buffer. The fd itself is the event's user data, so a ready event maps to
 * a connection-table slot without a lookup structure.
 */
export class Epoll {
  readonly fd: number;
  private readonly events: Buffer;
  /**
   * The same events as 32-bit words (every field sits at a multiple of 4 bytes): an element load compiles to
   * one instruction, where readInt32LE is a call with bounds checks, twice per ready event.
   */
  private readonly eventWords: Int32Array;
  private readonly control = Buffer.alloc(EPOLL_EVENT_SIZE);
  readonly maxEvents: number;

  constructor(maxEvents = 1024) {
    this.maxEvents = maxEvents;
    this.events = Buffer.alloc(EPOLL_EVENT_SIZE * maxEvents);
    this.eventWords = new Int32Array(this.events.buffer, this.events.byteOffset, this.events.byteLength / 4);
    this.fd = check('epoll_create1', epollCreate1.native(EPOLL_CLOEXEC));
  }

  add(fd: number, events: number): void {
    this.ctl(EPOLL_CTL_ADD, fd, events);
  }

  modify(fd: number, events: number): void {
    this.ctl(EPOLL_CTL_MOD, fd, events);
  }

  /** Removes `fd`; an fd that is already gone (closed elsewhere) is not an error. */
  remove(fd: number): void {
    epollCtl.native(this.fd, EPOLL_CTL_DEL, fd, this.control);
  }

  /** Waits up to `timeoutMs` (-1: forever, 0: poll) and returns how many events are ready (0 on EINTR). */
  wait(timeoutMs: number): number {
    const count = epollWait.native(this.fd, this.events, this.maxEvents, timeoutMs);
    if (count >= 0) return count;
    const errno = lastErrno();
    if (errno === EINTR) return 0;
    throw new SyscallError('epoll_wait', errno);
  }

  /** The fd of ready event `index`. */
  eventFd(index: number): number {
    return this.eventWords[index * EVENT_WORDS + DATA_WORD]!;
  }

  /** The event mask of ready event `index`. */
  eventMask(index: number): number {
    return this.eventWords[index * EVENT_WORDS]! >>> 0;
  }

  private ctl(op: number, fd: number, events: number): void {
    this.control.fill(0);
    this.control.writeUInt32LE(events >>> 0, 0);
    this.control.writeInt32LE(fd, DATA_OFFSET);
    check(op === EPOLL_CTL_ADD ? 'epoll_ctl(ADD)' : 'epoll_ctl(MOD)', epollCtl.native(this.fd, op, fd, this.control));
  }
}
