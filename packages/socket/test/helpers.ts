import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { type Socket, connect } from 'node:net';
import { type Handler, Reactor, type ReactorOptions } from '../src/index.js';

/** A reactor (TCP or UDP) running on the test's own thread (its loop yields between turns, so node peers still run). */
export interface LocalReactor<R = Reactor> {
  reactor: R;
  port: number;
  stop(): Promise<void>;
}

/** Runs `reactor`, already bound to `port`, on this thread until `stop()`. */
export function runHere<R extends { run(): Promise<void>; stop(): void }>(reactor: R, port: number): LocalReactor<R> {
  const running = reactor.run();
  return {
    reactor,
    port,
    stop: async () => {
      reactor.stop();
      await running;
    },
  };
}

export function startReactor(handler: Handler, options: ReactorOptions = {}): LocalReactor {
  const reactor = new Reactor(handler, { maxWaitMs: 1, ...options });
  return runHere(reactor, reactor.listen('127.0.0.1', 0).port);
}

export function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Reads everything until the peer ends; resolves with the bytes. */
export function readAll(socket: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** Resolves once `count` bytes arrived (more is an error). */
export function readExactly(socket: Socket, count: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      have += chunk.length;
      if (have >= count) {
        socket.off('data', onData);
        if (have > count) reject(new Error(`expected ${count} bytes, got ${have}`));
        else resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Open file descriptors of this process (every thread's, reactor threads included). */
/** Resolves once `predicate` holds (checked every 5 ms); throws naming `what` after `ms`. */
export async function until(predicate: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 5));
  }
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
export function patternBytes(length: number, seed = 1): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    bytes[i] = state & 0xff;
  }
  return bytes;
}

export function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
}
