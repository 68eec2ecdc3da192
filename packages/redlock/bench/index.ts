/**
 * `npm run bench -w @x/redlock [-- --quick]` against the five masters of `scripts/services` (127.0.0.1:7001-7005):
 * ours against node-redlock (`redlock` 5.0.0-beta.2, the ioredis-era API) and redis-semaphore's RedlockMutex.
 */
import type { Redis } from 'ioredis';
import { type BenchCase, childMeasurement, isQuick, otelApiCase, redisMasters, requireRedis, runBench, withMetricsSdk } from '@x/testkit';
import type { LockerName } from './peers.js';
import { acrossProcesses } from './processes.js';
import { type ContentionResult, contended, holdCeiling, uncontended } from './scenarios.js';

const quick = isQuick();
const OPERATIONS = quick ? 300 : 2_000;
const WORKERS = 64;
const HOLD_MS = 1;
const DURATION_MS = quick ? 1_000 : 5_000;
const rounds = quick ? 3 : 5;
const PROCESSES = 4;
const WORKERS_EACH = 16;

const describe = (result: ContentionResult & { lostUpdates: number }): string =>
  `${result.locksPerSecond.toFixed(0)} locks/s, wait p50 ${result.waitP50.toFixed(1)} ms, p99 ${result.waitP99.toFixed(1)} ms, ` +
  `fairness ${result.fairness.toFixed(3)}, lost updates ${result.lostUpdates}`;

/** otel-api-uncontended-p99 in a child process: ours' p99 after an unmeasured warm-up run. */
async function childUncontendedP99(): Promise<number> {
  const clients: Redis[] = await Promise.all(redisMasters().map((endpoint) => requireRedis(endpoint)));
  try {
    await uncontended('ours', clients, OPERATIONS);
    return (await uncontended('ours', clients, OPERATIONS)).p99;
  } finally {
    for (const client of clients) client.disconnect();
  }
}

void (async () => {
  if (await childMeasurement({ 'uncontended-p99': childUncontendedP99 })) return;
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
      details.push(`1x${WORKERS} ${name.padEnd(16)} ${describe(result)}`);
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
  cases.push({
    // The most one key gives with a 1 ms hold: one worker holding in sequence, hand-overs free.
    id: 'hold-ceiling',
    unit: 'locks/s',
    better: 'higher',
    peer: 'one worker holding 1 ms in sequence',
    rounds,
    warmup: 0,
    ours: async () => (await contended('ours', clients, WORKERS, HOLD_MS, DURATION_MS)).locksPerSecond,
    theirs: () => holdCeiling(HOLD_MS, DURATION_MS),
  });
  // Four processes x 16 workers on one key, a GET/SET counter inside the hold (lost updates counted), against
  // each peer in the same configuration; ours in one process x 64 with the same counter is printed beside it.
  for (const peer of ['redlock', 'redis-semaphore'] as LockerName[]) {
    const processes = (name: LockerName) => async () => {
      const result = await acrossProcesses(name, clients[0]!, PROCESSES, WORKERS_EACH, HOLD_MS, DURATION_MS);
      details.push(`${PROCESSES}x${WORKERS_EACH} ${name.padEnd(16)} ${describe(result)}`);
      return result.locksPerSecond;
    };
    cases.push({ id: 'processes-4x16', unit: 'locks/s', better: 'higher', peer, rounds, warmup: 0, ours: processes('ours'), theirs: processes(peer) });
  }
  cases.push({
    // The reference the 4x16 goals are set against: ours in one process, the same counter inside the hold.
    id: 'processes-4x16-vs-1x64',
    unit: 'locks/s',
    better: 'higher',
    peer: 'ours 1x64',
    rounds,
    warmup: 0,
    ours: async () => {
      const result = await acrossProcesses('ours', clients[0]!, PROCESSES, WORKERS_EACH, HOLD_MS, DURATION_MS);
      details.push(`${PROCESSES}x${WORKERS_EACH} ours             ${describe(result)}`);
      return result.locksPerSecond;
    },
    theirs: async () => {
      const result = await contended('ours', clients, WORKERS, HOLD_MS, DURATION_MS, true);
      details.push(`1x${WORKERS} ours (counter)   ${describe(result)}`);
      return result.locksPerSecond;
    },
  });
  // Metrics' cost: ours with an OpenTelemetry SDK registered (a reader collecting every second) against ours with
  // none (then nothing records: the same no-op instruments as without the API installed).
  cases.push({
    id: 'telemetry-uncontended-p99',
    unit: 'ms',
    better: 'lower',
    peer: 'ours without an SDK',
    rounds,
    ours: () => withMetricsSdk(async () => (await uncontended('ours', clients, OPERATIONS)).p99),
    theirs: async () => (await uncontended('ours', clients, OPERATIONS)).p99,
  });
  // The API installed but no SDK, against the API not installed at all (each round a fresh process).
  cases.push(otelApiCase('uncontended-p99', 'uncontended-p99', { unit: 'ms', better: 'lower', rounds, warmup: 0 }));
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
  console.log(`contention rounds (${HOLD_MS} ms hold, ${DURATION_MS} ms each; processes x workers):`);
  for (const line of details) console.log(`  ${line}`);
  await Promise.all(clients.map((client) => client.quit()));
})().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

