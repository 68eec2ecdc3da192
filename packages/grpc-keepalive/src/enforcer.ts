/**
 * Server-side keepalive enforcement for grpc-js (gRFC A8), which grpc-js does not implement: a client that pings
 * more often than the policy allows collects strikes, and on the third strike gets GOAWAY ENHANCE_YOUR_CALM
 * with debug data `too_many_pings` and is disconnected; a grpc-js or grpc-go client then doubles its interval.
 * The rules follow grpc-go's http2_server handlePing exactly:
 * - a ping within `minTimeMs` of the previous one is a strike; with no call in flight and
 *   `permitWithoutStream` false, within 2 hours (keepalive should not run at all then);
 * - the server sending headers or data resets the strikes (and forgets the last ping), so pings that ride along
 *   with real traffic never count;
 * - more than 2 strikes: GOAWAY, close.
 */
import { type ServerHttp2Session, type ServerHttp2Stream, constants } from 'node:http2';
import { type Clock, systemClock } from '@x/core';
import { onSessions } from './grpc-internals.js';
import { type EnforcementPolicy, GO_DEFAULTS, resolveEnforcementPolicy } from './parameters.js';

/** Debug data of the GOAWAY, the string clients look for. */
export const TOO_MANY_PINGS = 'too_many_pings';

/** What the enforcer reports as it goes (for logs and metrics). */
export type EnforcerEvent =
  | { type: 'connection-open'; remoteAddress: string | undefined }
  | { type: 'ping'; remoteAddress: string | undefined; strikes: number }
  | { type: 'goaway'; remoteAddress: string | undefined; code: number; debugData: string }
  | { type: 'connection-close'; remoteAddress: string | undefined; reason: 'too_many_pings' | 'closed' };

/** Counters since the enforcer was created. */
export interface EnforcerStats {
  connectionsOpened: number;
  connectionsClosed: number;
  open: number;
  pingsReceived: number;
  pingStrikes: number;
  goawaysSent: number;
}

/** Options of {@link KeepaliveEnforcer}. */
export interface KeepaliveEnforcerOptions {
  /** Go's EnforcementPolicy; defaults: 5 min, no pings without calls. */
  policy?: EnforcementPolicy;
  /** Called for every connection open/close, ping and GOAWAY. Must not throw. */
  onEvent?: (event: EnforcerEvent) => void;
  /** Time source (tests use core's ManualClock). */
  clock?: Clock;
}

interface SessionState {
  strikes: number;
  lastPingAt: number;
  active: number;
  reset: boolean;
  maxStreamId: number;
  reason: 'too_many_pings' | 'closed';
}

/**
 * Enforces a keepalive policy on the connections of a grpc-js `Server`.
 *
 * @example
 * ```ts
 * const server = new Server(serverOptions({ maxConnectionAgeMs: 30 * 60_000 }).options);
 * server.bindAsync('0.0.0.0:50051', ServerCredentials.createInsecure(), (error) => {
 *   if (error) throw error;
 *   enforcer.attach(server); // before clients connect
 * });
 * const enforcer = new KeepaliveEnforcer({ policy: { minTimeMs: 60_000 }, onEvent: (e) => log(e) });
 * ```
 */
export class KeepaliveEnforcer {
  private readonly policy: Required<EnforcementPolicy>;
  private readonly clock: Clock;
  private readonly onEvent: ((event: EnforcerEvent) => void) | undefined;
  private readonly detachers: (() => void)[] = [];
  private readonly counters: EnforcerStats = { connectionsOpened: 0, connectionsClosed: 0, open: 0, pingsReceived: 0, pingStrikes: 0, goawaysSent: 0 };

  constructor(options: KeepaliveEnforcerOptions = {}) {
    this.policy = resolveEnforcementPolicy(options.policy);
    this.clock = options.clock ?? systemClock;
    this.onEvent = options.onEvent;
  }

  /** The policy in force, defaults applied. */
  get resolvedPolicy(): Readonly<Required<EnforcementPolicy>> {
    return this.policy;
  }

  /** A snapshot of the counters. */
  stats(): EnforcerStats {
    return { ...this.counters };
  }

  /**
   * Starts enforcing on every connection `server` accepts from now on. Call it once `bindAsync` has called back
   * (grpc-js creates its HTTP/2 servers there). Throws `GrpcInternalsError` if this grpc-js is not one it knows.
   */
  attach(server: object): void {
    this.detachers.push(onSessions(server, (session) => this.watch(session)));
  }

  /** Stops watching new connections (connections already watched keep their enforcement). */
  detach(): void {
    for (const detach of this.detachers.splice(0)) detach();
  }

  /** Enforces on one HTTP/2 session; `attach` calls it for every new connection. */
  watch(session: ServerHttp2Session): void {
    const state: SessionState = { strikes: 0, lastPingAt: -Infinity, active: 0, reset: false, maxStreamId: 0, reason: 'closed' };
    const remoteAddress = session.socket?.remoteAddress;
    this.counters.connectionsOpened++;
    this.counters.open++;
    this.emit({ type: 'connection-open', remoteAddress });
    session.on('stream', (stream: ServerHttp2Stream) => this.trackStream(state, stream));
    session.on('ping', () => this.ping(session, state, remoteAddress));
    session.once('close', () => {
      this.counters.connectionsClosed++;
      this.counters.open--;
      this.emit({ type: 'connection-close', remoteAddress, reason: state.reason });
    });
  }

  private trackStream(state: SessionState, stream: ServerHttp2Stream): void {
    state.active++;
    state.maxStreamId = Math.max(state.maxStreamId, stream.id ?? 0);
    // The server answers every call with headers and usually data: that traffic resets the strikes, as the
    // headers and data frames grpc-go's writer sends do.
    state.reset = true;
    const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
    (stream as unknown as { write: (...args: unknown[]) => boolean }).write = (...args: unknown[]) => {
      state.reset = true;
      return write(...args);
    };
    stream.once('close', () => {
      state.active--;
      state.reset = true;
    });
  }

  private ping(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined): void {
    this.counters.pingsReceived++;
    const now = this.clock.now();
    if (state.reset) {
      state.reset = false;
      state.strikes = 0;
      state.lastPingAt = -Infinity;
    }
    const minTime = state.active < 1 && !this.policy.permitWithoutStream ? GO_DEFAULTS.pingWithoutStreamMinTimeMs : this.policy.minTimeMs;
    if (state.lastPingAt + minTime > now) {
      state.strikes++;
      this.counters.pingStrikes++;
    }
    state.lastPingAt = now;
    this.emit({ type: 'ping', remoteAddress, strikes: state.strikes });
    if (state.strikes > GO_DEFAULTS.maxPingStrikes && state.reason !== 'too_many_pings') this.goAway(session, state, remoteAddress);
  }

  private goAway(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined): void {
    state.reason = 'too_many_pings';
    this.counters.goawaysSent++;
    const code = constants.NGHTTP2_ENHANCE_YOUR_CALM;
    session.goaway(code, state.maxStreamId, Buffer.from(TOO_MANY_PINGS));
    this.emit({ type: 'goaway', remoteAddress, code, debugData: TOO_MANY_PINGS });
    // Go closes the connection right after the GOAWAY; a short delay lets the frame leave first.
    setTimeout(() => session.destroy(), 50).unref();
  }

  private emit(event: EnforcerEvent): void {
    this.onEvent?.(event);
  }
}
