import { type LockerName, makeLocker } from './peers.js';
import type { Redis } from 'ioredis';

const quantile = (sorted: Float64Array, q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
let runId = 0;

/** Acquire + release, one after the other, no contention: latency quantiles in ms. */
export async function uncontended(name: LockerName, clients: Redis[], operations: number): Promise<{ p50: number; p99: number }> {
  const locker = makeLocker(name, clients);
  const latencies = new Float64Array(operations);
  const resource = `x-redlock-bench:uncontended:${process.pid}:${runId++}`;
  for (let i = 0; i < operations; i++) {
    const started = performance.now();
    const release = await locker.lock(resource, 10_000);
    await release();
    latencies[i] = performance.now() - started;
  }
  await locker.close();
  latencies.sort();
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/** What contending workers did: their acquire waits (ms) and how many locks each got. */
export interface ContentionLog {
  waits: number[];
  locksPerWorker: number[];
  elapsedMs: number;
}

/** Locks per second, wait quantiles and Jain's fairness index over workers of one or more contention logs. */
export interface ContentionResult {
  locksPerSecond: number;
  waitP50: number;
  waitP99: number;
  /** (Σx)² / (n·Σx²) over the workers' lock counts: 1 when every worker got as many. */
  fairness: number;
  locks: number;
}

export function summarize(logs: readonly ContentionLog[]): ContentionResult {
  const counts = logs.flatMap((log) => log.locksPerWorker);
  const locks = counts.reduce((a, b) => a + b, 0);
  const squares = counts.reduce((a, b) => a + b * b, 0);
  const sorted = Float64Array.from(logs.flatMap((log) => log.waits)).sort();
  const elapsed = Math.max(...logs.map((log) => log.elapsedMs));
  return {
    locksPerSecond: locks / (elapsed / 1000),
    waitP50: quantile(sorted, 0.5),
    waitP99: quantile(sorted, 0.99),
    fairness: squares === 0 ? 0 : (locks * locks) / (counts.length * squares),
    locks,
  };
}

/**
 * `workers` contend for `resource` until `stopAt` (performance.now() time), each holding it for `holdMs`; with
 * `counter`, a holder also reads and writes back a counter there (GET, then SET of the value plus one), so two
 * holders at once lose an update, which the caller sees in the counter's final value.
 */
export async function contend(
  name: LockerName,
  clients: Redis[],
  resource: string,
  workers: number,
  holdMs: number,
  stopAt: number,
  counter?: { client: Redis; key: string },
): Promise<ContentionLog> {
  const locker = makeLocker(name, clients);
  const waits: number[] = [];
  const locksPerWorker = new Array<number>(workers).fill(0);
  const started = performance.now();
  // A worker still waiting at the stop gives up (node-redlock across processes can wait many seconds): its wait
  // so far is counted, a lower bound of what it would have been, and a lock it gets later is released at once.
  const stopped = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), Math.max(0, stopAt - performance.now())));
  await Promise.all(
    locksPerWorker.map(async (_, worker) => {
      while (performance.now() < stopAt) {
        const asked = performance.now();
        const asking = locker.lock(resource, 10_000);
        const release = await Promise.race([asking, stopped]);
        waits.push(performance.now() - asked);
        if (release === undefined) {
          void asking.then((late) => late(), () => undefined);
          break;
        }
        const value = counter === undefined ? 0 : Number(await counter.client.get(counter.key));
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        if (counter !== undefined) await counter.client.set(counter.key, value + 1);
        await release();
        locksPerWorker[worker]!++;
      }
    }),
  );
  const elapsedMs = performance.now() - started;
  await locker.close();
  return { waits, locksPerWorker, elapsedMs };
}

/** Fresh resource and counter names for one contention run. */
export function contentionKeys(): { resource: string; counterKey: string } {
  const id = `${process.pid}:${runId++}`;
  return { resource: `x-redlock-bench:contended:${id}`, counterKey: `x-redlock-bench:counter:${id}` };
}

/**
 * `workers` in this process contend for one resource for `durationMs`; with `withCounter`, each holder updates a
 * counter on the first master and lost updates are counted (else 0).
 */
export async function contended(
  name: LockerName,
  clients: Redis[],
  workers: number,
  holdMs: number,
  durationMs: number,
  withCounter = false,
): Promise<ContentionResult & { lostUpdates: number }> {
  const { resource, counterKey } = contentionKeys();
  const counter = withCounter ? { client: clients[0]!, key: counterKey } : undefined;
  const log = await contend(name, clients, resource, workers, holdMs, performance.now() + durationMs, counter);
  const result = summarize([log]);
  if (counter === undefined) return { ...result, lostUpdates: 0 };
  const lostUpdates = result.locks - Number(await counter.client.get(counterKey));
  await counter.client.del(counterKey);
  return { ...result, lostUpdates };
}

/**
 * The most locks a second one key can give with a `holdMs` hold: one worker doing nothing but the hold
 * (`await setTimeout(holdMs)` in sequence), so every hand-over costs nothing.
 */
export async function holdCeiling(holdMs: number, durationMs: number): Promise<number> {
  const started = performance.now();
  let holds = 0;
  while (performance.now() - started < durationMs) {
    await new Promise((resolve) => setTimeout(resolve, holdMs));
    holds++;
  }
  return holds / ((performance.now() - started) / 1000);
}
