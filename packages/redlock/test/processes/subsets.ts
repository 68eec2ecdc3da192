/**
 * A process that locks random subsets of a few resources in a loop, as a service locking several records at once
 * does. Env: PORTS (the masters, comma-separated), MAX_TTL (the restart guard), RESOURCES (comma-separated),
 * RECORD_PORT, RECORD (a key prefix), WORKERS (loops run side by side, as a service's requests). It says it is
 * ready on `<RECORD>:ready` and starts when `<RECORD>:go` gives it the end of the run (epoch ms): a child takes
 * seconds to start on a loaded machine, and the run must not be spent waiting for it. Under each lock it
 * increments each resource's counter on the recording Redis with a plain read and write (a second holder would
 * lose updates), and pushes what it held and when (this machine's clock, shared by every process) to
 * `<RECORD>:held`.
 */
import { Redis } from 'ioredis';
import { exponentialBackoff } from '@x/core';
import { Redlock } from '../../src/index.js';

const env = (name: string): string => process.env[name] ?? '';
const masters = env('PORTS').split(',').map((port) => new Redis({ port: Number(port), host: '127.0.0.1', maxRetriesPerRequest: 1, disconnectTimeout: 20, enableOfflineQueue: false }));
// A master that is down is part of the run: refused at once (no offline queue), as an instance that does not
// vote; its errors are the instance's answer, not the process's.
for (const master of masters) master.on('error', () => undefined);
const recorder = new Redis({ port: Number(env('RECORD_PORT')), host: '127.0.0.1' });
const resources = env('RESOURCES').split(',');
const record = env('RECORD');
let until = 0;
const redlock = new Redlock(masters, {
  maxTtl: Number(env('MAX_TTL')),
  requestTimeout: 200,
  retryCount: 100_000,
  backoff: exponentialBackoff({ initial: 20, max: 100 }),
});

async function worker(): Promise<void> {
  while (Date.now() < until) {
    const subset = resources.filter(() => Math.random() < 0.5);
    if (subset.length === 0) continue;
    const lock = await redlock.acquire(subset, 1_000, { acquireTimeout: Math.max(1, until - Date.now()) }).catch(() => undefined);
    if (lock === undefined) break;
    const start = Date.now();
    for (const resource of subset) {
      const count = Number((await recorder.get(`${record}:count:${resource}`)) ?? '0');
      await new Promise((resolve) => setTimeout(resolve, 2));
      await recorder.set(`${record}:count:${resource}`, String(count + 1));
    }
    const end = Date.now();
    await lock.release();
    await recorder.rpush(`${record}:held`, JSON.stringify({ pid: process.pid, subset, start, end }));
  }
}

async function main(): Promise<void> {
  await recorder.rpush(`${record}:ready`, String(process.pid));
  until = Number((await recorder.blpop(`${record}:go`, 60))?.[1]);
  await Promise.all(Array.from({ length: Number(env('WORKERS')) }, worker));
  await redlock.close();
  for (const master of masters) master.disconnect();
  await recorder.quit();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
