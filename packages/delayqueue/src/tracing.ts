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

/** Headers of the stored context: the propagator's own names (`traceparent`, `tracestate`, ...), at most a few. */
const MAX_CARRIER_BYTES = 1_024;

export class QueueTracing {
  private readonly tracer: TelemetryTracer = packageTracer('@x/delayqueue', VERSION);

  /** The active trace context to store with a job added now, or undefined (none, or nothing records). */
  carrier(): TraceCarrier | undefined {
    if (!this.tracer.recording) return undefined;
    const headers: Record<string, string> = {};
    this.tracer.inject(headers);
    const keys = Object.keys(headers);
    // A propagator that writes more than a trace context (large baggage) is not stored at all: it would ride
    // along with every job, in every backend, on every hop.
    if (keys.length === 0 || JSON.stringify(headers).length > MAX_CARRIER_BYTES) return undefined;
    return headers;
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
