/**
 * One process of the `processes-4x16` case: started by processes.ts with its locker, resource, counter key and
 * worker count; connects, says ready, contends from the start time it is sent until the stop time, and sends
 * back its contention log.
 */
import { Redis } from 'ioredis';
import { redisMasters } from '@x/testkit';
import type { LockerName } from './peers.js';
import { contend } from './scenarios.js';

interface Go {
  /** Start and stop as Date.now() times: the processes' performance.now() origins differ. */
  startAt: number;
  stopAt: number;
}

void (async () => {
  const [name, resource, counterKey, workers, holdMs] = process.argv.slice(2);
  const clients = redisMasters().map((endpoint) => new Redis({ ...endpoint, lazyConnect: false }));
  await Promise.all(clients.map((client) => client.ping()));
  const go = await new Promise<Go>((resolve) => {
    process.once('message', (message) => resolve(message as Go));
    process.send!('ready');
  });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, go.startAt - Date.now())));
  const stopAt = performance.now() + (go.stopAt - Date.now());
  const log = await contend(name as LockerName, clients, resource!, Number(workers), Number(holdMs), stopAt, { client: clients[0]!, key: counterKey! });
  await new Promise<void>((resolve) => process.send!(log, () => resolve()));
  // At once: a peer's attempts given up at the stop may still be retrying on these clients.
  process.exit(0);
})().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
