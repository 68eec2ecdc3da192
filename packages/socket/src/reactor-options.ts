/**
 * A reactor's options and their checks: pure (no descriptor is made), so that a server checks the options of
 * the reactors it will start in the caller's thread, with the caller's error classes, before any thread starts.
 */
import { InvalidArgumentError, assertBoolean, assertKnownKeys, assertNumber } from '@x/core';
import type { SocketOptionName } from './libc/sockets.js';
import type { FdOwner } from './fd-ledger.js';
import type { ReactorStats } from './stats.js';

/** Options of a {@link Reactor}. */
export interface ReactorOptions {
  /** This reactor's index (in stats and `connection.reactorId`). Default 0. */
  id?: number;
  /**
   * Bytes asked for per read. Default 64 KiB. Reads go one after another into a slab of
   * 8 times this size, so replies that echo what was read need no copy.
   */
  readBufferSize?: number;
  /** Queued outbound bytes at which `write` returns false and reading from that peer pauses. Default 1 MiB. */
  highWaterMark?: number;
  /** Queued bytes below which reading resumes and `onDrain` runs. Default highWaterMark / 4. */
  lowWaterMark?: number;
  /** Close connections with no read or write for this long (onClose gets a TimeoutError). 0 = never. Default 0. */
  idleTimeoutMs?: number;
  /**
   * Longest block in epoll_wait when nothing happens. Node timers and promise callbacks of this thread run
   * between loop turns, so this bounds how late they can be on an idle reactor. Default 10 ms.
   */
  maxWaitMs?: number;
  /** Shared counters to publish into (a server's stats); default: counters private to this reactor. */
  stats?: ReactorStats;
  /**
   * Proxy mode: every accepted connection is joined to a new connection to this address with splice(2), and
   * the handler sees none of it.
   */
  proxyTo?: { host: string; port: number };
  /** Bytes per splice pipe (one per direction per proxied pair). Default 1 MiB (capped by fs.pipe-max-size). */
  pipeSize?: number;
  /**
   * Proxy mode: close a pair whose upstream connect has not completed after this long (the client sees the
   * connection close). 0 = the kernel's own limit (about two minutes of SYN retries). Default 10,000 ms.
   */
  connectTimeoutMs?: number;
  /** Socket options set on every accepted connection. */
  socketOptions?: ConnectionSocketOptions;
  /** @internal Where a server's reactor records the descriptors it opens (see FdLedger). */
  fds?: FdOwner;
}

/** Per-connection socket options (setsockopt on accept). */
export interface ConnectionSocketOptions {
  /** TCP_NODELAY: send small writes at once instead of waiting to coalesce them (Nagle). Default true. */
  noDelay?: boolean;
  /** SO_KEEPALIVE with TCP_KEEPIDLE seconds of silence before the first probe; 0 = off. Default off. */
  keepAliveIdleSeconds?: number;
  /** TCP_KEEPINTVL: seconds between probes. Default: the kernel's (75). */
  keepAliveIntervalSeconds?: number;
  /** TCP_KEEPCNT: unanswered probes before the connection is dropped. Default: the kernel's (9). */
  keepAliveProbes?: number;
  /** TCP_USER_TIMEOUT: drop the connection when sent data stays unacknowledged this long; 0 = kernel default. */
  userTimeoutMs?: number;
  /** SO_SNDBUF / SO_RCVBUF in bytes (the kernel doubles and caps them); unset = autotuning. */
  sendBufferBytes?: number;
  receiveBufferBytes?: number;
}

/** The setsockopt calls for a set of options, validated once, applied per accept. */
export function socketOptionList(options: ConnectionSocketOptions = {}): [SocketOptionName, number][] {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options.socketOptions', options, 'an object');
  assertKnownKeys('options.socketOptions', options, [
    'noDelay',
    'keepAliveIdleSeconds',
    'keepAliveIntervalSeconds',
    'keepAliveProbes',
    'userTimeoutMs',
    'sendBufferBytes',
    'receiveBufferBytes',
  ]);
  const list: [SocketOptionName, number][] = [];
  if (assertBoolean('options.socketOptions.noDelay', options.noDelay ?? true)) list.push(['TCP_NODELAY', 1]);
  const seconds = (name: string, value: number | undefined): number | undefined =>
    value === undefined ? undefined : assertNumber(`options.socketOptions.${name}`, value, { min: 0, max: 32767, integer: true });
  const idle = seconds('keepAliveIdleSeconds', options.keepAliveIdleSeconds);
  if (idle !== undefined && idle > 0) {
    list.push(['SO_KEEPALIVE', 1], ['TCP_KEEPIDLE', idle]);
    const interval = seconds('keepAliveIntervalSeconds', options.keepAliveIntervalSeconds);
    if (interval !== undefined && interval > 0) list.push(['TCP_KEEPINTVL', interval]);
    // The kernel takes at most 127 probes.
    const probes = options.keepAliveProbes === undefined ? undefined : assertNumber('options.socketOptions.keepAliveProbes', options.keepAliveProbes, { min: 0, max: 127, integer: true });
    if (probes !== undefined && probes > 0) list.push(['TCP_KEEPCNT', probes]);
  }
  if (options.userTimeoutMs !== undefined) {
    list.push(['TCP_USER_TIMEOUT', assertNumber('options.socketOptions.userTimeoutMs', options.userTimeoutMs, { min: 0, max: 2 ** 31 - 1, integer: true })]);
  }
  if (options.sendBufferBytes !== undefined) {
    list.push(['SO_SNDBUF', assertNumber('options.socketOptions.sendBufferBytes', options.sendBufferBytes, { min: 1024, max: 2 ** 30, integer: true })]);
  }
  if (options.receiveBufferBytes !== undefined) {
    list.push(['SO_RCVBUF', assertNumber('options.socketOptions.receiveBufferBytes', options.receiveBufferBytes, { min: 1024, max: 2 ** 30, integer: true })]);
  }
  return list;
}

/** A reactor's options, checked, with their defaults. */
export interface ReactorSettings {
  id: number;
  readBufferSize: number;
  highWaterMark: number;
  lowWaterMark: number;
  idleTimeoutMs: number;
  /** 0 outside proxy mode. */
  connectTimeoutMs: number;
  maxWaitMs: number;
  pipeSize: number;
  socketOptions: [SocketOptionName, number][];
}

/** Largest size in bytes accepted for buffers and marks: 1 GiB (past it a queue is effectively unbounded). */
const MAX_BYTES = 2 ** 30;

/** Checks `options` (throws InvalidArgumentError) and fills in the defaults. */
export function checkReactorOptions(options: ReactorOptions): ReactorSettings {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
  const highWaterMark = assertNumber('options.highWaterMark', options.highWaterMark ?? 1 << 20, { min: 1, max: MAX_BYTES, integer: true });
  return {
    id: assertNumber('options.id', options.id ?? 0, { min: 0, max: 1023, integer: true }),
    readBufferSize: assertNumber('options.readBufferSize', options.readBufferSize ?? 65536, { min: 1024, max: 16 * 1024 * 1024, integer: true }),
    highWaterMark,
    lowWaterMark: assertNumber('options.lowWaterMark', options.lowWaterMark ?? Math.floor(highWaterMark / 4), { min: 0, max: highWaterMark, integer: true }),
    idleTimeoutMs: assertNumber('options.idleTimeoutMs', options.idleTimeoutMs ?? 0, { min: 0 }),
    connectTimeoutMs: options.proxyTo === undefined ? 0 : assertNumber('options.connectTimeoutMs', options.connectTimeoutMs ?? 10_000, { min: 0 }),
    maxWaitMs: assertNumber('options.maxWaitMs', options.maxWaitMs ?? 10, { min: 0, max: 60_000, integer: true }),
    pipeSize: assertNumber('options.pipeSize', options.pipeSize ?? 1 << 20, { min: 4096, max: MAX_BYTES, integer: true }),
    socketOptions: socketOptionList(options.socketOptions),
  };
}
