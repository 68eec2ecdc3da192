/**
 * One epoll loop on one thread: a listener, a table of connections indexed by fd, level-triggered events
 * (Netty's measurements found edge-triggered not worth its extra reads), reads into one slab (see ReadSlab),
 * outbound queues flushed together at the end of each loop turn, and reading paused per connection while its
 * peer is not keeping up.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { TimeoutError } from '@x/core';
import { type ConnectionOwner, ReactorConnection } from './connection.js';
import { SocketStateError, SyscallError } from './errors.js';
import { type Handler } from './handler.js';
import { type SocketAddress } from './libc/address.js';
import { currentCpu } from './libc/affinity.js';
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, Epoll } from './libc/epoll.js';
import { IoVector, createEventFd, drainEventFd, signalEventFd } from './libc/io.js';
import {
  SHUT_WR,
  type SocketOptionName,
  acceptConnection,
  acceptedPeer,
  attachCpuSteering,
  connectTcp,
  getIntOption,
  listenTcp,
  localAddress,
  setIntOption,
  shutdownSocket,
} from './libc/sockets.js';
import { type FdOwner, UNRECORDED } from './fd-ledger.js';
import { type FlushTally } from './outbound.js';
import { PipePool } from './pipe-pool.js';
import { ReadSlab } from './read-slab.js';
import { SplicePair } from './splice-proxy.js';
import { STAT_FIELDS, type ReactorStats } from './stats.js';
import { type ReactorOptions, checkReactorOptions } from './reactor-options.js';

export type { ReactorOptions, ConnectionSocketOptions } from './reactor-options.js';

/** Read once more after a read that filled the buffer; otherwise leave the rest to the next (level-triggered) event. */
const MAX_READS_PER_EVENT = 4;
/** Reads of `readBufferSize` that fit in the read slab before it wraps (512 KiB with the default size). */
export const READ_SLAB_CHUNKS = 8;
/** Let other event-loop work (timers, messages) run at least this often while busy. */
const YIELD_EVERY_MS = 2;
/** How long accepting stays off after the process ran out of file descriptors, unless one is freed sooner. */
const ACCEPT_RETRY_MS = 100;
/** accept(2) errors that say the process or the system is out of a resource, not that one connection failed. */
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/**
 * An epoll reactor. Normally created by `createServer` inside each worker thread; usable directly in a thread
 * you own (its loop blocks that thread between events).
 *
 * @example
 * ```ts
 * const reactor = new Reactor({ onData: (conn, bytes) => conn.write(bytes) });
 * const { port } = reactor.listen('127.0.0.1', 0);
 * await reactor.run(); // until reactor.shutdown() / reactor.stop()
 * ```
 */
// Not `implements SplicePairOwner`: its methods are internal (stripped from the published types), and a declared
// interface whose members the .d.ts no longer shows fails a user's type check (skipLibCheck off).
export class Reactor implements ConnectionOwner {
  readonly id: number;
  private readonly epoll: Epoll;
  private readonly connections: (ReactorConnection | undefined)[] = [];
  private readonly pairs: (SplicePair | undefined)[] = [];
  private readonly pipes: PipePool;
  /** Records the descriptors this reactor opens, for its server (see FdLedger). */
  private readonly fds: FdOwner;
  private readonly proxyTo: { host: string; port: number } | undefined;
  private readonly socketOptions: [SocketOptionName, number][];
  private readonly listeners = new Set<number>();
  private readonly wakeFd: number;
  private readonly slab: ReadSlab;
  /** Connections whose socket refused part of their queue: they may hold views of the slab across turns. */
  private readonly writeBlocked = new Set<ReactorConnection>();
  private readonly iov = new IoVector();
  private readonly flushTally: FlushTally = { written: 0, calls: 0 };
  private readonly highWaterMark: number;
  private readonly lowWaterMark: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly maxWaitMs: number;
  private readonly counts = Object.fromEntries(STAT_FIELDS.map((name) => [name, 0])) as Record<(typeof STAT_FIELDS)[number], number>;
  private readonly stats: ReactorStats | undefined;
  private readonly published = Object.fromEntries(STAT_FIELDS.map((name) => [name, 0])) as Record<(typeof STAT_FIELDS)[number], number>;
  private dirty: ReactorConnection[] = [];
  private dispatching: ReactorConnection | undefined;
  private openCount = 0;
  private now = performance.now();
  private nextIdleCheck = Infinity;
  private running = false;
  private stopping = false;
  private shutdownDeadline = Infinity;
  /**
   * Sockets closed while a batch of events is dispatched: closed for real once the batch is done, so that no
   * socket accepted in the same batch takes the number of one with an event still to come in it (that event,
   * an EPOLLERR say, would be served to the new connection).
   */
  private readonly closeAfterBatch: number[] = [];
  private inBatch = false;
  /** While out of file descriptors, listeners are out of epoll (a readable listener would wake every turn) until then. */
  private acceptResumesAt = Infinity;
  private readonly cpu = currentCpu();
  /** Called with the wake fd's count whenever another thread signals it. */
  onWake: (() => void) | undefined;

  constructor(
    private readonly handler: Handler,
    options: ReactorOptions = {},
  ) {
    const settings = checkReactorOptions(options);
    this.id = settings.id;
    this.highWaterMark = settings.highWaterMark;
    this.lowWaterMark = settings.lowWaterMark;
    this.idleTimeoutMs = settings.idleTimeoutMs;
    this.connectTimeoutMs = settings.connectTimeoutMs;
    this.maxWaitMs = settings.maxWaitMs;
    this.stats = options.stats;
    this.proxyTo = options.proxyTo;
    this.socketOptions = settings.socketOptions;
    this.fds = options.fds ?? UNRECORDED;
    this.pipes = new PipePool(settings.pipeSize, this.fds);
    if (this.idleTimeoutMs > 0 || this.connectTimeoutMs > 0) this.nextIdleCheck = this.now + this.idleCheckInterval();
    // File descriptors last, once every option is known to be valid: a throwing constructor leaks nothing.
    this.slab = new ReadSlab(settings.readBufferSize, READ_SLAB_CHUNKS);
    this.epoll = new Epoll();
    this.fds.opened(this.epoll.fd);
    this.wakeFd = createEventFd();
    this.fds.opened(this.wakeFd);
    this.epoll.add(this.wakeFd, EPOLLIN);
  }

  /** The eventfd another thread writes to (signalEventFd) to wake this reactor. */
  get wakeupFd(): number {
    return this.wakeFd;
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.openCount;
  }

  /** This reactor's counters since it started (also published to the shared stats, if any). */
  get counters(): Readonly<Record<(typeof STAT_FIELDS)[number], number>> {
    return this.counts;
  }

  /** Binds a listener (SO_REUSEPORT when `reusePort`), optionally steering by CPU (SO_INCOMING_CPU). */
  listen(
    host: string,
    port: number,
    options: { reusePort?: boolean; backlog?: number; incomingCpu?: number; cpuSteeringProgram?: boolean } = {},
  ): SocketAddress {
    if (this.stopping) throw new SocketStateError('listen on a reactor that is shutting down');
    const fd = listenTcp(host, port, options);
    this.fds.opened(fd);
    try {
      if (options.incomingCpu !== undefined) setIntOption(fd, 'SO_INCOMING_CPU', options.incomingCpu);
      if (options.cpuSteeringProgram === true) attachCpuSteering(fd);
    } catch (error) {
      this.fds.close(fd);
      throw error;
    }
    this.listeners.add(fd);
    this.epoll.add(fd, EPOLLIN);
    return localAddress(fd);
  }

  /** Serves an fd connected elsewhere (a client connection, one end of a socketpair). */
  adopt(fd: number): ReactorConnection {
    this.fds.opened(fd);
    return this.open(fd);
  }

  /**
   * Joins two connected sockets with splice(2) in both directions; the reactor owns (and closes) both fds from
   * now on, also when this throws (no fds left for the pair's pipes, say). Returns the pair, whose `moved`
   * counts the bytes each way.
   */
  proxy(clientFd: number, upstreamFd: number): SplicePair {
    this.fds.opened(clientFd);
    this.fds.opened(upstreamFd);
    return this.pair(clientFd, upstreamFd, false);
  }

  /** @internal */
  setInterest(fd: number, interest: number, adding: boolean): void {
    if (adding) this.epoll.add(fd, interest);
    else this.epoll.modify(fd, interest);
  }

  /** @internal Takes a socket out of epoll and closes it (after the current batch of events, see closeAfterBatch). */
  closeSocket(fd: number): void {
    this.epoll.remove(fd);
    if (this.inBatch) this.closeAfterBatch.push(fd);
    else this.fds.close(fd);
  }

  /** @internal */
  pairClosed(pair: SplicePair, error?: Error): void {
    this.pairs[pair.client] = undefined;
    this.pairs[pair.upstream] = undefined;
    this.openCount--;
    this.counts.open--;
    this.counts.closed++;
    const moved = pair.moved;
    this.counts.bytesRead += moved.up + moved.down;
    this.counts.bytesWritten += moved.up + moved.down;
    // No handler runs in proxy mode: the one failure counted as an error is an upstream that could not be reached
    // (refused, unreachable). Resets by either peer and closes at a shutdown's deadline are how pairs end, as for
    // connections; an idle or connect timeout is counted as such (idleClosed).
    if (pair.connecting && error instanceof SyscallError && error.syscall === 'connect') this.counts.handlerErrors++;
    this.fdFreed();
  }

  /** Makes a pair, or closes both fds and throws: either way the caller no longer owns them. */
  private pair(clientFd: number, upstreamFd: number, connecting: boolean): SplicePair {
    let pair: SplicePair;
    try {
      pair = new SplicePair(clientFd, upstreamFd, this.pipes, this, connecting, this.now);
    } catch (error) {
      this.fds.close(clientFd);
      this.fds.close(upstreamFd);
      throw error;
    }
    this.pairs[clientFd] = pair;
    this.pairs[upstreamFd] = pair;
    this.openCount++;
    this.counts.open++;
    return pair;
  }

  /** Runs the loop until {@link stop}, or until {@link shutdown} has closed every connection. */
  async run(): Promise<void> {
    if (this.running) throw new SocketStateError('reactor is already running');
    this.running = true;
    let lastYield = performance.now();
    try {
      while (this.running) {
        const ready = this.epoll.wait(this.waitTimeout());
        this.now = performance.now();
        this.reuseSlab();
        this.inBatch = true;
        try {
          for (let i = 0; i < ready; i++) this.dispatch(this.epoll.eventFd(i), this.epoll.eventMask(i));
        } finally {
          this.inBatch = false;
          this.closeDeferred();
        }
        this.flushDirty();
        if (this.now >= this.nextIdleCheck) this.closeIdle();
        if (this.now >= this.acceptResumesAt) this.resumeAccepting();
        if (this.stopping && (this.openCount === 0 || this.now >= this.shutdownDeadline)) this.finishShutdown();
        this.counts.turns++;
        if (ready === 0 || this.now - lastYield >= YIELD_EVERY_MS) {
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
   * Stops accepting and asks every connection to finish (`onShutdown`, default `end()`); connections still open
   * after `graceMs` are closed. {@link run} resolves when none is left.
   */
  shutdown(graceMs = 5000): void {
    if (this.stopping) return;
    this.stopping = true;
    this.shutdownDeadline = performance.now() + graceMs;
    for (const fd of this.listeners) this.closeListener(fd);
    for (const connection of this.connections) {
      if (connection === undefined) continue;
      this.guard(connection, () => (this.handler.onShutdown ?? ((c: ReactorConnection) => c.end()))(connection));
    }
    this.flushDirty();
  }

  /** Closes everything now; {@link run} resolves after its current turn. */
  stop(): void {
    this.stopping = true;
    this.shutdownDeadline = 0;
    this.running = false;
    signalEventFd(this.wakeFd);
  }

  queued(connection: ReactorConnection): void {
    // Views of the read slab stay valid until it wraps, and wrapping copies what is still queued: nothing to do.
    if (connection !== this.dispatching) this.markDirty(connection);
  }

  /**
   * At the start of a turn the previous turn's replies have been flushed: unless a connection is still waiting
   * to write, no queued byte refers to the slab and it starts again at no cost. Otherwise it runs on, and wraps
   * (copying what those connections hold) only once full.
   */
  private reuseSlab(): void {
    if (this.slab.inUse && this.writeBlocked.size === 0 && this.dirty.length === 0) this.slab.wrap();
  }

  /** Copies every queued view of the slab out of it, then wraps it. */
  private wrapSlab(): void {
    const shared = this.slab.arrayBuffer;
    for (const connection of this.dirty) connection.outbound.detachFrom(shared);
    for (const connection of this.writeBlocked) connection.outbound.detachFrom(shared);
    this.slab.wrap();
  }

  private markDirty(connection: ReactorConnection): void {
    if (connection.dirty) return;
    connection.dirty = true;
    this.dirty.push(connection);
  }

  endConnection(connection: ReactorConnection): void {
    this.queued(connection);
  }

  destroyConnection(connection: ReactorConnection, error?: Error): void {
    if (connection.isClosed) return;
    connection.markClosed();
    this.writeBlocked.delete(connection);
    this.closeSocket(connection.fd);
    connection.outbound.discard();
    this.connections[connection.fd] = undefined;
    this.openCount--;
    this.counts.open--;
    this.counts.closed++;
    this.fdFreed();
    try {
      this.handler.onClose?.(connection, error);
    } catch {
      this.counts.handlerErrors++;
    }
  }

  private dispatch(fd: number, mask: number): void {
    const connection = this.connections[fd];
    if (connection !== undefined) {
      this.serve(connection, mask);
      return;
    }
    const pair = this.pairs[fd];
    if (pair !== undefined) {
      pair.serve(fd, mask, this.now);
      return;
    }
    if (fd === this.wakeFd) {
      drainEventFd(fd);
      this.onWake?.();
      return;
    }
    if (this.listeners.has(fd)) this.acceptAll(fd);
  }

  private acceptAll(listenerFd: number): void {
    // Bounded so one listener cannot starve the connections already open in this turn.
    for (let i = 0; i < 64; i++) {
      let fd: number;
      try {
        fd = acceptConnection(listenerFd);
      } catch (error) {
        if (!(error instanceof SyscallError)) throw error;
        // Out of descriptors: the connection stays in the backlog, and the listener, still readable, would wake
        // every turn (a busy loop). Listen again once a descriptor is freed, or after a while.
        if (OUT_OF_RESOURCES.has(error.errno)) this.pauseAccepting();
        // Other errors (ECONNABORTED, EPERM from a firewall) concern that one connection: the next turn goes on.
        return;
      }
      if (fd < 0) return;
      this.fds.opened(fd);
      this.counts.accepted++;
      if (this.proxyTo === undefined) {
        this.open(fd, acceptedPeer());
        continue;
      }
      let upstream: number;
      try {
        this.applySocketOptions(fd);
        upstream = connectTcp(this.proxyTo.host, this.proxyTo.port);
        this.fds.opened(upstream);
      } catch (error) {
        // The upstream refused at once (no route, no fds): drop this client. Out of descriptors, accept no more
        // until one is freed: the clients behind it wait in the backlog instead of being dropped one by one.
        this.fds.close(fd);
        this.dropped(error);
        if (this.acceptResumesAt !== Infinity) return;
        continue;
      }
      try {
        this.pair(fd, upstream, true);
      } catch (error) {
        // No fds for its pipes, say: pair() closed both sockets.
        this.dropped(error);
        if (this.acceptResumesAt !== Infinity) return;
      }
    }
  }

  /** A proxied client closed before its pair existed: counted as closed with an error; out of fds, accepting pauses. */
  private dropped(error: unknown): void {
    this.counts.closed++;
    this.counts.handlerErrors++;
    if (error instanceof SyscallError && OUT_OF_RESOURCES.has(error.errno)) this.pauseAccepting();
  }

  private open(fd: number, peer?: Buffer): ReactorConnection {
    this.applySocketOptions(fd);
    const connection = new ReactorConnection(fd, this, this.cpu, this.highWaterMark);
    if (peer !== undefined) connection.acceptedFrom(peer);
    connection.lastActive = this.now;
    this.connections[fd] = connection;
    this.openCount++;
    this.counts.open++;
    this.setConnectionInterest(connection, EPOLLIN, true);
    if (this.handler.onOpen !== undefined) this.guard(connection, () => this.handler.onOpen!(connection));
    return connection;
  }

  private applySocketOptions(fd: number): void {
    for (const [name, value] of this.socketOptions) setIntOption(fd, name, value);
  }

  private serve(connection: ReactorConnection, mask: number): void {
    if ((mask & EPOLLERR) !== 0) {
      const errno = getIntOption(connection.fd, 'SO_ERROR');
      this.destroyConnection(connection, errno === 0 ? undefined : new SyscallError('socket', errno));
      return;
    }
    if ((mask & EPOLLHUP) !== 0 && connection.readEnded) {
      // Both directions are gone and nothing more can be read: level-triggered HUP would otherwise repeat forever.
      this.destroyConnection(connection);
      return;
    }
    connection.lastActive = this.now;
    if ((mask & EPOLLOUT) !== 0) this.flush(connection);
    if (connection.isClosed || (mask & ~EPOLLOUT) === 0 || connection.readPaused || connection.readEnded) return;
    this.readFrom(connection);
  }

  private readFrom(connection: ReactorConnection): void {
    const slab = this.slab;
    for (let reads = 0; reads < MAX_READS_PER_EVENT; reads++) {
      if (slab.full) this.wrapSlab();
      let count: number;
      try {
        count = slab.read(connection.fd);
      } catch (error) {
        this.destroyConnection(connection, error as Error);
        return;
      }
      this.counts.readCalls++;
      if (count < 0) break;
      if (count === 0) {
        this.peerEnded(connection);
        return;
      }
      this.counts.bytesRead += count;
      if (connection.state !== 'open') {
        // After end() the handler is done with this connection: what the peer still sends is read (closing with
        // unread bytes would reset the connection, and the peer could lose the replies still in flight) and
        // dropped. The connection closes when the peer ends too, or at the shutdown's grace deadline.
        this.counts.bytesDiscarded += count;
        if (count < slab.chunkSize) break;
        continue;
      }
      this.dispatching = connection;
      try {
        const result: unknown = this.handler.onData(connection, slab.take(count));
        if (result !== undefined) this.failOnRejection(connection, result);
      } catch (error) {
        this.dispatching = undefined;
        this.handlerFailed(connection, error);
        return;
      } finally {
        this.dispatching = undefined;
      }
      if (connection.isClosed) return;
      // Replies go out at the end of the turn, all connections' together (six A/B runs of the echo load here:
      // +2 % to +44 % requests per second, median about +10 %, against writing right after each read); a queue at
      // the high-water mark is flushed now, so that reading pauses before the queue grows further.
      if (connection.outbound.bytes >= this.highWaterMark) this.flush(connection);
      else if (!connection.outbound.isEmpty || connection.state !== 'open') this.markDirty(connection);
      if (count < slab.chunkSize || connection.readPaused || connection.state !== 'open') break;
    }
  }

  private peerEnded(connection: ReactorConnection): void {
    connection.readEnded = true;
    this.setConnectionInterest(connection, connection.interest & ~EPOLLIN);
    if (connection.state === 'ending' && connection.outbound.isEmpty) {
      this.destroyConnection(connection);
      return;
    }
    this.guard(connection, () => (this.handler.onEnd ?? ((c: ReactorConnection) => c.end()))(connection));
    if (connection.state !== 'closed') this.flush(connection);
  }

  private flush(connection: ReactorConnection): void {
    if (connection.isClosed) return;
    if (!connection.outbound.isEmpty) {
      const wasAbove = connection.outbound.bytes >= this.highWaterMark;
      const tally = this.flushTally;
      tally.written = 0;
      tally.calls = 0;
      let blocked;
      try {
        blocked = connection.outbound.flush(connection.fd, this.iov, tally);
      } catch (error) {
        this.countFlush(connection, tally);
        this.destroyConnection(connection, error as Error);
        return;
      }
      this.countFlush(connection, tally);
      if (blocked) {
        this.writeBlocked.add(connection);
        if (!connection.readPaused && connection.outbound.bytes >= this.highWaterMark) {
          connection.readPaused = true;
          this.counts.readPauses++;
        }
        this.setConnectionInterest(connection, (connection.readPaused || connection.readEnded ? 0 : EPOLLIN) | EPOLLOUT);
        return;
      }
      if (this.writeBlocked.size !== 0) this.writeBlocked.delete(connection);
      if (connection.readPaused || wasAbove) this.drained(connection);
    } else if (connection.readPaused && connection.outbound.bytes <= this.lowWaterMark) {
      this.drained(connection);
    }
    if (connection.isClosed) return;
    if (connection.state === 'ending' && !connection.writeShut) {
      connection.writeShut = true;
      shutdownSocket(connection.fd, SHUT_WR);
      if (connection.readEnded) {
        this.destroyConnection(connection);
        return;
      }
    }
    this.setConnectionInterest(connection, connection.readEnded || connection.readPaused ? 0 : EPOLLIN);
  }

  private countFlush(connection: ReactorConnection, tally: FlushTally): void {
    this.counts.writeCalls += tally.calls;
    this.counts.bytesWritten += tally.written;
    if (tally.written > 0) connection.lastActive = this.now;
  }

  private drained(connection: ReactorConnection): void {
    if (connection.outbound.bytes > this.lowWaterMark) return;
    connection.readPaused = false;
    if (this.handler.onDrain !== undefined) this.guard(connection, () => this.handler.onDrain!(connection));
  }

  private flushDirty(): void {
    if (this.dirty.length === 0) return;
    const dirty = this.dirty;
    this.dirty = [];
    for (const connection of dirty) {
      connection.dirty = false;
      this.flush(connection);
    }
  }

  private setConnectionInterest(connection: ReactorConnection, interest: number, adding = false): void {
    if (!adding && connection.interest === interest) return;
    connection.interest = interest;
    if (adding) this.epoll.add(connection.fd, interest);
    else this.epoll.modify(connection.fd, interest);
  }

  private guard(connection: ReactorConnection, callback: () => unknown): void {
    try {
      const result = callback();
      if (result !== undefined) this.failOnRejection(connection, result);
    } catch (error) {
      this.handlerFailed(connection, error);
    }
  }

  /** An async callback's rejection fails its connection as a throw would (counted, closed, given to onClose). */
  private failOnRejection(connection: ReactorConnection, result: unknown): void {
    if (typeof (result as PromiseLike<unknown> | null)?.then !== 'function') return;
    (result as PromiseLike<unknown>).then(undefined, (error: unknown) => {
      if (connection.isClosed) this.counts.handlerErrors++;
      else this.handlerFailed(connection, error);
    });
  }

  /**
   * @internal An error of the handler's code outside any callback of a connection (a timer, a promise nobody
   * awaited): counted in handlerErrors. The server's thread entry reports them here.
   */
  countHandlerError(): void {
    this.counts.handlerErrors++;
  }

  private handlerFailed(connection: ReactorConnection, error: unknown): void {
    this.counts.handlerErrors++;
    this.destroyConnection(connection, error instanceof Error ? error : new Error(String(error)));
  }

  private idleCheckInterval(): number {
    const shortest = Math.min(this.idleTimeoutMs > 0 ? this.idleTimeoutMs : Infinity, this.connectTimeoutMs > 0 ? this.connectTimeoutMs : Infinity);
    return Math.max(10, shortest / 4);
  }

  /** Closes connections and proxied pairs idle past idleTimeoutMs, and pairs still connecting past connectTimeoutMs. */
  private closeIdle(): void {
    this.nextIdleCheck = this.now + this.idleCheckInterval();
    const idleTimeout = this.idleTimeoutMs;
    const cutoff = idleTimeout > 0 ? this.now - idleTimeout : -Infinity;
    if (idleTimeout > 0) {
      for (const connection of this.connections) {
        if (connection === undefined || connection.lastActive > cutoff) continue;
        this.counts.idleClosed++;
        this.destroyConnection(connection, new TimeoutError(idleTimeout, `connection idle for ${idleTimeout} ms`));
      }
    }
    const connectCutoff = this.connectTimeoutMs > 0 ? this.now - this.connectTimeoutMs : -Infinity;
    for (let fd = 0; fd < this.pairs.length; fd++) {
      const pair = this.pairs[fd];
      // Each pair sits at two indexes: visit it at its client's.
      if (pair === undefined || pair.client !== fd) continue;
      if (pair.connecting && pair.startedAt <= connectCutoff) {
        pair.close(new TimeoutError(this.connectTimeoutMs, `upstream connect took over ${this.connectTimeoutMs} ms`));
      } else if (pair.lastActive <= cutoff) {
        this.counts.idleClosed++;
        pair.close(new TimeoutError(idleTimeout, `proxied connection idle for ${idleTimeout} ms`));
      }
    }
  }

  /** Takes every listener out of epoll until a descriptor is freed or ACCEPT_RETRY_MS pass. */
  private pauseAccepting(): void {
    if (this.acceptResumesAt !== Infinity) return;
    this.acceptResumesAt = this.now + ACCEPT_RETRY_MS;
    this.counts.acceptPauses++;
    for (const fd of this.listeners) this.epoll.modify(fd, 0);
  }

  private resumeAccepting(): void {
    if (this.acceptResumesAt === Infinity) return;
    this.acceptResumesAt = Infinity;
    for (const fd of this.listeners) this.epoll.modify(fd, EPOLLIN);
  }

  /** A descriptor was closed: a paused accept may succeed now (at the end of this turn, when it really is closed). */
  private fdFreed(): void {
    if (this.acceptResumesAt !== Infinity) this.acceptResumesAt = this.now;
  }

  private closeDeferred(): void {
    for (const fd of this.closeAfterBatch) this.fds.close(fd);
    this.closeAfterBatch.length = 0;
  }

  private waitTimeout(): number {
    if (this.dirty.length > 0 || !this.running) return 0;
    let timeout = this.maxWaitMs;
    if (this.nextIdleCheck !== Infinity) timeout = Math.min(timeout, Math.max(0, Math.ceil(this.nextIdleCheck - this.now)));
    if (this.acceptResumesAt !== Infinity) timeout = Math.min(timeout, Math.max(0, Math.ceil(this.acceptResumesAt - this.now)));
    if (this.stopping) timeout = Math.min(timeout, Math.max(0, Math.ceil(this.shutdownDeadline - this.now)));
    return timeout;
  }

  private finishShutdown(): void {
    for (const pair of this.pairs) pair?.close(new SocketStateError('server shut down before the connection finished'));
    for (const connection of this.connections) {
      if (connection !== undefined) this.destroyConnection(connection, new SocketStateError('server shut down before the connection finished'));
    }
    this.running = false;
  }

  private closeListener(fd: number): void {
    this.listeners.delete(fd);
    this.closeSocket(fd);
  }

  private publishStats(): void {
    if (this.stats === undefined) return;
    // After a turn's flush, what is still queued sits on connections the kernel refused: a few, looked at here
    // rather than counted on every write.
    let queued = 0;
    for (const connection of this.writeBlocked) queued += connection.outbound.bytes;
    this.counts.queuedBytes = queued;
    this.stats.publish(this.id, this.counts, this.published);
  }

  private release(): void {
    for (const pair of this.pairs) pair?.close();
    for (const connection of this.connections) if (connection !== undefined) this.destroyConnection(connection);
    this.pipes.close();
    for (const fd of this.listeners) this.closeListener(fd);
    this.closeDeferred();
    this.publishStats();
    this.fds.close(this.wakeFd);
    this.fds.close(this.epoll.fd);
  }
}

