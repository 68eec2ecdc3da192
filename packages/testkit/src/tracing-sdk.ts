/** A real OpenTelemetry tracing SDK for tests: spans kept in memory, W3C trace context, async context. */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

export interface TracingSdk {
  /** Spans ended so far. */
  finished(): ReadableSpan[];
  /** Unregisters everything (the API's globals) and shuts the provider down. */
  shutdown(): Promise<void>;
}

/** Registers a TracerProvider, the W3C propagator and an async-hooks context manager as the API's globals. */
export function registerTracingSdk(): TracingSdk {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    finished: () => exporter.getFinishedSpans(),
    shutdown: async () => {
      trace.disable();
      propagation.disable();
      context.disable();
      await provider.shutdown();
    },
  };
}
