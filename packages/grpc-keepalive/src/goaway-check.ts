/**
 * Will a client with these keepalive settings be sent GOAWAY too_many_pings by a server with this policy?
 * Follows grpc-go's server rules (as {@link KeepaliveEnforcer} does) for a client that pings every `time`.
 */
import { type ClientParameters, type EnforcementPolicy, GO_DEFAULTS, resolveEnforcementPolicy } from './parameters.js';

/** The verdict of {@link checkKeepaliveCompatibility}. */
export interface KeepaliveVerdict {
  /** True when the server will eventually send GOAWAY too_many_pings. */
  goaway: boolean;
  /** Why, in one sentence. */
  reason: string;
  /** Roughly when (ms after the client's first ping interval) the GOAWAY comes, when it does. */
  afterMs: number | undefined;
}

/**
 * Checks client parameters (as the client really applies them: pass `applyGoFloor: false` for grpc-js, which
 * has no 10 s floor) against a server's enforcement policy.
 *
 * @example
 * ```ts
 * checkKeepaliveCompatibility({ timeMs: 30_000 }, { minTimeMs: 60_000 });
 * // { goaway: true, reason: 'pings every 30000 ms, the server allows one per 60000 ms', afterMs: 120000 }
 * ```
 */
export function checkKeepaliveCompatibility(
  client: ClientParameters,
  server: EnforcementPolicy = {},
  options: { applyGoFloor?: boolean; callsAlwaysInFlight?: boolean } = {},
): KeepaliveVerdict {
  const policy = resolveEnforcementPolicy(server);
  let time = client.timeMs ?? Infinity;
  if (options.applyGoFloor !== false) time = Math.max(time, GO_DEFAULTS.clientMinTimeMs);
  if (!Number.isFinite(time)) return { goaway: false, reason: 'the client sends no keepalive pings', afterMs: undefined };
  // Pings 2..4 collect the strikes; the fourth ping is the third strike.
  const strikeOut = (GO_DEFAULTS.maxPingStrikes + 1) * time + time;
  const idlePings = client.permitWithoutStream === true && options.callsAlwaysInFlight !== true;
  if (idlePings && !policy.permitWithoutStream && time < GO_DEFAULTS.pingWithoutStreamMinTimeMs) {
    return {
      goaway: true,
      reason: 'the client pings without calls in flight and the server does not permit it (permitWithoutStream false)',
      afterMs: strikeOut,
    };
  }
  if (time < policy.minTimeMs) {
    return { goaway: true, reason: `pings every ${time} ms, the server allows one per ${policy.minTimeMs} ms`, afterMs: strikeOut };
  }
  return { goaway: false, reason: `pings every ${time} ms, the server allows one per ${policy.minTimeMs} ms`, afterMs: undefined };
}
