/**
 * One UDP socket served by one epoll loop on one thread: datagrams are taken up to `batchSize` at a time with
 * recvmmsg(2), handed to the handler one by one, and the replies the handler sends meanwhile go out together
 * with sendmmsg(2) once the batch is handled. Two system calls per batch where node:dgram makes two per
 * datagram (and allocates a Buffer and an address object for each).
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { InvalidArgumentError, assertBoolean, assertKnownKeys, assertNumber } from '@x/core';
import { SocketStateError } from './errors.js';
import { type SocketAddress } from './libc/address.js';
import { MAX_BATCH, MSG_TRUNC, MessageVector, type UdpBindOptions, openUdp } from './libc/datagram.js';
import { EPOLLERR, EPOLLIN, EPOLLOUT, Epoll } from './libc/epoll.js';
import { createEventFd, drainEventFd, signalEventFd } from './libc/io.js';
import { addressOf } from './libc/library.js';
import { getIntOption, localAddress } from './libc/sockets.js';
import { type FdOwner, UNRECORDED } from './fd-ledger.js';
import { UDP_STAT_FIELDS, type UdpCounters, type UdpStats } from './stats.js';
import { type UdpHandler, type UdpSocket } from './udp-handler.js';
import { type UdpPeer, readPeer } from './udp-peer.js';
import { MAX_DATAGRAM_IPV6, UdpSendQueue } from './udp-send-queue.js';

/** Let other event-loop work (timers, messages) run at least this often while busy. */
const YIELD_EVERY_MS = 2;
/** Receive batches per readable event before looking at the other events again. */
const BATCHES_PER_EVENT = 4;

/** Options of {@link UdpReactor}. */
export interface UdpReactorOptions {
  /** This reactor's number (a server's reactor index). Default 0. */
  id?: number;
  /** Datagrams taken per recvmmsg(2) (and at most sent per sendmmsg(2) after them): 1 .. 1,024. Default 64. */
  batchSize?: number;
  /**
   * Largest datagram delivered, in bytes (1 .. 65,535); a longer one is dropped and counted in `truncated`.
   * The reactor keeps `batchSize` x this much receive memory. Default 65,535 (every datagram).
   */
  maxMessageSize?: number;
  /**
   * Bytes of datagrams that may wait while the kernel's socket buffer is full (at least 65,536); past it, `send`
   * drops. Default 1 MiB.
   */
  sendQueueBytes?: number;
  /** Longest the loop blocks in epoll_wait before letting the thread's event loop run, ms. Default 10. */
  maxWaitMs?: number;
  /**
   * The kernel's receive buffer for the socket (SO_RCVBUF), bytes: what absorbs a burst while the handler is
   * busy. The kernel doubles it and caps it at `net.core.rmem_max`. Default: the kernel's (`net.core.rmem_default`).
   */
  receiveBufferBytes?: number;
  /** The kernel's send buffer (SO_SNDBUF), bytes; capped at `net.core.wmem_max`. Default: the kernel's. */
  sendBufferBytes?: number;
  /**
   * UDP_GRO (Linux 5.0+): the kernel may hand over several datagrams of one flow as one buffer (from a NIC's GRO,
   * or a local sender's UDP_SEGMENT), which the reactor cuts back into datagrams for the handler: one receive
   * for many. Needs `maxMessageSize` 65,535 (a coalesced buffer is up to 64 KiB). Default false.
   */
  gro?: boolean;
  /** Shared counters to publish into (a server's stats); default: counters private to this reactor. */
  stats?: UdpStats;
  /** @internal Where a server's reactor records the descriptors it opens (see FdLedger). */
  fds?: FdOwner;
}

const OPTION_KEYS = ['id', 'batchSize', 'maxMessageSize', 'sendQueueBytes', 'maxWaitMs', 'receiveBufferBytes', 'sendBufferBytes', 'gro', 'stats', 'fds'];

type CheckedOptions = Required<Omit<UdpReactorOptions, 'stats' | 'fds' | 'receiveBufferBytes' | 'sendBufferBytes'>> & Pick<UdpReactorOptions, 'receiveBufferBytes' | 'sendBufferBytes'>;

/** Checks {@link UdpReactorOptions} (also on the main thread, before a server starts its threads). */
export function checkUdpReactorOptions(options: UdpReactorOptions): CheckedOptions {
  assertKnownKeys('options', options, OPTION_KEYS);
  const buffer = (name: 'receiveBufferBytes' | 'sendBufferBytes'): Partial<Record<typeof name, number>> =>
    options[name] === undefined ? {} : { [name]: assertNumber(`options.${name}`, options[name], { min: 1024, max: 2 ** 30, integer: true }) };
  const maxMessageSize = assertNumber('options.maxMessageSize', options.maxMessageSize ?? 65_535, { min: 1, max: 65_535, integer: true });
  const gro = assertBoolean('options.gro', options.gro ?? false);
  if (gro && maxMessageSize < 65_535) throw new InvalidArgumentError('options.maxMessageSize', maxMessageSize, '65,535 with gro (a coalesced buffer is up to 64 KiB)');
  return {
    ...buffer('receiveBufferBytes'),
    ...buffer('sendBufferBytes'),
    gro,
    id: assertNumber('options.id', options.id ?? 0, { min: 0, max: 1023, integer: true }),
    batchSize: assertNumber('options.batchSize', options.batchSize ?? 64, { min: 1, max: MAX_BATCH, integer: true }),
    maxMessageSize,
    sendQueueBytes: assertNumber('options.sendQueueBytes', options.sendQueueBytes ?? 1 << 20, { min: 65_536, max: 2 ** 30, integer: true }),
    maxWaitMs: assertNumber('options.maxWaitMs', options.maxWaitMs ?? 10, { min: 0, max: 60_000, integer: true }),
  };
}

/**
 * A UDP reactor. Normally created by `createUdpServer` inside each worker thread; usable directly in a thread
 * you own (its loop blocks that thread between events, up to `maxWaitMs` at a time).
 *
 * @example
 * ```ts
 * const reactor = new UdpReactor({ onMessage: (socket, bytes, from) => socket.send(bytes, from) });
 * const { port } = reactor.bind('127.0.0.1', 0);
 * await reactor.run(); // until reactor.stop()
 * ```
 */
export class UdpReactor {
  readonly id: number;
  private readonly batchSize: number;
  private readonly maxMessageSize: number;
  private readonly sendQueueBytes: number;
  private readonly maxWaitMs: number;
  private readonly buffers: Pick<UdpBindOptions, 'receiveBufferBytes' | 'sendBufferBytes' | 'gro'>;
  private readonly gro: boolean;
  private readonly stats: UdpStats | undefined;
  private readonly epoll: Epoll;
  private readonly wakeFd: number;
  /** Records the descriptors this reactor opens, for its server (see FdLedger). */
  private readonly fds: FdOwner;
  private readonly received: MessageVector;
  private readonly receiveMemory: Buffer;
  private socketFd = -1;
  private sendQueue: UdpSendQueue | undefined;
  private boundSocket: UdpSocket | undefined;
  private writeWatched = false;
  private running = false;
  private stopped = false;
  private readonly counts = Object.fromEntries(UDP_STAT_FIELDS.map((name) => [name, 0])) as UdpCounters;
  private readonly published = Object.fromEntries(UDP_STAT_FIELDS.map((name) => [name, 0])) as UdpCounters;
  /** Called whenever another thread signals the wake fd. */
  onWake: (() => void) | undefined;

  constructor(
    private readonly handler: UdpHandler,
    options: UdpReactorOptions = {},
  ) {
    const settings = checkUdpReactorOptions(options);
    if (typeof handler !== 'object' || handler === null || typeof handler.onMessage !== 'function') {
      throw new InvalidArgumentError('handler', handler, 'an object with an onMessage(socket, bytes, from) function');
    }
    this.id = settings.id;
    this.batchSize = settings.batchSize;
    this.maxMessageSize = settings.maxMessageSize;
    this.sendQueueBytes = settings.sendQueueBytes;
    this.maxWaitMs = settings.maxWaitMs;
    this.gro = settings.gro;
    this.buffers = { receiveBufferBytes: settings.receiveBufferBytes, sendBufferBytes: settings.sendBufferBytes, gro: settings.gro };
    this.stats = options.stats;
    this.received = new MessageVector(this.batchSize);
    // Off the V8 heap, so it never moves: the iovecs point into it once and for all.
    this.receiveMemory = Buffer.allocUnsafeSlow(this.batchSize * this.maxMessageSize);
    const base = Number(addressOf(this.receiveMemory));
    for (let i = 0; i < this.batchSize; i++) this.received.setData(i, base + i * this.maxMessageSize, this.maxMessageSize);
    this.fds = options.fds ?? UNRECORDED;
    this.epoll = new Epoll(8);
    this.fds.opened(this.epoll.fd);
    this.wakeFd = createEventFd();
    this.fds.opened(this.wakeFd);
    this.epoll.add(this.wakeFd, EPOLLIN);
  }

  /** The eventfd another thread writes to (signalEventFd) to wake this reactor. */
  get wakeupFd(): number {
    return this.wakeFd;
  }

  /** This reactor's counters since it started (also published to the shared stats, if any). */
  get counters(): Readonly<UdpCounters> {
    return this.counts;
  }

  /**
   * Binds the reactor's socket to `host:port` (an IP literal; port 0 picks one) and returns the address bound.
   * With `reusePort`, several reactors bind the same port and the kernel spreads datagrams between them by flow.
   */
  bind(host: string, port: number, options: UdpBindOptions = {}): SocketAddress {
    if (this.socketFd >= 0) throw new SocketStateError('this UDP reactor is bound already');
    if (this.stopped) throw new SocketStateError('bind() on a stopped UDP reactor');
    const { fd, family } = openUdp(host, port, { ...this.buffers, ...options });
    this.fds.opened(fd);
    this.socketFd = fd;
    const address = localAddress(fd);
    const queue = new UdpSendQueue(fd, family, this.sendQueueBytes, this.counts);
    this.sendQueue = queue;
    const counts = this.counts;
    this.boundSocket = {
      reactorId: this.id,
      address,
      send: (bytes, to) => {
        if (this.stopped) throw new SocketStateError('send() on a stopped UDP reactor');
        if (queue.push(bytes, to)) return true;
        counts.sendDropped++;
        return false;
      },
      sendSegments: (bytes, segmentSize, to) => {
        if (this.stopped) throw new SocketStateError('sendSegments() on a stopped UDP reactor');
        assertNumber('segmentSize', segmentSize, { min: 1, max: MAX_DATAGRAM_IPV6, integer: true });
        if (queue.push(bytes, to, segmentSize)) return true;
        counts.sendDropped += Math.max(1, Math.ceil((bytes as ArrayBuffer).byteLength / segmentSize));
        return false;
      },
    };
    this.epoll.add(fd, EPOLLIN);
    return address;
  }

  /** The bound socket (what handlers are given), to send from outside `onMessage` on this reactor's thread. */
  get socket(): UdpSocket {
    if (this.boundSocket === undefined) throw new SocketStateError('the UDP reactor is not bound yet');
    return this.boundSocket;
  }

  /** Runs the loop until {@link stop}. */
  async run(): Promise<void> {
    if (this.running) throw new SocketStateError('UDP reactor is already running');
    if (this.stopped) throw new SocketStateError('run() on a stopped UDP reactor');
    if (this.socketFd < 0) throw new SocketStateError('run() before bind()');
    this.running = true;
    let lastYield = performance.now();
    try {
      // Here rather than in bind(): a server knows this reactor's descriptors by now, and closes them if this
      // callback never returns or ends the thread.
      try {
        this.handler.onListening?.(this.boundSocket!);
      } catch (error) {
        this.handlerFailed(error, undefined);
      }
      while (this.running) {
        // Datagrams sent from outside a batch (a timer) go out at once, not after the wait.
        const ready = this.epoll.wait(this.sendQueue?.sendable === true ? 0 : this.maxWaitMs);
        for (let i = 0; i < ready; i++) {
          const fd = this.epoll.eventFd(i);
          if (fd === this.wakeFd) {
            drainEventFd(this.wakeFd);
            this.onWake?.();
          } else {
            const mask = this.epoll.eventMask(i);
            if ((mask & EPOLLIN) !== 0) this.receive();
            // A pending socket error (an ICMP error the kernel queued) is reported until read: read it, count it.
            if ((mask & EPOLLERR) !== 0 && getIntOption(this.socketFd, 'SO_ERROR') !== 0) this.counts.sendErrors++;
          }
        }
        this.flush();
        this.counts.turns++;
        const now = performance.now();
        if (ready === 0 || now - lastYield >= YIELD_EVERY_MS) {
          this.publishStats();
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
    } finally {
      this.release();
    }
  }

  /**
   * Ends the loop after its current turn (datagrams already queued get one more chance to go out), and closes
   * the socket. A reactor that is not running closes at once. Idempotent.
   */
  stop(): void {
    if (this.stopped) return;
    if (!this.running) {
      this.release();
      return;
    }
    this.running = false;
    signalEventFd(this.wakeFd);
  }

  /** Handles up to {@link BATCHES_PER_EVENT} batches; the replies of each go out before the next is taken. */
  private receive(): void {
    const vector = this.received;
    const words = vector.words;
    const socket = this.boundSocket!;
    const counts = this.counts;
    for (let batch = 0; batch < BATCHES_PER_EVENT && this.running; batch++) {
      const count = vector.receive(this.socketFd, this.batchSize, this.gro);
      counts.receiveCalls++;
      if (count <= 0) return;
      for (let i = 0; i < count; i++) {
        if ((vector.messageFlags(i) & MSG_TRUNC) !== 0) {
          counts.truncated++;
          continue;
        }
        const length = vector.messageLength(i);
        const start = i * this.maxMessageSize;
        const from = readPeer(words, vector.nameOffset(i) >> 2);
        // Coalesced datagrams (UDP_GRO) are cut back into the datagrams they were, all from the same sender.
        const size = this.gro ? vector.coalescedSize(i) : 0;
        const step = size > 0 && size < length ? size : Math.max(length, 1);
        for (let offset = 0; offset < length || offset === 0; offset += step) {
          const end = Math.min(length, offset + step);
          counts.received++;
          counts.bytesReceived += end - offset;
          this.deliver(socket, this.receiveMemory.subarray(start + offset, start + end), from);
        }
      }
      this.flush();
      if (count < this.batchSize) return;
    }
  }

  private deliver(socket: UdpSocket, bytes: Buffer, from: UdpPeer): void {
    try {
      const result: unknown = this.handler.onMessage(socket, bytes, from);
      // An async handler's rejection is its error too (left alone it would end the thread).
      if (result instanceof Promise) result.catch((error: unknown) => this.handlerFailed(error, from));
    } catch (error) {
      this.handlerFailed(error, from);
    }
  }

  /**
   * Counts an error of the handler's code and gives it to `onError`. Public for the server's thread entry, which
   * routes errors of the thread's other code (timers, events) here instead of letting them end the thread.
   * @internal
   */
  handlerFailed(error: unknown, from: UdpPeer | undefined): void {
    this.counts.handlerErrors++;
    if (this.boundSocket === undefined) return;
    try {
      this.handler.onError?.(this.boundSocket!, error, from);
    } catch {
      // An error handler that throws has nobody left to tell; the datagram is counted in handlerErrors.
    }
  }

  /** Sends what handlers queued; watches for writability while the kernel takes no more. */
  private flush(): void {
    const queue = this.sendQueue;
    if (queue === undefined || !queue.pending) return;
    const done = queue.flush();
    if (done === this.writeWatched) {
      this.writeWatched = !done;
      this.epoll.modify(this.socketFd, done ? EPOLLIN : EPOLLIN | EPOLLOUT);
    }
  }

  private publishStats(): void {
    this.stats?.publish(this.id, this.counts, this.published);
  }

  private release(): void {
    if (this.stopped) return;
    this.running = false;
    this.flush();
    this.stopped = true;
    this.publishStats();
    if (this.socketFd >= 0) this.fds.close(this.socketFd);
    this.fds.close(this.wakeFd);
    this.fds.close(this.epoll.fd);
  }
}

