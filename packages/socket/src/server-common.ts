/** What both transports of `createServer` share: options, the server interface, handler and host resolution. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, assertNumber, assertOneOf, assertString } from '@x/core';
import { type Handler, type HandlerContext } from './handler.js';
import { type ReactorOptions } from './reactor.js';
import { type ReactorCounters } from './stats.js';

/** Options of {@link createServer}. */
export interface ServerOptions extends Omit<ReactorOptions, 'id' | 'stats'> {
  /**
   * Path or file URL of the handler module each reactor thread loads (it exports `handler` or
   * `createHandler(context)`; see {@link HandlerModule}). A module, not a function: threads share no closures.
   */
  handler: string | URL;
  /** Passed to `createHandler` in every thread (structured clone). */
  handlerOptions?: unknown;
  /** Reactor threads. Default 1. */
  reactors?: number;
  /** Address to bind: an IP literal or a name resolved once here. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one (shared by all reactors). Default 0. */
  port?: number;
  /** listen(2) backlog per reactor. Default 511. */
  backlog?: number;
  /** Pin reactor i to CPU `cpus[i % cpus.length]`; `true` uses 0 .. availableParallelism-1. Default: not pinned. */
  pinCpus?: boolean | readonly number[];
  /**
   * Hand each connection to the reactor pinned on the CPU that received its packets, so one core does the
   * network softirq and the serving (needs `pinCpus`):
   * - `'incoming-cpu'`: SO_INCOMING_CPU on each listener (reuseport groups honour it from Linux 6.1);
   * - `'cpu-bpf'`: a classic BPF program on the reuseport group returns the receiving CPU as the socket index
   *   (Linux 4.5+); needs reactor i pinned to CPU i (`pinCpus: true`).
   * Default: none, the kernel's hash spreads connections.
   */
  steering?: 'incoming-cpu' | 'cpu-bpf';
  /**
   * `'epoll'` (default): the reactors; throws PlatformUnsupportedError where they cannot run. `'auto'`: the
   * reactors where they can run, node:net elsewhere. `'node:net'`: always node:net, on the calling thread (one
   * event loop; reactors, pinning, steering, readBufferSize and maxWaitMs do not apply).
   */
  transport?: 'epoll' | 'auto' | 'node:net';
}

/** One reactor as the main thread sees it. */
export interface ReactorInfo {
  id: number;
  /** The CPU it is pinned to, if any. */
  cpu: number | undefined;
  /**
   * False once its thread has ended: after close(), or before, when its handler ended it (`process.exit()`).
   * What it served is closed then; the other reactors of the port's group take new connections.
   */
  running: boolean;
  counters: ReactorCounters;
}

/** A server made by `createServer`, whichever transport serves it. */
export interface SocketServer extends AsyncDisposable {
  /** The bound address, once listening. */
  readonly address: { host: string; port: number };
  /** Starts serving; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }>;
  /** Per-reactor counters (one entry under node:net). */
  reactorInfo(): ReactorInfo[];
  /** Counters summed over all reactors. */
  totals(): ReactorCounters;
  /** Stops accepting, lets connections finish for up to `graceMs`, closes the rest. Idempotent. */
  close(graceMs?: number): Promise<void>;
}

/** The handler a module provides: `createHandler(context)` or `handler`, as named exports or on `default`. */
export function resolveHandler<H = Handler>(module: GenericHandlerModule<H> & { default?: GenericHandlerModule<H> }, context: HandlerContext): H {
  const candidates = [module, module.default].filter((value): value is GenericHandlerModule<H> => typeof value === 'object' && value !== null);
  for (const candidate of candidates) {
    if (typeof candidate.createHandler === 'function') return candidate.createHandler(context);
    if (typeof candidate.handler === 'object' && candidate.handler !== null) return candidate.handler;
  }
  throw new InvalidArgumentError('options.handler', module, 'a module that exports `handler` or `createHandler(context)`');
}

/** A TCP or UDP handler module (see HandlerModule, UdpHandlerModule). */
interface GenericHandlerModule<H> {
  handler?: H;
  createHandler?(context: HandlerContext): H;
}

/** The handler module's absolute path, from a path, a file URL or a file: URL's text (import.meta.url based). */
export function handlerPath(handler: unknown): string {
  const path = handler instanceof URL || (typeof handler === 'string' && handler.startsWith('file:')) ? fileURLToPath(handler) : assertString('options.handler', handler);
  return resolve(path);
}

/**
 * Checks `host` (a non-empty string of at most 253 characters, a DNS name's limit, without lone surrogates; a
 * name is resolved only at listen) and `port` (0..65535), so that a mistake throws from the create call.
 */
export function checkAddress(options: { host?: unknown; port?: unknown }): void {
  if (options.host !== undefined) assertString('options.host', options.host, 253);
  assertNumber('options.port', options.port ?? 0, { min: 0, max: 65535, integer: true });
}

/** Checks that `handlerOptions` can be copied to the reactor threads (structured clone: no functions). */
export function checkHandlerOptions(handlerOptions: unknown): void {
  try {
    structuredClone(handlerOptions);
  } catch {
    throw new InvalidArgumentError('options.handlerOptions', handlerOptions, 'a value structured clone can copy to the reactor threads (no functions)');
  }
}

/** What reactor placement both kinds of server accept. */
export interface PlacementOptions {
  pinCpus?: boolean | readonly number[];
  steering?: 'incoming-cpu' | 'cpu-bpf';
}

/** Checks `pinCpus` and `steering` (InvalidArgumentError for a bad value or a steering without pinning). */
export function checkPlacement(options: PlacementOptions): void {
  if (options.pinCpus !== undefined && typeof options.pinCpus !== 'boolean') {
    if (!Array.isArray(options.pinCpus) || options.pinCpus.length === 0) {
      throw new InvalidArgumentError('options.pinCpus', options.pinCpus, 'true, false or a non-empty array of CPU numbers');
    }
    options.pinCpus.forEach((cpu, i) => assertNumber(`options.pinCpus[${i}]`, cpu, { min: 0, max: 1023, integer: true }));
  }
  if (options.steering !== undefined) {
    assertOneOf('options.steering', options.steering, ['incoming-cpu', 'cpu-bpf']);
    if (options.pinCpus === undefined || options.pinCpus === false) {
      throw new InvalidArgumentError('options.steering', options.steering, 'used with pinCpus (steering hands each connection, or each UDP flow, to the reactor on its CPU)');
    }
    const identity = options.pinCpus === true || options.pinCpus.every((cpu, i) => cpu === i);
    if (options.steering === 'cpu-bpf' && !identity) {
      throw new InvalidArgumentError('options.pinCpus', options.pinCpus, "reactor i on CPU i (true or [0, 1, ...]) for 'cpu-bpf' steering");
    }
  }
}

/** The CPU reactor `id` is pinned to under `pinCpus`, or undefined when not pinned. */
export function cpuForReactor(pinCpus: PlacementOptions['pinCpus'], id: number): number | undefined {
  if (pinCpus === undefined || pinCpus === false) return undefined;
  const cpus = pinCpus === true ? Array.from({ length: availableParallelism() }, (_, i) => i) : pinCpus;
  return cpus[id % cpus.length];
}

/** An IP literal as is; a name resolved once. */
export async function resolveHost(host: string): Promise<string> {
  assertString('host', host);
  return isIP(host) !== 0 ? host : (await lookup(host)).address;
}

