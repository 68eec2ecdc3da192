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

/**
 * `workers` contend for one resource for `durationMs`, each holding it for `holdMs`: locks per second and the
 * acquire wait quantiles in ms.
 */
export async function contended(
  name: LockerName,
  clients: Redis[],
  workers: number,
  holdMs: number,
  durationMs: number,
): Promise<{ locksPerSecond: number; waitP50: number; waitP99: number }> {
  const locker = makeLocker(name, clients);
  const resource = `x-redlock-bench:contended:${process.pid}:${runId++}`;
  const waits: number[] = [];
  const started = performance.now();
  const stopAt = started + durationMs;
  let locks = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (performance.now() < stopAt) {
        const asked = performance.now();
        const release = await locker.lock(resource, 10_000);
        waits.push(performance.now() - asked);
        await new Promise((resolve) => setTimeout(resolve, holdMs));
        await release();
        locks++;
      }
    }),
  );
  const elapsed = performance.now() - started;
  await locker.close();
  const sorted = Float64Array.from(waits).sort();
  return { locksPerSecond: locks / (elapsed / 1000), waitP50: quantile(sorted, 0.5), waitP99: quantile(sorted, 0.99) };
}
