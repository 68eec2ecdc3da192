/**
 * `npm run bench -w @x/redlock [-- --quick]` against the five masters of `scripts/services` (127.0.0.1:7001-7005):
 * ours against node-redlock (`redlock` 5.0.0-beta.2, the ioredis-era API) and redis-semaphore's RedlockMutex.
 */
import type { Redis } from 'ioredis';
import { type BenchCase, isQuick, redisMasters, requireRedis, runBench } from '@x/testkit';
import type { LockerName } from './peers.js';
import { contended, uncontended } from './scenarios.js';

const quick = isQuick();
const OPERATIONS = quick ? 300 : 2_000;
const WORKERS = 64;
const HOLD_MS = 1;
const DURATION_MS = quick ? 1_000 : 5_000;
const rounds = quick ? 3 : 5;

void (async () => {
  const clients: Redis[] = await Promise.all(redisMasters().map((endpoint) => requireRedis(endpoint)));
  const cases: BenchCase[] = [];
  const details: string[] = [];
  for (const peer of ['redlock', 'redis-semaphore'] as LockerName[]) {
    cases.push({
      id: 'uncontended-p99',
      unit: 'ms',
      better: 'lower',
      peer,
      rounds,
      ours: async () => (await uncontended('ours', clients, OPERATIONS)).p99,
      theirs: async () => (await uncontended(peer, clients, OPERATIONS)).p99,
    });
    const contention = (name: LockerName) => async () => {
      const result = await contended(name, clients, WORKERS, HOLD_MS, DURATION_MS);
      details.push(`${name.padEnd(16)} ${result.locksPerSecond.toFixed(0)} locks/s, wait p50 ${result.waitP50.toFixed(1)} ms, p99 ${result.waitP99.toFixed(1)} ms`);
      return result;
    };
    cases.push({
      id: 'contended-throughput',
      unit: 'locks/s',
      better: 'higher',
      peer,
      rounds,
      warmup: 0,
      ours: async () => (await contention('ours')()).locksPerSecond,
      theirs: async () => (await contention(peer)()).locksPerSecond,
    });
    cases.push({
      id: 'contended-wait-p99',
      unit: 'ms',
      better: 'lower',
      peer,
      rounds,
      warmup: 0,
      ours: async () => (await contention('ours')()).waitP99,
      theirs: async () => (await contention(peer)()).waitP99,
    });
  }
  // Not a case of the issue: ours without fencing tokens (which the peers do not have) against node-redlock.
  cases.push({
    id: 'uncontended-p99-unfenced',
    unit: 'ms',
    better: 'lower',
    peer: 'redlock',
    rounds,
    ours: async () => (await uncontended('ours-unfenced', clients, OPERATIONS)).p99,
    theirs: async () => (await uncontended('redlock', clients, OPERATIONS)).p99,
  });
  await runBench('redlock', cases);
  console.log(`contention rounds (${WORKERS} workers, ${HOLD_MS} ms hold, ${DURATION_MS} ms each):`);
  for (const line of details) console.log(`  ${line}`);
  await Promise.all(clients.map((client) => client.quit()));
})().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
