/**
 * Trace context across the queue (see README: Traces): `add` stores the caller's active context with each job
 * (through the registered propagator, W3C `traceparent` by default), and each handler attempt runs in a
 * CONSUMER span linked to it, so the trace that added a job leads to every run of it, in whichever process.
 * Without a registered TracerProvider nothing is stored or made.
 */
import { createRequire } from 'node:module';
import { type TelemetryTracer, type WorkSpan, packageTracer } from '@x/core';
import type { Delivery, TraceCarrier } from './backend.js';

const VERSION = (createRequire(__filename)('../package.json') as { version: string }).version;

/** Most of the stored context, as JSON: the propagator's headers (`traceparent`, `tracestate`, baggage, ...). */
const MAX_CARRIER_BYTES = 1_024;
/** What is kept of a larger context: the link itself (W3C trace context), without the baggage. */
const TRACE_CONTEXT_HEADERS = ['traceparent', 'tracestate'];

export class QueueTracing {
  private readonly tracer: TelemetryTracer = packageTracer('@x/delayqueue', VERSION);

  /** The active trace context to store with a job added now, or undefined (none, or nothing records). */
  carrier(): TraceCarrier | undefined {
    if (!this.tracer.recording) return undefined;
    const written: Record<string, unknown> = {};
    this.tracer.inject(written as Record<string, string>);
    // Text only, as every backend can carry it back (a propagator writing numbers or objects is not W3C's).
    const headers = Object.fromEntries(Object.entries(written).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
    if (Object.keys(headers).length === 0) return undefined;
    if (JSON.stringify(headers).length <= MAX_CARRIER_BYTES) return headers;
    // Large baggage would ride along with every job, in every backend, on every hop: the link is kept without it.
    const context = Object.fromEntries(TRACE_CONTEXT_HEADERS.filter((name) => headers[name] !== undefined).map((name) => [name, headers[name]!]));
    return Object.keys(context).length > 0 && JSON.stringify(context).length <= MAX_CARRIER_BYTES ? context : undefined;
  }

  /** A span for one handler attempt of `delivery`, linked to the context stored at its add (undefined: none made). */
  attempt(delivery: Delivery): WorkSpan | undefined {
    if (!this.tracer.recording) return undefined;
    return this.tracer.processSpan(
      `process ${delivery.topic}`,
      {
        'messaging.system': 'x-delayqueue',
        'messaging.operation.name': 'process',
        'messaging.operation.type': 'process',
        'messaging.destination.name': delivery.topic,
        'messaging.message.id': delivery.id,
        'x.delayqueue.attempt': delivery.attempt,
      },
      [delivery.trace],
    );
  }
}
