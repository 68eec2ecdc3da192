/**
 * The app as Prometheus sees it: a scrape before and after a known amount of work through every package, and
 * the series moved by exactly that much (Redis from the services `npm test` starts).
 */
import { freePort, redisEndpoint, requireRedis } from '@x/testkit';
import { type App, startApp } from '../src/app.js';
import { drive, scrape, sumOf } from '../src/work.js';

let app: App;

beforeAll(async () => {
  (await requireRedis()).disconnect();
  const { host, port } = redisEndpoint();
  app = await startApp({ metricsPort: await freePort(), redisUrl: `redis://${host}:${port}` });
});
afterAll(async () => {
  await app?.stop();
});

describe('examples/observability', () => {
  it('moves every package’s series by the work done between two scrapes', async () => {
    const amounts = { jobs: 100, locks: 12, timers: 200, connections: 8 };
    // A first round so that every series exists before the measured one.
    await drive(app, { jobs: 1, locks: 1, timers: 1, connections: 1 }, 'warm-up');
    const before = await scrape(app.metricsUrl);
    await drive(app, amounts, 'emails');
    // The reactors publish their counters when idle: let them.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const after = await scrape(app.metricsUrl);
    const moved = (name: string, where?: (series: string) => boolean): number => sumOf(after, name, where) - sumOf(before, name, where);
    const emails = (series: string): boolean => series.includes('messaging_destination_name="emails"');

    expect(moved('messaging_client_sent_messages_total', emails)).toBe(amounts.jobs);
    expect(moved('messaging_client_consumed_messages_total', emails)).toBe(amounts.jobs);
    expect(moved('x_delayqueue_jobs_acked_total', emails)).toBe(amounts.jobs);
    // Under the sampler's first window (256 events) every delivery and run is timed.
    expect(moved('x_delayqueue_job_lateness_count', emails)).toBe(amounts.jobs);
    expect(moved('x_redlock_acquire_duration_count', (s) => s.includes('outcome="acquired"'))).toBe(amounts.locks);
    expect(sumOf(after, 'x_redlock_locks_held')).toBe(0);
    // The wheel the app made is a hashed one; the memory delay queue keeps its own timers too.
    expect(moved('x_timewheel_timers_fired_total', (s) => s.includes('x_timewheel_kind="hashed"'))).toBe(amounts.timers);
    expect(sumOf(after, 'x_timewheel_timers_pending', (s) => s.includes('x_timewheel_kind="hashed"'))).toBe(0);
    if (app.echoPort !== undefined) {
      expect(moved('x_socket_connections_accepted_total')).toBe(amounts.connections);
      expect(moved('x_socket_bytes_received_total')).toBe(amounts.connections * 'ping\n'.length);
      expect(sumOf(after, 'x_socket_connections_open')).toBe(0);
    }
  });
});
