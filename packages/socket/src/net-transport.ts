/**
 * The portable path: the same handler modules served by node:net on the calling thread, for platforms where the
 * epoll reactor cannot run (`transport: 'auto'` picks it there) or to compare the two (`transport: 'node:net'`).
 * One event loop, no SO_REUSEPORT group, no pinning: those options are accepted and have no effect here.
 */
import { createReadStream, fstatSync, statSync } from 'node:fs';
import { type Server as NetServer, type Socket, createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, TimeoutError, assertNumber, assertString } from '@x/core';
import { SocketStateError } from './errors.js';
import { type Connection, type ConnectionState, type Handler, type HandlerModule } from './handler.js';
import { type SocketAddress } from './libc/address.js';
import { type ReactorCounters, STAT_FIELDS } from './stats.js';
import { checkReactorOptions } from './reactor-options.js';
import { type ReactorInfo, type ServerOptions, type SocketServer, checkAddress, checkHandlerOptions, resolveHandler, resolveHost } from './server-common.js';

interface FileJob {
  file: string | number;
  start: number;
  length: number;
}

class NetConnection implements Connection {
  data: unknown = undefined;
  readonly fd = -1;
  readonly reactorId = 0;
  readonly cpu = -1;
  readonly incomingCpu = -1;
  private currentState: ConnectionState = 'open';
  /** Writes and the end that wait behind a file being sent. */
  private readonly waiting: (Uint8Array | FileJob | 'end')[] = [];
  private waitingBytes = 0;
  private sendingFile = false;
  readPaused = false;

  constructor(
    readonly socket: Socket,
    private readonly server: NodeNetTransport,
  ) {}

  get state(): ConnectionState {
    return this.currentState;
  }

  get isClosed(): boolean {
    return this.currentState === 'closed';
  }

  get remoteAddress(): SocketAddress {
    return { host: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0, family: this.socket.remoteFamily === 'IPv6' ? 'IPv6' : 'IPv4' };
  }

  get bufferedBytes(): number {
    return this.socket.writableLength + this.waitingBytes;
  }

  get writable(): boolean {
    return this.currentState === 'open' && this.bufferedBytes < this.server.highWaterMark;
  }

  write(bytes: Uint8Array): boolean {
    if (this.currentState === 'closed') return false;
    if (this.currentState === 'ending') throw new SocketStateError('write after end() on a connection');
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('bytes', bytes, 'a Uint8Array or Buffer');
    if (this.sendingFile) {
      this.waiting.push(bytes);
      this.waitingBytes += bytes.byteLength;
    } else {
      this.socket.write(bytes);
    }
    this.server.checkPressure(this);
    return this.writable;
  }

  sendFile(file: string | number, offset = 0, length?: number): boolean {
    if (this.currentState !== 'open') throw new SocketStateError(`sendFile on a connection that is ${this.currentState}`);
    assertNumber('offset', offset, { min: 0, integer: true });
    if (length !== undefined) assertNumber('length', length, { min: 0, integer: true });
    if (typeof file !== 'string') assertNumber('file', file, { min: 0, max: 2 ** 31 - 1, integer: true });
    const size = length ?? Math.max(0, (typeof file === 'string' ? statSync(file) : fstatSync(file)).size - offset);
    const job: FileJob = { file, start: offset, length: size };
    if (this.sendingFile) this.waiting.push(job);
    else this.pipeFile(job);
    return this.writable;
  }

  end(bytes?: Uint8Array): void {
    // end() again is a no-op, but bytes given with it would be lost silently: refused as a write after end() is.
    if (this.currentState === 'ending' && bytes !== undefined) throw new SocketStateError('end(bytes) after end() on a connection');
    if (this.currentState !== 'open') return;
    if (bytes !== undefined) this.write(bytes);
    this.currentState = 'ending';
    if (this.sendingFile) this.waiting.push('end');
    else this.socket.end();
  }

  close(error?: Error): void {
    if (this.currentState === 'closed') return;
    this.socket.destroy(error);
  }

  /** @internal */
  markClosed(): void {
    this.currentState = 'closed';
  }

  private pipeFile(job: FileJob): void {
    this.sendingFile = true;
    if (job.length === 0) return this.fileDone();
    const stream = createReadStream(typeof job.file === 'string' ? job.file : '', {
      ...(typeof job.file === 'number' ? { fd: job.file, autoClose: false } : {}),
      start: job.start,
      end: job.start + job.length - 1,
    });
    stream.on('error', (error) => this.socket.destroy(error));
    stream.on('end', () => this.fileDone());
    stream.pipe(this.socket, { end: false });
  }

  private fileDone(): void {
    this.sendingFile = false;
    while (this.waiting.length > 0 && !this.sendingFile) {
      const next = this.waiting.shift()!;
      if (next === 'end') this.socket.end();
      else if (next instanceof Uint8Array) {
        this.waitingBytes -= next.byteLength;
        this.socket.write(next);
      } else this.pipeFile(next);
    }
  }
}

/** The node:net implementation of {@link SocketServer}. */
export class NodeNetTransport implements SocketServer {
  readonly highWaterMark: number;
  private readonly lowWaterMark: number;
  private readonly idleTimeoutMs: number;
  private readonly handlerModule: string;
  private readonly connections = new Set<NetConnection>();
  private readonly counts = Object.fromEntries(STAT_FIELDS.map((name) => [name, 0])) as ReactorCounters;
  private server: NetServer | undefined;
  private handler: Handler | undefined;
  private bound: { host: string; port: number } | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: ServerOptions) {
    const handler =
      options.handler instanceof URL || (typeof options.handler === 'string' && options.handler.startsWith('file:'))
        ? fileURLToPath(options.handler)
        : assertString('options.handler', options.handler);
    this.handlerModule = resolve(handler);
    // Copied to reactor threads under the other transports: refused alike here, whichever transport serves it.
    checkHandlerOptions(options.handlerOptions);
    checkAddress(options);
    // The reactors' checks, so that an option is refused alike whichever transport serves it.
    const { highWaterMark, lowWaterMark, idleTimeoutMs, readBufferSize, maxWaitMs, socketOptions } = options;
    const settings = checkReactorOptions({ highWaterMark, lowWaterMark, idleTimeoutMs, readBufferSize, maxWaitMs, socketOptions });
    if (options.backlog !== undefined) assertNumber('options.backlog', options.backlog, { min: 0, max: 65535, integer: true });
    this.highWaterMark = settings.highWaterMark;
    this.lowWaterMark = settings.lowWaterMark;
    this.idleTimeoutMs = settings.idleTimeoutMs;
  }

  get address(): { host: string; port: number } {
    if (this.bound === undefined) throw new SocketStateError('the server is not listening');
    return this.bound;
  }

  async listen(): Promise<{ host: string; port: number }> {
    if (this.server !== undefined) throw new SocketStateError('listen() called twice');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const module = require(this.handlerModule) as HandlerModule;
    this.handler = resolveHandler(module, { reactorId: 0, pinnedCpu: undefined, options: this.options.handlerOptions });
    const host = await resolveHost(this.options.host ?? '127.0.0.1');
    const server = createNetServer({ allowHalfOpen: true, noDelay: this.options.socketOptions?.noDelay ?? true }, (socket) => this.accept(socket));
    this.server = server;
    await new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen({ host, port: this.options.port ?? 0, backlog: this.options.backlog ?? 511 }, () => {
        server.off('error', fail);
        done();
      });
    });
    const address = server.address() as { address: string; port: number };
    this.bound = { host: address.address, port: address.port };
    return this.bound;
  }

  reactorInfo(): ReactorInfo[] {
    // Served on the calling thread: it runs from listen() until close().
    return [{ id: 0, cpu: undefined, running: this.bound !== undefined && this.closing === undefined, counters: this.totals() }];
  }

  totals(): ReactorCounters {
    return { ...this.counts, open: this.connections.size };
  }

  close(graceMs = 5000): Promise<void> {
    assertNumber('graceMs', graceMs, { min: 0 });
    this.closing ??= this.shutdown(graceMs);
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal pauses reading from a peer whose queue passed the high-water mark. */
  checkPressure(connection: NetConnection): void {
    if (connection.readPaused || connection.bufferedBytes < this.highWaterMark) return;
    connection.readPaused = true;
    this.counts.readPauses++;
    connection.socket.pause();
  }

  private accept(socket: Socket): void {
    const handler = this.handler!;
    const connection = new NetConnection(socket, this);
    this.connections.add(connection);
    this.counts.accepted++;
    const keepAlive = this.options.socketOptions?.keepAliveIdleSeconds;
    if (keepAlive !== undefined && keepAlive > 0) socket.setKeepAlive(true, keepAlive * 1000);
    if (this.idleTimeoutMs > 0) {
      socket.setTimeout(this.idleTimeoutMs, () => {
        this.counts.idleClosed++;
        socket.destroy(new TimeoutError(this.idleTimeoutMs, `connection idle for ${this.idleTimeoutMs} ms`));
      });
    }
    const guard = (callback: () => void): void => {
      try {
        callback();
      } catch (error) {
        this.counts.handlerErrors++;
        socket.destroy(error instanceof Error ? error : new Error(String(error)));
      }
    };
    socket.on('data', (bytes: Buffer) => {
      this.counts.bytesRead += bytes.length;
      this.counts.readCalls++;
      // After end() the handler is done: what the peer still sends is read and dropped, as the reactor does.
      if (connection.state !== 'open') this.counts.bytesDiscarded += bytes.length;
      else guard(() => handler.onData(connection, bytes));
    });
    socket.on('drain', () => {
      if (!connection.readPaused || connection.bufferedBytes > this.lowWaterMark) return;
      connection.readPaused = false;
      socket.resume();
      if (handler.onDrain !== undefined) guard(() => handler.onDrain!(connection));
    });
    socket.on('end', () => guard(() => (handler.onEnd ?? ((c: Connection) => c.end()))(connection)));
    let failure: Error | undefined;
    socket.on('error', (error) => (failure = error));
    socket.on('close', () => {
      this.counts.bytesWritten += socket.bytesWritten;
      this.counts.closed++;
      connection.markClosed();
      this.connections.delete(connection);
      try {
        handler.onClose?.(connection, failure);
      } catch {
        this.counts.handlerErrors++;
      }
    });
    if (handler.onOpen !== undefined) guard(() => handler.onOpen!(connection));
  }

  private async shutdown(graceMs: number): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    const stopped = new Promise<void>((done) => server.close(() => done()));
    for (const connection of this.connections) {
      try {
        (this.handler!.onShutdown ?? ((c: Connection) => c.end()))(connection);
      } catch {
        connection.close();
      }
    }
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 10));
    for (const connection of this.connections) connection.close(new SocketStateError('server shut down before the connection finished'));
    await stopped;
  }
}
