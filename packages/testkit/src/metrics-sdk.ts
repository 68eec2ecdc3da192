/**
 * An OpenTelemetry metrics SDK registered as an application registers it, with a reader the test collects from
 * at will (nothing is exported on a timer), for tests that read back what a package recorded.
 */
import { metrics } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';

export interface MetricsSdk {
  /** Collects every instrument now. */
  collect(): Promise<ResourceMetrics>;
  /** Unregisters the provider (a later registration then takes effect) and shuts it down. */
  shutdown(): Promise<void>;
}

export function registerMetricsSdk(exportIntervalMillis = 3_600_000): MetricsSdk {
  const reader = new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  return {
    collect: async () => (await reader.collect()).resourceMetrics,
    shutdown: async () => {
      metrics.disable();
      await provider.shutdown();
    },
  };
}

/** The data points of the instrument `name` in what was collected (none when it recorded nothing). */
export function metricPoints(collected: ResourceMetrics, name: string): ResourceMetrics['scopeMetrics'][number]['metrics'][number]['dataPoints'] {
  return collected.scopeMetrics.flatMap((scope) => scope.metrics).find((metric) => metric.descriptor.name === name)?.dataPoints ?? [];
}

/**
 * Runs `work` with an SDK registered whose reader collects every second into memory, as an application's
 * exporter would (for benchmarks of what recording costs); unregistered after.
 */
export async function withMetricsSdk<T>(work: () => Promise<T>): Promise<T> {
  const sdk = registerMetricsSdk(1_000);
  try {
    return await work();
  } finally {
    await sdk.shutdown();
  }
}
