/**
 * One worker process of the rate-limit bench: consumes the bench queue as contender `X_CONTENDER` under a limit of
 * `X_RATE` deliveries a second, and appends `<start ms> <due ms> <reserved ms>` of each job it runs to the Redis list
 * `rate-limit:runs` (one clock for every process: this machine's). Prints `ready` once consuming; SIGTERM ends it.
 * Env: X_CONTENDER, X_REDIS_PORT, X_RATE.
 */
import { Redis } from 'ioredis';
import { type ContenderName, contender } from './contenders.js';

export const RUNS_KEY = 'rate-limit:runs';

if (require.main === module) {
  const port = Number(process.env.X_REDIS_PORT);
  const tally = new Redis({ port, host: '127.0.0.1' });
  const c = contender(process.env.X_CONTENDER as ContenderName, port);
  c.consume(1, 50, async (payload, reservedAt) => void (await tally.rpush(RUNS_KEY, `${Date.now()} ${payload.due} ${reservedAt}`)), Number(process.env.X_RATE));
  process.once('SIGTERM', () => {
    void c
      .close()
      .then(() => tally.quit())
      .finally(() => process.exit(0));
  });
  process.stdout.write('ready\n');
}
