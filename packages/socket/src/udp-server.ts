/**
 * `createUdpServer`: N UDP reactors on N worker threads, each with its own socket in one SO_REUSEPORT group on
 * the same port, so the kernel spreads datagrams across them by flow (or by receiving CPU, with steering) and no
 * thread hands a datagram to another.
 */
import { resolve } from 'node:path';
import { assertKnownKeys, assertNumber } from '@x/core';
import { SocketStateError } from './errors.js';
import { assertSupported } from './libc/library.js';
import { ReactorThreads } from './reactor-threads.js';
import { type PlacementOptions, checkAddress, checkHandlerOptions, checkPlacement, cpuForReactor, handlerPath, resolveHost } from './server-common.js';
import { type UdpCounters, UdpStats } from './stats.js';
import { watchUdpServer } from './telemetry.js';
import { type UdpReactorOptions, checkUdpReactorOptions } from './udp-reactor.js';
import { Command, type SharedWithThread, type UdpWorkerData } from './worker-protocol.js';

/** Options of {@link createUdpServer}. */
export interface UdpServerOptions extends Omit<UdpReactorOptions, 'id' | 'stats'>, PlacementOptions {
  /**
   * Path or file URL of the handler module each reactor thread loads (it exports `handler` or
   * `createHandler(context)`; see {@link UdpHandlerModule}). A module, not a function: threads share no closures.
   */
  handler: string | URL;
  /** Passed to `createHandler` in every thread (structured clone). */
  handlerOptions?: unknown;
  /** Reactor threads. Default 1. */
  reactors?: number;
  /** Address to bind: an IP literal (`::` for every IPv6 and IPv4 address) or a name resolved once. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one (shared by all reactors). Default 0. */
  port?: number;
}

const OPTION_KEYS = ['handler', 'handlerOptions', 'reactors', 'host', 'port', 'pinCpus', 'steering', 'batchSize', 'maxMessageSize', 'sendQueueBytes', 'maxWaitMs', 'receiveBufferBytes', 'sendBufferBytes', 'gro'];

/** Where the UDP reactor threads' compiled entry lives: next to this file once built; from sources, in the build. */
const WORKER_ENTRY = resolve(__dirname, '..', 'dist', 'udp-worker.js');

/** One UDP reactor as the main thread sees it. */
export interface UdpReactorInfo {
  id: number;
  /** The CPU it is pinned to, if any. */
  cpu: number | undefined;
  /**
   * False once its thread has ended: after close(), or before, when its handler ended it (`process.exit()`).
   * The other reactors of the port's group then take its flows; with none left, nothing answers.
   */
  running: boolean;
  counters: UdpCounters;
}

/** How long close() waits for a reactor thread before terminating it (a handler stuck in a loop). */
const STOP_TIMEOUT_MS = 2000;

/** A multi-reactor UDP server. Create it with {@link createUdpServer}. */
export class UdpServer implements AsyncDisposable {
  private readonly threads: ReactorThreads<UdpWorkerData>;
  private readonly stats: UdpStats;
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new';
  private bound: { host: string; port: number } | undefined;
  private closing: Promise<void> | undefined;
  private readonly reactorCount: number;
  private readonly handlerModule: string;
  /** Ends this server's place in the metrics (set once it listens). */
  private unwatch: () => void = () => undefined;

  /** @internal Made by {@link createUdpServer}. */
  constructor(private readonly options: UdpServerOptions) {
    assertKnownKeys('options', options, OPTION_KEYS);
    this.handlerModule = handlerPath(options.handler);
    this.reactorCount = assertNumber('options.reactors', options.reactors ?? 1, { min: 1, max: 1024, integer: true });
    checkAddress(options);
    checkPlacement(options);
    checkUdpReactorOptions(this.reactorOptions());
    checkHandlerOptions(options.handlerOptions);
    this.stats = new UdpStats(this.reactorCount);
    this.threads = new ReactorThreads({ serverName: 'UDP server', entry: WORKER_ENTRY, count: this.reactorCount, workerData: (id, host, port, shared) => this.workerData(id, host, port, shared) });
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } {
    if (this.bound === undefined) throw new SocketStateError('the UDP server is not listening');
    return this.bound;
  }

  /**
   * Starts the reactor threads and binds every socket. Resolves with the address once all reactors receive.
   * Rejects (and stops what started) if a thread fails: handler module missing, port in use, no koffi.
   */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.state !== 'new') throw new SocketStateError(`listen() on a UDP server that is ${this.state}`);
    assertSupported();
    this.state = 'listening';
    try {
      const address = await this.startAll();
      this.unwatch = watchUdpServer(this, address.port, this.stats);
      return address;
    } catch (error) {
      await this.close().catch(() => undefined);
      throw error;
    }
  }

  /** Per-reactor counters (read from shared memory, no message round trip; published every few ms). */
  reactorInfo(): UdpReactorInfo[] {
    return Array.from({ length: this.reactorCount }, (_, id) => ({ id, ...this.threads.info(id), counters: this.stats.read(id) }));
  }

  /** Counters summed over all reactors. */
  totals(): UdpCounters {
    return this.stats.total();
  }

  /** Stops every reactor (datagrams already queued get one more chance to go out) and ends the threads. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private reactorOptions(): Omit<UdpReactorOptions, 'id' | 'stats'> {
    const picked: Omit<UdpReactorOptions, 'id' | 'stats'> = {};
    for (const key of ['batchSize', 'maxMessageSize', 'sendQueueBytes', 'maxWaitMs', 'receiveBufferBytes', 'sendBufferBytes'] as const) {
      if (this.options[key] !== undefined) picked[key] = this.options[key] as number;
    }
    if (this.options.gro !== undefined) picked.gro = this.options.gro;
    return picked;
  }

  /**
   * Resolves the address, then starts the reactors one by one (a close() meanwhile makes the start reject,
   * before its first thread or at its next one).
   */
  private async startAll(): Promise<{ host: string; port: number }> {
    const host = await resolveHost(this.options.host ?? '127.0.0.1');
    this.bound = await this.threads.start(host, this.options.port ?? 0);
    return this.bound;
  }

  private async shutdown(): Promise<void> {
    this.state = 'closing';
    // A listen() under way stops at its next step. A thread that does not stop (a handler stuck in a loop) is
    // terminated.
    try {
      await this.threads.stop([Command.Stop], STOP_TIMEOUT_MS);
    } finally {
      this.state = 'closed';
      this.unwatch();
    }
  }

  /** What reactor thread `id` is given. */
  private workerData(id: number, host: string, port: number, shared: SharedWithThread): UdpWorkerData {
    return {
      id,
      reactors: this.reactorCount,
      handlerModule: this.handlerModule,
      handlerOptions: this.options.handlerOptions,
      host,
      port,
      pinCpu: cpuForReactor(this.options.pinCpus, id),
      steering: this.options.steering,
      reactor: this.reactorOptions(),
      statsBuffer: this.stats.buffer,
      ...shared,
    };
  }
}

/**
 * Creates a UDP server whose datagrams are served by `reactors` reactors on worker threads, each taking and
 * sending datagrams in batches (recvmmsg/sendmmsg).
 *
 * @example
 * ```ts
 * // udp-echo.js: exports.handler = { onMessage: (socket, bytes, from) => socket.send(bytes, from) };
 * const server = createUdpServer({ handler: require.resolve('./udp-echo.js'), reactors: 2, port: 5353 });
 * const { port } = await server.listen();
 * ```
 */
export function createUdpServer(options: UdpServerOptions): UdpServer {
  return new UdpServer(options);
}
