/**
 * The gateway's OpenTelemetry instrument (see README: Metrics): nothing records unless the application
 * registered an SDK's MeterProvider before the gateway was made (`@opentelemetry/api`, an optional peer).
 */
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { DURATION_BUCKETS_S, type TelemetryAttributes, packageMeter } from '@x/core';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

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
  const meter = packageMeter('@x/grpc-gateway', VERSION);
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
      // Bounded: routes are the rules' templates, methods a fixed list, statuses a few dozen.
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
