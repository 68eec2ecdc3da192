/**
 * Trace context a propagator makes trouble with (the conformance suite covers the ordinary case on every
 * backend): large baggage, and a propagator that throws. Real SDK, memory backend.
 */
import { type TextMapPropagator, context, propagation, trace } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { type TracingSdk, eventually, registerTracingSdk } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { QueueTracing } from '../src/tracing.js';

let tracing: TracingSdk;
beforeEach(() => {
  tracing = registerTracingSdk();
});
afterEach(async () => {
  await tracing.shutdown();
});

function usePropagator(propagator: TextMapPropagator): void {
  // The API keeps the first propagator registered until it is disabled.
  propagation.disable();
  propagation.setGlobalPropagator(propagator);
}

describe('trace context the propagator makes trouble with', () => {
  it('keeps the link (traceparent, tracestate) and drops the baggage when the context is over 1 KiB', () => {
    usePropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
    const span = trace.getTracer('test').startSpan('add');
    // 3,000 bytes: within what the W3C baggage propagator writes (4,096 per entry), beyond what is stored.
    const baggage = propagation.createBaggage({ big: { value: 'x'.repeat(3_000) } });
    const carrier = context.with(propagation.setBaggage(trace.setSpan(context.active(), span), baggage), () => new QueueTracing().carrier());
    span.end();
    expect(Object.keys(carrier ?? {})).toEqual(['traceparent']);
    expect(carrier?.traceparent).toContain(span.spanContext().spanId);
    // Small baggage travels with the link.
    const small = context.with(propagation.setBaggage(trace.setSpan(context.active(), span), propagation.createBaggage({ a: { value: '1' } })), () => new QueueTracing().carrier());
    expect(Object.keys(small ?? {}).sort()).toEqual(['baggage', 'traceparent']);
  });

  it('a propagator that throws: jobs are added and run all the same, their spans linked to nothing', async () => {
    usePropagator({
      inject: () => {
        throw new Error('inject boom');
      },
      extract: () => {
        throw new Error('extract boom');
      },
      fields: () => [],
    });
    const queue = new DelayQueue({ attempts: 1 });
    const errors: unknown[] = [];
    queue.on('error', (error) => errors.push(error));
    let ran = 0;
    queue.process('t', () => void ran++);
    const span = trace.getTracer('test').startSpan('add');
    await context.with(trace.setSpan(context.active(), span), () => queue.add('t', 'x'));
    span.end();
    await eventually(() => ran === 1 && tracing.finished().some((s) => s.name === 'process t'), 'the job run and its span ended', 5_000);
    expect(tracing.finished().find((s) => s.name === 'process t')?.links).toEqual([]);
    expect(queue.metrics()).toMatchObject({ acked: 1, dead: 0 });
    expect(errors).toEqual([]);
    await queue.close();
  });
});
