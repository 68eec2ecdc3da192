/**
 * `createServer`: N reactors on N worker threads, each with its own SO_REUSEPORT listener on the same port, so
 * the kernel spreads connections across them and no thread hands a socket to another.
 */
import { resolve } from 'node:path';
import { assertKnownKeys, assertNumber, assertOneOf, assertString } from '@x/core';
import { SocketStateError } from './errors.js';
import { assertSupported, isSupported } from './libc/library.js';
import { NodeNetTransport } from './net-transport.js';
import { ReactorThreads } from './reactor-threads.js';
import { type ReactorInfo, type ServerOptions, type SocketServer, checkAddress, checkHandlerOptions, checkPlacement, cpuForReactor, handlerPath, resolveHost } from './server-common.js';
import { type ReactorCounters, ReactorStats } from './stats.js';
import { watchServer } from './telemetry.js';
import { Command, type ReactorWorkerData, type SharedWithThread } from './worker-protocol.js';
import { type ReactorOptions, checkReactorOptions } from './reactor-options.js';

const SERVER_OPTION_KEYS = [
  'handler',
  'handlerOptions',
  'reactors',
  'host',
  'port',
  'backlog',
  'pinCpus',
  'steering',
  'readBufferSize',
  'highWaterMark',
  'lowWaterMark',
  'idleTimeoutMs',
  'maxWaitMs',
  'socketOptions',
  'transport',
];
const PROXY_OPTION_KEYS = [...SERVER_OPTION_KEYS.filter((key) => key !== 'handler' && key !== 'handlerOptions' && key !== 'transport'), 'target', 'pipeSize', 'connectTimeoutMs'];

/** Options of {@link createProxyServer}. */
export interface ProxyServerOptions extends Omit<ServerOptions, 'handler' | 'handlerOptions' | 'transport'> {
  /** Where each accepted connection is forwarded (an IP literal or a name resolved once at listen). */
  target: { host: string; port: number };
  /** Bytes per splice pipe, one per direction per connection. Default 1 MiB (capped by fs.pipe-max-size). */
  pipeSize?: number;
  /**
   * Close a client whose upstream connect has not completed after this long. 0 = the kernel's own limit (about
   * two minutes of SYN retries against a target that drops them). Default 10,000 ms.
   */
  connectTimeoutMs?: number;
}

/** Where the reactor threads compiled entry lives: next to this file once built; from sources, in the build. */
const WORKER_ENTRY = resolve(__dirname, '..', 'dist', 'reactor-worker.js');

/**
 * A multi-reactor TCP server. Create it with {@link createServer}.
 */
export class Server implements SocketServer {
  private readonly threads: ReactorThreads<ReactorWorkerData>;
  private readonly stats: ReactorStats;
  private state: 'new' | 'listening' | 'closing' | 'closed' = 'new';
  private bound: { host: string; port: number } | undefined;
  private closing: Promise<void> | undefined;
  /** The proxy's target with its name resolved (at listen), which the reactor threads are given. */
  private resolvedTarget: { host: string; port: number } | undefined;
  private readonly reactorCount: number;
  private readonly handlerModule: string | undefined;
  private readonly options: ServerOptions | ProxyServerOptions;
  /** Ends this server's place in the metrics (set once it listens). */
  private unwatch: () => void = () => undefined;

  /** Made by {@link createServer} or {@link createProxyServer}, not constructed directly. */
  constructor(options: ServerOptions | ProxyServerOptions) {
    this.options = options;
    if ('target' in options) {
      assertKnownKeys('options', options, PROXY_OPTION_KEYS);
      assertString('options.target.host', options.target?.host);
      assertNumber('options.target.port', options.target.port, { min: 1, max: 65535, integer: true });
    } else {
      assertKnownKeys('options', options, SERVER_OPTION_KEYS);
      this.handlerModule = handlerPath(options.handler);
      checkHandlerOptions(options.handlerOptions);
    }
    this.reactorCount = assertNumber('options.reactors', options.reactors ?? 1, { min: 1, max: 1024, integer: true });
    checkAddress(options);
    checkPlacement(options);
    if (options.backlog !== undefined) assertNumber('options.backlog', options.backlog, { min: 0, max: 65535, integer: true });
    // The reactors check their options again in their threads; checked here, a mistake throws from this call,
    // as the caller's own InvalidArgumentError, before any thread starts.
    checkReactorOptions(this.reactorOptions());
    this.stats = new ReactorStats(this.reactorCount);
    this.threads = new ReactorThreads({
      serverName: 'server',
      entry: WORKER_ENTRY,
      count: this.reactorCount,
      workerData: (id, host, port, shared) => this.workerData(id, host, port, shared),
      // What its thread served is closed now: its counters must not say it is still open.
      onAbandoned: (id) => this.stats.closeAllOf(id),
    });
  }

  /** What every reactor thread is given, but for its id and stats (and the target, resolved at listen). */
  private reactorOptions(): ReactorOptions {
    return {
      ...pick(this.options as ProxyServerOptions, ['readBufferSize', 'highWaterMark', 'lowWaterMark', 'idleTimeoutMs', 'maxWaitMs', 'pipeSize', 'connectTimeoutMs', 'socketOptions']),
      ...('target' in this.options ? { proxyTo: this.resolvedTarget ?? this.options.target } : {}),
    };
  }

  /** The bound address, once listening. */
  get address(): { host: string; port: number } {
    if (this.bound === undefined) throw new SocketStateError('the server is not listening');
    return this.bound;
  }

  /**
   * Starts the reactor threads and binds every listener. Resolves with the address once all reactors accept.
   * Rejects (and stops what started) if a thread fails: handler module missing, port in use, no koffi.
   */
  async listen(): Promise<{ host: string; port: number }> {
    if (this.state !== 'new') throw new SocketStateError(`listen() on a server that is ${this.state}`);
    assertSupported();
    this.state = 'listening';
    try {
      const address = await this.startAll();
      this.unwatch = watchServer(this, address.port, this.stats);
      return address;
    } catch (error) {
      await this.close(0).catch(() => undefined);
      throw error;
    }
  }

  /**
   * Resolves the addresses, then starts the reactors one by one (a close() meanwhile makes the start reject,
   * before its first thread or at its next one).
   */
  private async startAll(): Promise<{ host: string; port: number }> {
    const host = await resolveHost(this.options.host ?? '127.0.0.1');
    if ('target' in this.options) this.resolvedTarget = { host: await resolveHost(this.options.target.host), port: this.options.target.port };
    this.bound = await this.threads.start(host, this.options.port ?? 0);
    return this.bound;
  }

  /** Per-reactor counters (read from shared memory, no message round trip). */
  reactorInfo(): ReactorInfo[] {
    return Array.from({ length: this.reactorCount }, (_, id) => ({ id, ...this.threads.info(id), counters: this.stats.read(id) }));
  }

  /** Counters summed over all reactors. */
  totals(): ReactorCounters {
    return this.stats.total();
  }

  /**
   * Stops accepting, lets connections finish for up to `graceMs` (each gets `onShutdown`, default `end()`),
   * closes the rest and ends the threads. Idempotent.
   */
  close(graceMs = 5000): Promise<void> {
    assertNumber('graceMs', graceMs, { min: 0 });
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.state = 'closing';
    // A listen() under way stops at its next step. A thread that does not end within the grace (a handler stuck in
    // a loop) is terminated.
    try {
      await this.threads.stop([Command.Shutdown, graceMs], graceMs + 2000);
    } finally {
      this.state = 'closed';
      this.unwatch();
    }
  }

  /** What reactor thread `id` is given. */
  private workerData(id: number, host: string, port: number, shared: SharedWithThread): ReactorWorkerData {
    return {
      id,
      reactors: this.reactorCount,
      handlerModule: this.handlerModule,
      handlerOptions: 'handlerOptions' in this.options ? this.options.handlerOptions : undefined,
      host,
      port,
      backlog: this.options.backlog,
      pinCpu: cpuForReactor(this.options.pinCpus, id),
      steering: this.options.steering,
      reactor: this.reactorOptions(),
      statsBuffer: this.stats.buffer,
      ...shared,
    };
  }
}

function pick<T extends object, K extends keyof T>(object: T, keys: readonly K[]): Pick<T, K> {
  const picked = {} as Pick<T, K>;
  for (const key of keys) if (object[key] !== undefined) picked[key] = object[key];
  return picked;
}

/**
 * Creates a server whose connections are served by `reactors` epoll reactors on worker threads.
 *
 * @example
 * ```ts
 * // echo.js: exports.handler = { onData: (conn, bytes) => conn.write(bytes) };
 * const server = createServer({ handler: require.resolve('./echo.js'), reactors: 2, port: 7000 });
 * const { port } = await server.listen();
 * ```
 */
export function createServer(options: ServerOptions): SocketServer {
  const transport = assertOneOf('options.transport', options.transport ?? 'epoll', ['epoll', 'auto', 'node:net']);
  if (transport === 'node:net' || (transport === 'auto' && !isSupported())) {
    assertKnownKeys('options', options, SERVER_OPTION_KEYS);
    return new NodeNetTransport(options);
  }
  return new Server(options);
}

/**
 * Creates a TCP proxy: each accepted connection is joined to a new connection to `target` with splice(2), so
 * the bytes stay in the kernel. Memory per connection is two pipes, whatever the peers' speeds.
 *
 * @example
 * ```ts
 * const proxy = createProxyServer({ target: { host: '10.0.0.5', port: 5432 }, port: 6432, reactors: 2 });
 * await proxy.listen();
 * ```
 */
export function createProxyServer(options: ProxyServerOptions): Server {
  return new Server(options);
}
