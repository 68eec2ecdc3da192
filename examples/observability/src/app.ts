/**
 * The app: an OpenTelemetry MeterProvider with the Prometheus exporter, registered before anything else is made
 * (the packages make their instruments with their objects), then a delay queue, a Redlock, a timer wheel and a
 * socket server. Each package records through `@opentelemetry/api` only; this app owns the SDK.
 */
import { join } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { DelayQueue } from '@x/delayqueue';
import { Redlock } from '@x/redlock';
import { type SocketServer, createServer, isSupported } from '@x/socket';
import { HashedWheel } from '@x/timewheel';
import { Redis } from 'ioredis';

export interface App {
  queue: DelayQueue;
  redlock: Redlock;
  wheel: HashedWheel;
  /** Undefined where @x/socket cannot run (not Linux, no koffi). */
  server: SocketServer | undefined;
  /** Where the echo server listens. */
  echoPort: number | undefined;
  /** The Prometheus endpoint. */
  metricsUrl: string;
  stop(): Promise<void>;
}

export async function startApp(options: { metricsPort: number; redisUrl: string }): Promise<App> {
  const exporter = new PrometheusExporter({ port: options.metricsPort, host: '127.0.0.1' });
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  await exporter.startServer();

  const queue = new DelayQueue();
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const redlock = new Redlock([redis], { restartGuard: false });
  const wheel = new HashedWheel();
  const server = isSupported() ? createServer({ handler: join(__dirname, '..', 'handlers', 'echo.cjs'), reactors: 2 }) : undefined;
  const echoPort = server === undefined ? undefined : (await server.listen()).port;
  return {
    queue,
    redlock,
    wheel,
    server,
    echoPort,
    metricsUrl: `http://127.0.0.1:${options.metricsPort}/metrics`,
    async stop() {
      await queue.close();
      await redlock.close();
      wheel.close();
      await server?.close(1_000);
      await redis.quit();
      metrics.disable();
      await provider.shutdown();
    },
  };
}
