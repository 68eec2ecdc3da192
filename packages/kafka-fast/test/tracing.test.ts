/** Trace context through a real broker: producers' traceparent headers lead to one span per handler run. */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { requireKafka } from '@x/testkit';
import { ParallelConsumer } from '../src/index.js';
import { eventually, freshTopic, kafka, uniqueName } from './kafka.js';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const contextManager = new AsyncLocalStorageContextManager().enable();

beforeAll(async () => {
  await (await requireKafka()).disconnect();
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(contextManager);
});
afterAll(async () => {
  trace.disable();
  propagation.disable();
  context.disable();
  await provider.shutdown();
});

describe('trace context', () => {
  it("runs each handler attempt in a CONSUMER span linked to its producer's trace, with failures and the handler's own spans under it", async () => {
    const topic = await freshTopic(1);
    // Three records, each sent inside a producer span whose context travels in the headers.
    const tracer = trace.getTracer('test');
    const sent: { traceId: string; spanId: string }[] = [];
    const messages = [0, 1, 2].map((i) => {
      const headers: Record<string, string> = {};
      const span = tracer.startSpan('send');
      propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers);
      sent.push(span.spanContext());
      span.end();
      return { key: `k${i}`, value: String(i), headers };
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages });
    await producer.disconnect();

    let failedOnce = false;
    const done = new Set<number>();
    const groupId = uniqueName('g');
    const consumer = new ParallelConsumer({
      kafka,
      groupId,
      topics: [topic],
      fromBeginning: true,
      retryDelayMs: 1,
      handler: async (record) => {
        const value = Number(record.value);
        // A span the handler makes is a child of the run's span.
        tracer.startSpan(`work ${value}`).end();
        if (value === 1 && !failedOnce) {
          failedOnce = true;
          throw new TypeError('first attempt fails');
        }
        done.add(value);
      },
    });
    await consumer.start();
    try {
      await eventually(() => done.size === 3, 'every record handled');
    } finally {
      await consumer.close();
    }
    const spans = exporter.getFinishedSpans();
    const runs = spans.filter((span) => span.name === `process ${topic}`);
    // Four runs: three records, one of them twice.
    expect(runs).toHaveLength(4);
    for (const run of runs) {
      expect(run.kind).toBe(SpanKind.CONSUMER);
      expect(run.attributes).toMatchObject({
        'messaging.system': 'kafka',
        'messaging.operation.name': 'process',
        'messaging.destination.name': topic,
        'messaging.destination.partition.id': '0',
        'messaging.consumer.group.name': groupId,
      });
      const value = Number(run.attributes['messaging.kafka.offset']);
      expect(run.links.map((link) => ({ traceId: link.context.traceId, spanId: link.context.spanId }))).toEqual([{ traceId: sent[value]!.traceId, spanId: sent[value]!.spanId }]);
    }
    const failed = runs.filter((run) => run.status.code === SpanStatusCode.ERROR);
    expect(failed.map((run) => [run.attributes['messaging.kafka.offset'], run.attributes['x.kafka_fast.attempt'], run.attributes['error.type']])).toEqual([[1, 1, 'TypeError']]);
    expect(runs.filter((run) => run.attributes['messaging.kafka.offset'] === 1).map((run) => run.attributes['x.kafka_fast.attempt']).sort()).toEqual([1, 2]);
    // The handler's own spans hang under the run they were made in.
    const work = spans.filter((span) => span.name.startsWith('work '));
    expect(work).toHaveLength(4);
    const runIds = new Set(runs.map((run) => run.spanContext().spanId));
    for (const span of work) expect(runIds.has(span.parentSpanContext?.spanId ?? '')).toBe(true);
  }, 60_000);
});
