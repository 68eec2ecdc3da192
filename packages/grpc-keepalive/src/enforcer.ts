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
import { type Clock, type ClockTimer, InvalidArgumentError, assertKnownKeys, systemClock } from '@x/core';
import { onSessions } from './grpc-internals.js';
import { type EnforcerTelemetry, watchEnforcer } from './telemetry.js';
import {
  type EnforcementPolicy,
  GO_DEFAULTS,
  type ResolvedServerParameters,
  type ServerParameters,
  resolveEnforcementPolicy,
  resolveServerParameters,
} from './parameters.js';

/** Debug data of the GOAWAY, the string clients look for. */
export const TOO_MANY_PINGS = 'too_many_pings';
/** Debug data of the idle GOAWAY (gRFC A9). */
export const MAX_IDLE = 'max_idle';
/** Debug data of the max-age GOAWAYs (gRFC A9). */
export const MAX_AGE = 'max_age';

/** Servers an enforcer is attached to. */
const ENFORCED = new WeakSet<object>();

/** grpc-js's own idle and age options, which {@link serverOptions} sets and the enforcer replaces. */
const GRPC_JS_DRAIN_OPTIONS = ['grpc.max_connection_idle_ms', 'grpc.max_connection_age_ms', 'grpc.max_connection_age_grace_ms'];

/** Why the server ended a connection. */
export type CloseReason = typeof TOO_MANY_PINGS | typeof MAX_IDLE | typeof MAX_AGE | 'closed';

/** What the enforcer reports as it goes (for logs and metrics). */
export type EnforcerEvent =
  | { type: 'connection-open'; remoteAddress: string | undefined }
  | { type: 'ping'; remoteAddress: string | undefined; strikes: number }
  | { type: 'goaway'; remoteAddress: string | undefined; code: number; debugData: string }
  | { type: 'connection-close'; remoteAddress: string | undefined; reason: CloseReason };

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
  /**
   * Go's ServerParameters. `maxConnectionIdleMs`, `maxConnectionAgeMs` and `maxConnectionAgeGraceMs` are
   * enforced here as gRFC A9 says (idle GOAWAY with `max_idle`; max age as one GOAWAY with the last stream taken,
   * then the connection closed after the grace), so leave grpc-js's own options for them unset: pass
   * {@link grpcServerOptions} to `new Server()` (`attach` refuses a server that has them). `timeMs` / `timeoutMs`
   * (the server's own pings) are grpc-js's, through those options.
   */
  parameters?: ServerParameters;
  /** Called for every connection open/close, ping and GOAWAY. Must not throw. */
  onEvent?: (event: EnforcerEvent) => void;
  /** Time source of the strikes and of every timer: idle, max age, grace (tests use core's ManualClock). */
  clock?: Clock;
}

interface SessionState {
  strikes: number;
  lastPingAt: number;
  active: number;
  reset: boolean;
  maxStreamId: number;
  reason: CloseReason;
  idleTimer: ClockTimer | undefined;
  timers: ClockTimer[];
  /** When the server sent the connection a GOAWAY (clock time), for the drain's duration. */
  goawayAt: number | undefined;
}

/**
 * Enforces a keepalive policy on the connections of a grpc-js `Server`.
 *
 * @example
 * ```ts
 * const enforcer = new KeepaliveEnforcer({
 *   policy: { minTimeMs: 60_000 },
 *   parameters: { maxConnectionAgeMs: 30 * 60_000, maxConnectionAgeGraceMs: 10_000 },
 *   onEvent: (e) => console.log(e),
 * });
 * // The enforcer's options, not serverOptions(): those would have grpc-js drain the same connections too.
 * const server = new Server(enforcer.grpcServerOptions());
 * server.bindAsync('0.0.0.0:50051', ServerCredentials.createInsecure(), (error) => {
 *   if (error) throw error;
 *   enforcer.attach(server); // before clients connect
 * });
 * ```
 */
export class KeepaliveEnforcer {
  private readonly policy: Required<EnforcementPolicy>;
  private readonly parameters: ResolvedServerParameters;
  private readonly clock: Clock;
  private readonly onEvent: ((event: EnforcerEvent) => void) | undefined;
  private readonly detachers: (() => void)[] = [];
  private readonly counters: EnforcerStats = { connectionsOpened: 0, connectionsClosed: 0, open: 0, pingsReceived: 0, pingStrikes: 0, goawaysSent: 0 };
  private readonly telemetry: EnforcerTelemetry;

  constructor(options: KeepaliveEnforcerOptions = {}) {
    assertKnownKeys('options', options, ['policy', 'parameters', 'onEvent', 'clock']);
    this.policy = resolveEnforcementPolicy(options.policy);
    this.parameters = resolveServerParameters(options.parameters);
    this.clock = options.clock ?? systemClock;
    this.onEvent = options.onEvent;
    this.telemetry = watchEnforcer(this, this.counters);
  }

  /** The policy in force, defaults applied. */
  get resolvedPolicy(): Readonly<Required<EnforcementPolicy>> {
    return this.policy;
  }

  /**
   * grpc-js server options for the parts grpc-js implements itself (the server's keepalive pings, Go's 2 h
   * default included); idle and age are left to this enforcer.
   */
  grpcServerOptions(): Record<string, number> {
    const never = 2 ** 31 - 1;
    return {
      'grpc.keepalive_time_ms': Math.min(this.parameters.timeMs, never),
      'grpc.keepalive_timeout_ms': Math.min(this.parameters.timeoutMs, never),
    };
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
    if (typeof server !== 'object' || server === null) throw new InvalidArgumentError('server', server, 'a grpc-js Server');
    // Two enforcers (or one attached twice) would count every ping twice and drain every connection twice.
    if (ENFORCED.has(server)) throw new InvalidArgumentError('server', server, 'a Server no enforcer is attached to yet');
    this.refuseDoubleDrain(server);
    const detach = onSessions(server, (session) => this.watch(session));
    ENFORCED.add(server);
    this.detachers.push(() => {
      detach();
      ENFORCED.delete(server);
    });
  }

  /**
   * A server made with `serverOptions()` has grpc-js's own idle and age options; with this enforcer's idle or
   * age on top, every connection would be drained twice, on two schedules. Refused loudly at attach.
   */
  private refuseDoubleDrain(server: object): void {
    const options = (server as { options?: unknown }).options;
    if (typeof options !== 'object' || options === null) return;
    const { maxConnectionIdleMs, maxConnectionAgeMs, maxConnectionAgeGraceMs } = this.parameters;
    if (![maxConnectionIdleMs, maxConnectionAgeMs, maxConnectionAgeGraceMs].some(Number.isFinite)) return;
    const own = GRPC_JS_DRAIN_OPTIONS.filter((key) => (options as Record<string, unknown>)[key] !== undefined);
    if (own.length > 0) {
      throw new InvalidArgumentError(
        'server',
        own.join(', '),
        "a Server made with enforcer.grpcServerOptions(): this one has grpc-js's own " +
          `${own.join(', ')} (from serverOptions()?) while the enforcer drains idle or old connections itself`,
      );
    }
  }

  /** Stops watching new connections (connections already watched keep their enforcement). */
  detach(): void {
    for (const detach of this.detachers.splice(0)) detach();
  }

  /** Enforces on one HTTP/2 session; `attach` calls it for every new connection. */
  watch(session: ServerHttp2Session): void {
    const state: SessionState = {
      strikes: 0,
      lastPingAt: -Infinity,
      active: 0,
      reset: false,
      maxStreamId: 0,
      reason: 'closed',
      idleTimer: undefined,
      timers: [],
      goawayAt: undefined,
    };
    const remoteAddress = session.socket?.remoteAddress;
    this.counters.connectionsOpened++;
    this.counters.open++;
    this.emit({ type: 'connection-open', remoteAddress });
    session.on('stream', (stream: ServerHttp2Stream) => this.trackStream(session, state, stream, remoteAddress));
    session.on('ping', () => this.ping(session, state, remoteAddress));
    this.scheduleIdle(session, state, remoteAddress);
    this.scheduleMaxAge(session, state, remoteAddress);
    session.once('close', () => {
      state.idleTimer?.cancel();
      state.timers.forEach((timer) => timer.cancel());
      this.counters.connectionsClosed++;
      this.counters.open--;
      if (state.goawayAt !== undefined) this.telemetry.drained(state.reason, (this.clock.now() - state.goawayAt) / 1000);
      this.emit({ type: 'connection-close', remoteAddress, reason: state.reason });
    });
  }

  private trackStream(session: ServerHttp2Session, state: SessionState, stream: ServerHttp2Stream, remoteAddress: string | undefined): void {
    state.active++;
    state.idleTimer?.cancel();
    state.idleTimer = undefined;
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
      if (state.active === 0) this.scheduleIdle(session, state, remoteAddress);
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
    if (state.strikes > GO_DEFAULTS.maxPingStrikes && state.reason !== TOO_MANY_PINGS) this.goAway(session, state, remoteAddress);
  }

  private goAway(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined): void {
    state.reason = TOO_MANY_PINGS;
    this.sendGoaway(session, state, remoteAddress, constants.NGHTTP2_ENHANCE_YOUR_CALM, state.maxStreamId, TOO_MANY_PINGS);
    // Go closes the connection right after the GOAWAY; a short delay lets the frame leave first.
    this.later(state, () => session.destroy(), 50);
  }

  /** gRFC A9 idle: no call for maxConnectionIdle → GOAWAY max_idle, close. */
  private scheduleIdle(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined): void {
    if (!Number.isFinite(this.parameters.maxConnectionIdleMs) || state.reason !== 'closed') return;
    state.idleTimer?.cancel();
    state.idleTimer = this.clock
      .setTimer(() => {
        if (state.active > 0 || session.closed) return;
        state.reason = MAX_IDLE;
        this.sendGoaway(session, state, remoteAddress, constants.NGHTTP2_NO_ERROR, state.maxStreamId, MAX_IDLE);
        session.close();
      }, this.parameters.maxConnectionIdleMs)
      .unref();
  }

  /**
   * gRFC A9 max age: one GOAWAY carrying the last stream id the server took, then calls in flight get
   * `maxConnectionAgeGrace` before the connection is closed under them.
   *
   * grpc-go first sends GOAWAY(2^31-1) and a PING, so that calls already on the wire still land. Node cannot do
   * that: once a session has sent any GOAWAY, its HTTP/2 layer ignores every new stream (no answer, no
   * RST_STREAM), and a client told 2^31-1 waits for those calls until their deadlines (grpc-java did, 2 calls in
   * 3,000). Told the real last stream id at once, a client knows the calls above it were never taken and retries
   * them on a new connection (gRPC's transparent retry).
   */
  private scheduleMaxAge(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined): void {
    const age = this.parameters.maxConnectionAgeMs;
    if (!Number.isFinite(age)) return;
    // ±10 % jitter, as Go: connections opened together do not all reconnect together.
    const jittered = age * (0.9 + Math.random() * 0.2);
    this.later(state, () => {
      if (session.closed || session.destroyed || state.reason !== 'closed') return;
      state.reason = MAX_AGE;
      state.idleTimer?.cancel();
      // Last stream id 0: Node sends nghttp2's last processed stream, also one whose 'stream' event is pending.
      this.sendGoaway(session, state, remoteAddress, constants.NGHTTP2_NO_ERROR, 0, MAX_AGE);
      session.close();
      if (Number.isFinite(this.parameters.maxConnectionAgeGraceMs)) this.later(state, () => this.cutConnection(session, state), this.parameters.maxConnectionAgeGraceMs);
    }, jittered);
  }

  private sendGoaway(session: ServerHttp2Session, state: SessionState, remoteAddress: string | undefined, code: number, lastStreamId: number, debugData: string): void {
    if (session.destroyed) return;
    this.counters.goawaysSent++;
    state.goawayAt ??= this.clock.now();
    this.telemetry.goaway(debugData);
    session.goaway(code, lastStreamId, Buffer.from(debugData));
    this.emit({ type: 'goaway', remoteAddress, code, debugData });
  }

  /**
   * Ends a connection under its calls as grpc-go does at the end of the max-age grace: the TCP connection closes,
   * and clients fail the calls UNAVAILABLE (retryable). `session.destroy()` alone would first send each stream an
   * RST_STREAM NO_ERROR, which grpc-js clients report as INTERNAL ("Call ended without gRPC status").
   */
  private cutConnection(session: ServerHttp2Session, state: SessionState): void {
    // The session's socket is a proxy that refuses destroy() and end(); destroySoon() reaches the real socket
    // (FIN once what is buffered is written). The session closes on the socket's close; if not, a second later.
    (session.socket as unknown as { destroySoon?: () => void } | undefined)?.destroySoon?.();
    this.later(state, () => session.destroy(), 1_000);
  }

  /** A timer on the enforcer's clock (any duration: core's timers wait past 2^31-1 ms), cancelled at close. */
  private later(state: SessionState, callback: () => void, ms: number): ClockTimer {
    const timer = this.clock.setTimer(callback, ms).unref();
    state.timers.push(timer);
    return timer;
  }

  private emit(event: EnforcerEvent): void {
    this.onEvent?.(event);
  }
}
