/**
 * One consumer process of the failover bench: opens the queue `X_QUEUE` on backend `X_KIND` and prints a line
 * `delivered <due>` per job it runs (the parent reads them and SIGKILLs it). Env: X_KIND, X_QUEUE, X_REDIS_PORT.
 */
import { DelayQueue } from '@x/delayqueue';
import { backendKinds } from './backend-kinds.js';
import { TOPIC } from './lateness.js';

void (async () => {
  const { kinds } = await backendKinds(Number(process.env.X_REDIS_PORT));
  const kind = kinds.find((k) => k.name === process.env.X_KIND)!;
  const { backend } = await kind.open(process.env.X_QUEUE!);
  const queue = new DelayQueue({ backend });
  queue.on('error', (error) => console.error(String(error)));
  queue.process<{ due: number }>(TOPIC, (job) => void process.stdout.write(`delivered ${job.payload.due}\n`), { concurrency: 50 });
  process.stdout.write('ready\n');
})();
