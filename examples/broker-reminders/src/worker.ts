/**
 * One worker process: "sends" each due reminder of the queue named in argv[2] (a short wait) and tells the
 * parent over IPC, so the parent can check none was lost.
 */
import { DelayQueue } from '@x/delayqueue';
import { TOPIC, openBackend } from './backend.js';

const SEND_MS = 20;

void openBackend(process.argv[2]!).then(({ backend, release }) => {
  const queue = new DelayQueue({ backend });
  queue.on('error', (error) => console.error(`worker ${process.pid}:`, error));
  queue.process<{ due: number }>(
    TOPIC,
    async (job) => {
      await new Promise((resolve) => setTimeout(resolve, SEND_MS));
      process.send?.({ id: job.id, late: Date.now() - job.payload.due, attempt: job.attempt });
    },
    { concurrency: 8 },
  );
  process.once('SIGTERM', () => void queue.close().finally(() => release().finally(() => process.exit(0))));
  process.send?.('ready');
});
