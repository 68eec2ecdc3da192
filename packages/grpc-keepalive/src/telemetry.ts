/**
 * The enforcers' OpenTelemetry instruments (see README: Metrics): none record unless the application registered
 * an SDK's MeterProvider before an enforcer was made (`@opentelemetry/api`, an optional peer). Counts are the
 * enforcers' own `stats()`, summed over every enforcer of the process at collection (ProcessTotals); GOAWAYs and
 * drains are rare enough to be recorded as they happen.
 */
import { createRequire } from 'node:module';
import { DURATION_BUCKETS_S, ProcessTotals, type TelemetryAttributes, processInstruments } from '@x/core';
import type { EnforcerStats } from './enforcer.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** The enforcers' counts carry no attributes of their own. */
const NO_ATTRIBUTES: TelemetryAttributes = {};

/** An enforcer as the metrics see it. */
export interface EnforcerTelemetry {
  /** A GOAWAY was sent, with this debug data (`too_many_pings`, `max_idle`, `max_age`). */
  goaway(reason: string): void;
  /** A connection told to go away closed `seconds` after its GOAWAY. */
  drained(reason: string, seconds: number): void;
}

/** Attribute objects by GOAWAY reason, made once each. */
const REASONS = new Map<string, TelemetryAttributes>();

function reasonOf(reason: string): TelemetryAttributes {
  let attributes = REASONS.get(reason);
  if (attributes === undefined) REASONS.set(reason, (attributes = { reason }));
  return attributes;
}

const counter = (name: string, count: keyof EnforcerStats, description: string, unit: string) => ({ name, count, description, unit });

/** Made with the first enforcer made while an SDK is registered. */
const made = processInstruments('@x/grpc-keepalive', VERSION, (meter) => ({
  totals: new ProcessTotals<keyof EnforcerStats>(
    meter,
    [
      counter('x.grpc_keepalive.connections.opened', 'connectionsOpened', 'Connections the enforcer watched', '{connection}'),
      counter('x.grpc_keepalive.connections.closed', 'connectionsClosed', 'Watched connections that closed', '{connection}'),
      counter('x.grpc_keepalive.pings.received', 'pingsReceived', 'Pings received from clients', '{ping}'),
      counter('x.grpc_keepalive.ping.strikes', 'pingStrikes', 'Pings that came sooner than the policy allows', '{ping}'),
    ],
    [counter('x.grpc_keepalive.connections.open', 'open', 'Watched connections open now', '{connection}')],
  ),
  goaways: meter.counter('x.grpc_keepalive.goaways', { description: 'GOAWAY frames sent, by reason (too_many_pings, max_idle, max_age)', unit: '{goaway}' }),
  drainDuration: meter.histogram('x.grpc_keepalive.drain.duration', {
    description: "From a connection's GOAWAY to its close, by reason",
    unit: 's',
    buckets: DURATION_BUCKETS_S,
  }),
}));

const NOT_RECORDING: EnforcerTelemetry = { goaway: () => undefined, drained: () => undefined };

/** Counts `enforcer` (its `stats`, read at collection) in the metrics for as long as it lives. */
export function watchEnforcer(enforcer: object, stats: EnforcerStats): EnforcerTelemetry {
  const recording = made();
  if (recording === undefined) return NOT_RECORDING;
  recording.totals.add(enforcer, { attributes: NO_ATTRIBUTES, counts: stats });
  return {
    goaway: (reason) => recording.goaways.add(1, reasonOf(reason)),
    drained: (reason, seconds) => recording.drainDuration.record(seconds, reasonOf(reason)),
  };
}
