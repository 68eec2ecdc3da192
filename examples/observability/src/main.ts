/**
 * Starts the app, runs some work through every package, and prints what Prometheus would scrape from
 * http://127.0.0.1:9464/metrics (X_METRICS_PORT to change it; Redis at X_REDIS_URL, default 127.0.0.1:6379).
 * With X_SERVE=1 it then keeps serving the metrics until Ctrl-C, for a Prometheus (or curl) of your own.
 */
import { startApp } from './app.js';
import { drive, scrape, sumOf } from './work.js';

async function main(): Promise<void> {
  const app = await startApp({ metricsPort: Number(process.env.X_METRICS_PORT ?? 9464), redisUrl: process.env.X_REDIS_URL ?? 'redis://127.0.0.1:6379' });
  try {
    console.log(`metrics at ${app.metricsUrl}`);
    await drive(app, { jobs: 500, locks: 50, timers: 10_000, connections: 20 });
    const samples = await scrape(app.metricsUrl);
    const shown = [
      ['delay queue: jobs acked', sumOf(samples, 'x_delayqueue_jobs_acked_total')],
      ['delay queue: deliveries timed for lateness (a sample)', sumOf(samples, 'x_delayqueue_job_lateness_count')],
      ['redlock: acquires', sumOf(samples, 'x_redlock_acquire_duration_count')],
      ['timewheel: timers fired', sumOf(samples, 'x_timewheel_timers_fired_total')],
      ['socket: connections accepted', sumOf(samples, 'x_socket_connections_accepted_total')],
      ['socket: bytes received', sumOf(samples, 'x_socket_bytes_received_total')],
    ] as const;
    for (const [what, value] of shown) console.log(`${what.padEnd(56)} ${value}`);
    console.log('\nsome of the scrape as Prometheus sees it:');
    for (const [series, value] of samples) if (/^x_(delayqueue_jobs_acked|redlock_locks_held|timewheel_timers_pending|socket_connections_open)/.test(series)) console.log(`  ${series} ${value}`);
    if (process.env.X_SERVE === '1') {
      console.log(`\nserving ${app.metricsUrl} until Ctrl-C`);
      await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
    }
  } finally {
    await app.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
