/** What both transports of `createServer` share: options, the server interface, handler and host resolution. */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { InvalidArgumentError, assertString } from '@x/core';
import { type Handler, type HandlerContext, type HandlerModule } from './handler.js';
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
export function resolveHandler(module: HandlerModule & { default?: HandlerModule }, context: HandlerContext): Handler {
  const candidates = [module, module.default].filter((value): value is HandlerModule => typeof value === 'object' && value !== null);
  for (const candidate of candidates) {
    if (typeof candidate.createHandler === 'function') return candidate.createHandler(context);
    if (typeof candidate.handler === 'object' && candidate.handler !== null) return candidate.handler;
  }
  throw new InvalidArgumentError('options.handler', module, 'a module that exports `handler` or `createHandler(context)`');
}

/** An IP literal as is; a name resolved once. */
export async function resolveHost(host: string): Promise<string> {
  assertString('host', host);
  return isIP(host) !== 0 ? host : (await lookup(host)).address;
}

