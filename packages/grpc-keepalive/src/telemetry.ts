/**
 * The enforcers' OpenTelemetry instruments (see README: Metrics): none record unless the application registered
 * an SDK's MeterProvider before an enforcer was made (`@opentelemetry/api`, an optional peer). Counts are the
 * enforcers' own `stats()`, summed over every enforcer of the process at collection (ProcessTotals); GOAWAYs and
 * drains are rare enough to be recorded as they happen.
 */
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { DURATION_BUCKETS_S, ProcessTotals, type TelemetryAttributes, packageMeter, processInstruments } from '@x/core';
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

/** Methods the HTTP semantic conventions name; any other is reported as `_OTHER`. */
const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** A gateway as the metrics see it. */
export interface GatewayTelemetry {
  /** Times `response` from now to its end: its status, or `error.type` when the client hung up first. */
  time(method: string, route: string | undefined, response: ServerResponse): void;
}

/**
 * The gateway's request histogram (OpenTelemetry's `http.server.request.duration`), or undefined when nothing
 * records. Every request is timed, not a sample: its count is the number of requests by status, and a histogram
 * record (about 1.5 µs) is small beside an HTTP request and a gRPC call.
 */
export function gatewayTelemetry(): GatewayTelemetry | undefined {
  const meter = packageMeter('@x/grpc-keepalive', VERSION);
  if (!meter.recording) return undefined;
  const duration = meter.histogram('http.server.request.duration', { description: 'Gateway requests, from arrival to the end of the response', unit: 's', buckets: DURATION_BUCKETS_S });
  const attributeSets = new Map<string, TelemetryAttributes>();
  const attributesOf = (method: string, route: string | undefined, outcome: number | 'client_closed'): TelemetryAttributes => {
    const key = `${method} ${route ?? ''} ${outcome}`;
    let attributes = attributeSets.get(key);
    if (attributes === undefined) {
      attributes = {
        'http.request.method': method,
        ...(route === undefined ? {} : { 'http.route': route }),
        ...(outcome === 'client_closed' ? { 'error.type': 'client_closed' } : { 'http.response.status_code': outcome }),
      };
      // Bounded: routes are the service's methods, methods a fixed list, statuses a few dozen.
      attributeSets.set(key, attributes);
    }
    return attributes;
  };
  return {
    time(method, route, response) {
      const started = performance.now();
      const known = HTTP_METHODS.has(method) ? method : '_OTHER';
      response.once('close', () => {
        const outcome = response.writableFinished ? response.statusCode : 'client_closed';
        duration.record((performance.now() - started) / 1000, attributesOf(known, route, outcome));
      });
    },
  };
}

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
