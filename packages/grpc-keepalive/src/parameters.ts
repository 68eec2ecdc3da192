/**
 * Go's keepalive shapes (google.golang.org/grpc/keepalive) with Go's defaults and floors, in milliseconds, and
 * their translation to grpc-js channel and server options.
 *
 * Go's documented semantics, which grpc-js does not apply by itself:
 * - ClientParameters.Time below 10 s is raised to 10 s (gRFC A8); unset means no keepalive pings.
 * - ServerParameters.Time below 1 s is raised to 1 s; unset means 2 hours (grpc-js: off).
 * - EnforcementPolicy.MinTime defaults to 5 minutes (grpc-js: no enforcement at all).
 * - Zero means unset, as in grpc-go's http2_server.go and http2_client.go: a zero idle, age or grace is "never",
 *   a zero server Time is 2 hours, a zero Timeout is 20 s, a zero MinTime is 5 minutes (to let clients ping as
 *   often as they like, give 1 ms).
 */
import { assertBoolean, assertKnownKeys, assertNumber } from '@x/core';

/** Client side: when to ping a quiet connection and how long to wait for the answer. */
export interface ClientParameters {
  /** Ping after this long without activity. Unset: never. Below 10 s: 10 s (Go, gRFC A8). */
  timeMs?: number;
  /** Close the connection when a ping is not answered within this. Default (and 0): 20 s. */
  timeoutMs?: number;
  /** Ping even with no call in flight. Default false (a server's policy usually refuses it). */
  permitWithoutStream?: boolean;
}

/** Server side: connection management (gRFC A9) and the server's own keepalive pings. */
export interface ServerParameters {
  /** Send GOAWAY to a connection with no call for this long. Unset or 0: never. */
  maxConnectionIdleMs?: number;
  /** Send GOAWAY to a connection this old (Go adds ±10 % jitter). Unset or 0: never. */
  maxConnectionAgeMs?: number;
  /** After the max-age GOAWAY, calls may run this long before the connection is closed. Unset or 0: forever. */
  maxConnectionAgeGraceMs?: number;
  /** Ping a quiet client after this long. Default (and 0): 2 h; below 1 s: 1 s. */
  timeMs?: number;
  /** Close when a ping is not answered within this. Default (and 0): 20 s. */
  timeoutMs?: number;
}

/** What the server tolerates from clients' pings (gRFC A8). */
export interface EnforcementPolicy {
  /** Minimum time between a client's pings. Default (and 0): 5 min. */
  minTimeMs?: number;
  /** Allow pings when no call is in flight. Default false. */
  permitWithoutStream?: boolean;
}

/** Go's numbers. */
export const GO_DEFAULTS = {
  clientTimeoutMs: 20_000,
  clientMinTimeMs: 10_000,
  serverTimeMs: 2 * 60 * 60 * 1000,
  serverMinTimeMs: 1_000,
  serverTimeoutMs: 20_000,
  enforcementMinTimeMs: 5 * 60 * 1000,
  /** Pings a server tolerates too early before it sends GOAWAY (grpc-go maxPingStrikes). */
  maxPingStrikes: 2,
  /** With no call in flight and permitWithoutStream false, a ping within this of the last is a strike. */
  pingWithoutStreamMinTimeMs: 2 * 60 * 60 * 1000,
} as const;

/** A setting that was changed to follow Go's rules, and why. */
export interface Adjustment {
  setting: string;
  given: number;
  used: number;
  reason: string;
}

/** Resolved client parameters (every field set) and what was adjusted. */
export interface ResolvedClientParameters {
  timeMs: number;
  timeoutMs: number;
  permitWithoutStream: boolean;
  adjustments: Adjustment[];
}

/** Resolved server parameters and policy. */
export interface ResolvedServerParameters {
  maxConnectionIdleMs: number;
  maxConnectionAgeMs: number;
  maxConnectionAgeGraceMs: number;
  timeMs: number;
  timeoutMs: number;
  adjustments: Adjustment[];
}

const duration = (name: string, value: unknown): number => assertNumber(name, value, { min: 0 });
/** A duration where 0 means unset, as in grpc-go: `fallback` when absent or 0. */
const durationOr = (name: string, value: unknown, fallback: number): number => (value === undefined ? fallback : duration(name, value) || fallback);

/** Applies Go's defaults and the 10 s floor; `Infinity` time means keepalive off. */
export function resolveClientParameters(parameters: ClientParameters = {}): ResolvedClientParameters {
  assertKnownKeys('parameters', parameters, ['timeMs', 'timeoutMs', 'permitWithoutStream']);
  const adjustments: Adjustment[] = [];
  let timeMs = parameters.timeMs === undefined ? Infinity : duration('parameters.timeMs', parameters.timeMs);
  if (timeMs < GO_DEFAULTS.clientMinTimeMs) {
    adjustments.push({ setting: 'timeMs', given: timeMs, used: GO_DEFAULTS.clientMinTimeMs, reason: 'client keepalive time below 10 s (gRFC A8 floor)' });
    timeMs = GO_DEFAULTS.clientMinTimeMs;
  }
  const timeoutMs = durationOr('parameters.timeoutMs', parameters.timeoutMs, GO_DEFAULTS.clientTimeoutMs);
  if (parameters.permitWithoutStream !== undefined) assertBoolean('parameters.permitWithoutStream', parameters.permitWithoutStream);
  return { timeMs, timeoutMs, permitWithoutStream: parameters.permitWithoutStream ?? false, adjustments };
}

/** Applies Go's server defaults (2 h keepalive) and the 1 s floor. */
export function resolveServerParameters(parameters: ServerParameters = {}): ResolvedServerParameters {
  assertKnownKeys('parameters', parameters, ['maxConnectionIdleMs', 'maxConnectionAgeMs', 'maxConnectionAgeGraceMs', 'timeMs', 'timeoutMs']);
  const adjustments: Adjustment[] = [];
  const optional = (name: keyof ServerParameters): number => durationOr(`parameters.${name}`, parameters[name], Infinity);
  let timeMs = durationOr('parameters.timeMs', parameters.timeMs, GO_DEFAULTS.serverTimeMs);
  if (timeMs < GO_DEFAULTS.serverMinTimeMs) {
    adjustments.push({ setting: 'timeMs', given: timeMs, used: GO_DEFAULTS.serverMinTimeMs, reason: 'server keepalive time below 1 s (Go floor)' });
    timeMs = GO_DEFAULTS.serverMinTimeMs;
  }
  return {
    maxConnectionIdleMs: optional('maxConnectionIdleMs'),
    maxConnectionAgeMs: optional('maxConnectionAgeMs'),
    maxConnectionAgeGraceMs: optional('maxConnectionAgeGraceMs'),
    timeMs,
    timeoutMs: durationOr('parameters.timeoutMs', parameters.timeoutMs, GO_DEFAULTS.serverTimeoutMs),
    adjustments,
  };
}

/** Applies Go's policy defaults (5 min, no pings without calls). */
export function resolveEnforcementPolicy(policy: EnforcementPolicy = {}): Required<EnforcementPolicy> {
  assertKnownKeys('policy', policy, ['minTimeMs', 'permitWithoutStream']);
  if (policy.permitWithoutStream !== undefined) assertBoolean('policy.permitWithoutStream', policy.permitWithoutStream);
  return {
    minTimeMs: durationOr('policy.minTimeMs', policy.minTimeMs, GO_DEFAULTS.enforcementMinTimeMs),
    permitWithoutStream: policy.permitWithoutStream ?? false,
  };
}

/** grpc-js takes milliseconds as 32-bit integers; "never" is its largest value. */
const GRPC_JS_NEVER = 2 ** 31 - 1;

/** `ms` as grpc-js takes it, saying in `adjustments` when a finite value became grpc-js's "never" (2^31-1). */
function toGrpcMsNoted(setting: string, ms: number, adjustments: Adjustment[]): number {
  if (!Number.isFinite(ms)) return GRPC_JS_NEVER;
  const rounded = Math.round(ms);
  if (rounded <= GRPC_JS_NEVER) return rounded;
  adjustments.push({ setting, given: ms, used: GRPC_JS_NEVER, reason: 'above 2^31-1 ms, which grpc-js takes as never' });
  return GRPC_JS_NEVER;
}

/**
 * grpc-js channel options for a client, after Go's rules. Merge them into the options of `new Client(...)`.
 *
 * @example
 * ```ts
 * const { options, adjustments } = clientChannelOptions({ timeMs: 30_000, timeoutMs: 5_000 });
 * const client = new Greeter('localhost:50051', credentials.createInsecure(), options);
 * ```
 */
export function clientChannelOptions(parameters: ClientParameters = {}): { options: Record<string, number>; adjustments: Adjustment[] } {
  const resolved = resolveClientParameters(parameters);
  const adjustments = [...resolved.adjustments];
  const options: Record<string, number> = {};
  if (Number.isFinite(resolved.timeMs)) {
    options['grpc.keepalive_time_ms'] = toGrpcMsNoted('timeMs', resolved.timeMs, adjustments);
    options['grpc.keepalive_timeout_ms'] = toGrpcMsNoted('timeoutMs', resolved.timeoutMs, adjustments);
    options['grpc.keepalive_permit_without_calls'] = resolved.permitWithoutStream ? 1 : 0;
  }
  return { options, adjustments };
}

/**
 * grpc-js server options for Go's ServerParameters (its defaults included: a 2 h server keepalive, which grpc-js
 * leaves off). Pass them to `new Server(options)`.
 */
export function serverOptions(parameters: ServerParameters = {}): { options: Record<string, number>; adjustments: Adjustment[] } {
  const resolved = resolveServerParameters(parameters);
  const adjustments = [...resolved.adjustments];
  const options: Record<string, number> = {
    'grpc.keepalive_time_ms': toGrpcMsNoted('timeMs', resolved.timeMs, adjustments),
    'grpc.keepalive_timeout_ms': toGrpcMsNoted('timeoutMs', resolved.timeoutMs, adjustments),
  };
  if (Number.isFinite(resolved.maxConnectionIdleMs)) options['grpc.max_connection_idle_ms'] = toGrpcMsNoted('maxConnectionIdleMs', resolved.maxConnectionIdleMs, adjustments);
  const age = resolved.maxConnectionAgeMs;
  if (Number.isFinite(age)) {
    // grpc-js adds up to +10 % jitter and hands the sum to setTimeout, which fires after 1 ms past 2^31-1: an
    // age that could land there is sent as grpc-js's "unlimited" (its 2^31-1) instead.
    const unlimited = age * 1.1 >= GRPC_JS_NEVER;
    if (unlimited) {
      adjustments.push({ setting: 'maxConnectionAgeMs', given: age, used: GRPC_JS_NEVER, reason: "above what grpc-js's timer can hold with its jitter: unlimited" });
    }
    options['grpc.max_connection_age_ms'] = unlimited ? GRPC_JS_NEVER : Math.round(age);
  }
  if (Number.isFinite(resolved.maxConnectionAgeGraceMs)) {
    options['grpc.max_connection_age_grace_ms'] = toGrpcMsNoted('maxConnectionAgeGraceMs', resolved.maxConnectionAgeGraceMs, adjustments);
  }
  return { options, adjustments };
}
