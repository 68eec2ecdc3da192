/**
 * `npm run bench -w @x/delayqueue [-- --quick]`: ours (Redis backend) against BullMQ's delayed jobs, both on
 * one private redis-server started for the run (emptied between rounds), same payload.
 *
 *   add             add(), 100 callers each awaiting its own adds                          jobs/s, higher
 *   add-bulk        addBulk() in batches of 1,000                                          jobs/s, higher
 *   lateness-p99    jobs due evenly across a window, 4 consumers x 50 handlers; p99 of     ms, lower
 *                   (delivery time - due time); Redis at its default hz 10, and at hz 100
 *   steady-lateness 2,000 jobs/s added for 10 s, each due 1 s after its add; p99, hz 10     ms, lower
 *                   and hz 100 (Redis expires keys and wakes blocked clients per hz tick)
 *   memory-per-job  used_memory growth per pending job (due in an hour)                    bytes, lower
 *   rate-limit      RATE_JOBS jobs waiting, 8 worker processes x 50 handlers under a limit of 1,000 a  deliveries/s, higher
 *                   second for all together: the median of the full 1 s windows; the fullest 1 s (any
 *                   window, by reservation and by handler start) and the lateness p99 are printed for both
 *   counts          counts of a topic holding 1,000,000 pending jobs (ours: counts(topic);   calls/s, higher
 *                   BullMQ: getJobCounts of delayed, wait, active, failed), 16 callers
 *   schedule-ticks  TICK_SCHEDULES schedules each ticking every second, 4 consumers x 50 handlers; p99 of      ms, lower
 *                   (handler start - tick) over TICK_SECONDS s after a lead; a tick not delivered counts as
 *                   infinitely late (ours: schedule({ everyMs }); BullMQ: upsertJobScheduler({ every }))
 *   telemetry-add   add with an OpenTelemetry SDK registered, against ours without one         jobs/s, higher
 *   otel-api-add    add with @opentelemetry/api installed (no SDK), against it not installed   jobs/s, higher
 *                   (each round a fresh process: the median of 3 runs after an unmeasured one)
 */
import { Redis } from 'ioredis';
import { type BenchCase, childMeasurement, isQuick, median, otelApiCase, runBench, startRedisServer, withMetricsSdk } from '@x/testkit';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { type ContenderName, type Payload, contender } from './contenders.js';
import { RUNS_KEY } from './rate-worker.js';

const quick = isQuick();
const ADD_JOBS = quick ? 5_000 : 20_000;
const ADD_CALLERS = 100;
const BULK_JOBS = quick ? 10_000 : 50_000;
const BULK_SIZE = 1_000;
const LATE_JOBS = quick ? 10_000 : 100_000;
const LATE_WINDOW_MS = quick ? 2_000 : 10_000;
const LATE_LEAD_MS = quick ? 1_500 : 3_000;
const MEMORY_JOBS = quick ? 10_000 : 50_000;
const STEADY_RATE = 2_000;
const STEADY_SECONDS = quick ? 3 : 10;
const STEADY_DELAY_MS = 1_000;
const RATE = 1_000;
const RATE_JOBS = quick ? 4_000 : 12_000;
const RATE_WORKERS = 8;
const COUNT_JOBS = quick ? 100_000 : 1_000_000;
const COUNT_CALLERS = 16;
const COUNT_MS = quick ? 1_000 : 3_000;
const TICK_SCHEDULES = quick ? 2_000 : 10_000;
const TICK_SECONDS = quick ? 3 : 10;
const TICK_LEAD_MS = 3_000;
const rounds = quick ? 3 : 5;

const payload = (due: number): Payload => ({ user: 12345, template: 'welcome-email', locale: 'en-GB', due });

/** `add()` from ADD_CALLERS callers, each awaiting its own adds: jobs/s. */
async function addRate(c: ReturnType<typeof contender>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: ADD_CALLERS }, async () => {
      while (next < ADD_JOBS) {
        next++;
        await c.add(payload(0), 3_600_000);
      }
    }),
  );
  return ADD_JOBS / ((performance.now() - started) / 1000);
}

/** The Redis server's port, for otel-api-add's child processes. */
const PORT_ENV = 'X_BENCH_REDIS_PORT';

/**
 * otel-api-add in a child process: the median of three runs of ours' add rate, each on an emptied server, after
 * an unmeasured warm-up run (one run is a quarter of a second: alone it swings by a third).
 */
async function childAddRate(): Promise<number> {
  const port = Number(process.env[PORT_ENV]);
  const admin = new Redis({ port, host: '127.0.0.1' });
  try {
    const rates: number[] = [];
    for (let run = 0; run < 4; run++) {
      await admin.flushall();
      const c = contender('ours', port);
      try {
        rates.push(await addRate(c));
      } finally {
        await c.close();
      }
    }
    return median(rates.slice(1));
  } finally {
    await admin.quit();
  }
}

void (async () => {
  if (await childMeasurement({ add: childAddRate })) return;
  const server = await startRedisServer();
  const admin = new Redis({ port: server.port, host: '127.0.0.1' });
  const details: string[] = [];

  async function fresh<T>(name: ContenderName, run: (c: ReturnType<typeof contender>) => Promise<T>, hz = 10): Promise<T> {
    await admin.flushall();
    await admin.config('SET', 'hz', String(hz));
    const c = contender(name, server.port);
    try {
      return await run(c);
    } finally {
      await c.close();
    }
  }

  const addThroughput = (name: ContenderName) => () => fresh(name, addRate);

  const bulkThroughput = (name: ContenderName) => () =>
    fresh(name, async (c) => {
      const started = performance.now();
      for (let i = 0; i < BULK_JOBS; i += BULK_SIZE) {
        await c.addBulk(Array.from({ length: BULK_SIZE }, () => ({ payload: payload(0), delay: 3_600_000 })));
      }
      return BULK_JOBS / ((performance.now() - started) / 1000);
    });

  const memoryPerJob = (name: ContenderName) => () =>
    fresh(name, async (c) => {
      await c.add(payload(0), 3_600_000); // the queue's fixed keys exist before the baseline
      const before = await usedMemory(admin);
      for (let i = 0; i < MEMORY_JOBS; i += BULK_SIZE) {
        await c.addBulk(Array.from({ length: BULK_SIZE }, () => ({ payload: payload(0), delay: 3_600_000 })));
      }
      return ((await usedMemory(admin)) - before) / MEMORY_JOBS;
    });

  /** RATE_JOBS jobs due now, then RATE_WORKERS worker processes under one limit of RATE a second: deliveries/s. */
  const rateLimited = (name: ContenderName) => () =>
    fresh(name, async (c) => {
      await c.limit(RATE);
      for (let i = 0; i < RATE_JOBS; i += BULK_SIZE) {
        await c.addBulk(Array.from({ length: BULK_SIZE }, () => ({ payload: payload(Date.now()), delay: 0 })));
      }
      const env = { ...process.env, X_CONTENDER: name, X_REDIS_PORT: String(server.port), X_RATE: String(RATE) };
      const workers = Array.from({ length: RATE_WORKERS }, () => spawn(process.execPath, [join(__dirname, 'rate-worker.js')], { env, stdio: ['ignore', 'pipe', 'inherit'] }));
      try {
        const deadline = Date.now() + (RATE_JOBS / RATE) * 1000 + 60_000;
        while ((await admin.llen(RUNS_KEY)) < RATE_JOBS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      } finally {
        for (const worker of workers) worker.kill('SIGTERM');
        await Promise.all(workers.map((worker) => new Promise((resolve) => (worker.exitCode !== null ? resolve(undefined) : worker.once('exit', resolve)))));
      }
      const runs = (await admin.lrange(RUNS_KEY, 0, -1)).map((line) => line.split(' ').map(Number) as [number, number, number]);
      const starts = runs.map(([start]) => start).sort((a, b) => a - b);
      const reserved = runs.map(([, , at]) => at).sort((a, b) => a - b);
      const late = runs.map(([start, due]) => start - due).sort((a, b) => a - b);
      const fullest = (times: number[]): number => {
        let most = 0;
        for (let i = 0, j = 0; i < times.length; i++) {
          while (j < times.length && times[j]! < times[i]! + 1_000) j++;
          most = Math.max(most, j - i);
        }
        return most;
      };
      const windows: number[] = [];
      for (let from = starts[0]!; from + 1_000 <= starts.at(-1)!; from += 1_000) windows.push(starts.filter((at) => at >= from && at < from + 1_000).length);
      const rate = median(windows);
      details.push(
        `rate-limit ${name.padEnd(7)} ${runs.length}/${RATE_JOBS} run; full 1 s windows ${windows.join(' ')} (median ${rate}); fullest 1 s by the queue's reservation times ${fullest(reserved)}, by handler starts ${fullest(starts)}; lateness p99 ${late[Math.floor(0.99 * (late.length - 1))]} ms`,
      );
      return runs.length === RATE_JOBS ? rate : 0;
    });

  /** COUNT_CALLERS callers asking for the counts over COUNT_MS, on a topic filled with COUNT_JOBS pending jobs. */
  const countRate = (name: ContenderName) => () =>
    fresh(name, async (c) => {
      for (let i = 0; i < COUNT_JOBS; i += BULK_SIZE) {
        await c.addBulk(Array.from({ length: BULK_SIZE }, () => ({ payload: payload(0), delay: 3_600_000 })));
      }
      let calls = 0;
      const started = performance.now();
      const end = started + COUNT_MS;
      await Promise.all(
        Array.from({ length: COUNT_CALLERS }, async () => {
          while (performance.now() < end) {
            await c.counts();
            calls++;
          }
        }),
      );
      return calls / ((performance.now() - started) / 1000);
    });

  /** TICK_SCHEDULES schedules every second; p99 of how late their ticks' handlers started (a lost tick: Infinity). */
  const scheduleTicks = (name: ContenderName) => () =>
    fresh(name, async (c) => {
      const late: number[] = [];
      let from = Infinity;
      let to = Infinity;
      c.consumeTicks(4, 50, (tick) => {
        if (tick >= from && tick < to) late.push(Date.now() - tick);
      });
      const began = performance.now();
      await c.scheduleEvery(TICK_SCHEDULES, 1_000);
      const createMs = performance.now() - began;
      from = Date.now() + TICK_LEAD_MS;
      to = from + TICK_SECONDS * 1_000;
      // Ticks of the window that come late still count: wait 5 s past its end.
      await new Promise((resolve) => setTimeout(resolve, to + 5_000 - Date.now()));
      const expected = TICK_SCHEDULES * TICK_SECONDS;
      late.sort((a, b) => a - b);
      const at = (q: number): number => (Math.floor(q * expected) < late.length ? late[Math.floor(q * expected)]! : Infinity);
      details.push(
        `schedule-ticks ${name.padEnd(7)} ${late.length}/${expected} ticks of the window delivered; lateness p50 ${at(0.5)} ms, p99 ${at(0.99)} ms (of the delivered alone ${late[Math.floor(0.99 * (late.length - 1))]} ms), max ${late.at(-1)} ms; ${TICK_SCHEDULES} schedules created in ${Math.round(createMs)} ms`,
      );
      return at(0.99);
    });

  /**
   * Starts 4 consumers x 50 handlers recording lateness, runs `produce`, waits for `total` deliveries (or gives
   * up `waitMs` after producing), prints the round and returns its p99 (Infinity when it timed out).
   */
  async function measureLateness(c: ReturnType<typeof contender>, label: string, total: number, waitMs: number, produce: () => Promise<void>): Promise<number> {
    const late: number[] = [];
    let done!: () => void;
    const all = new Promise<void>((resolve) => (done = resolve));
    c.consume(4, 50, (job) => {
      late.push(Date.now() - job.due);
      if (late.length === total) done();
    });
    await produce();
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), waitMs).unref());
    const outcome = await Promise.race([all.then(() => 'done' as const), timeout]);
    late.sort((a, b) => a - b);
    const at = (q: number): number => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN;
    details.push(
      `${label} ${late.length}/${total} delivered${outcome === 'timeout' ? ' (timed out)' : ''}; lateness p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${late.at(-1)} ms, early ${late.filter((l) => l < 0).length}`,
    );
    return outcome === 'timeout' ? Infinity : at(0.99);
  }

  const lateness = (name: ContenderName, hz: number) => () =>
    fresh(
      name,
      (c) =>
        measureLateness(c, `window hz ${String(hz).padEnd(3)} ${name.padEnd(7)}`, LATE_JOBS, LATE_LEAD_MS + LATE_WINDOW_MS + 60_000, async () => {
          const start = Date.now() + LATE_LEAD_MS;
          for (let i = 0; i < LATE_JOBS; i += BULK_SIZE) {
            const now = Date.now();
            await c.addBulk(
              Array.from({ length: BULK_SIZE }, (_, k) => {
                const due = start + Math.floor(((i + k) * LATE_WINDOW_MS) / LATE_JOBS);
                return { payload: payload(due), delay: Math.max(0, due - now) };
              }),
            );
          }
        }),
      hz,
    );

  const steadyLateness = (name: ContenderName, hz: number) => () =>
    fresh(
      name,
      (c) =>
        measureLateness(c, `steady hz ${String(hz).padEnd(3)} ${name.padEnd(7)}`, STEADY_RATE * STEADY_SECONDS, STEADY_DELAY_MS + 60_000, async () => {
          const total = STEADY_RATE * STEADY_SECONDS;
          const began = Date.now();
          for (let sent = 0; sent < total; ) {
            const due = Math.min(total, Math.floor(((Date.now() - began) / 1000) * STEADY_RATE));
            const adds: Promise<unknown>[] = [];
            for (; sent < due; sent++) adds.push(c.add(payload(Date.now() + STEADY_DELAY_MS), STEADY_DELAY_MS));
            await Promise.all(adds);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }),
      hz,
    );

  const cases: BenchCase[] = [
    { id: 'add', unit: 'jobs/s', better: 'higher', peer: 'bullmq', rounds, ours: addThroughput('ours'), theirs: addThroughput('bullmq') },
    { id: 'add-bulk', unit: 'jobs/s', better: 'higher', peer: 'bullmq', rounds, ours: bulkThroughput('ours'), theirs: bulkThroughput('bullmq') },
    { id: 'lateness-p99', unit: 'ms', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: lateness('ours', 10), theirs: lateness('bullmq', 10) },
    { id: 'lateness-p99-hz100', unit: 'ms', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: lateness('ours', 100), theirs: lateness('bullmq', 100) },
    { id: 'steady-lateness-p99', unit: 'ms', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: steadyLateness('ours', 10), theirs: steadyLateness('bullmq', 10) },
    { id: 'steady-lateness-p99-hz100', unit: 'ms', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: steadyLateness('ours', 100), theirs: steadyLateness('bullmq', 100) },
    // What metrics cost: ours with an OpenTelemetry SDK registered (a reader collecting every second) against ours
    // with none; then the API installed but no SDK, against the API not installed at all (fresh processes).
    { id: 'telemetry-add', unit: 'jobs/s', better: 'higher', peer: 'ours without an SDK', rounds, ours: () => withMetricsSdk(addThroughput('ours')), theirs: addThroughput('ours') },
    otelApiCase('add', 'add', { unit: 'jobs/s', better: 'higher', rounds, warmup: 0 }, { [PORT_ENV]: String(server.port) }),
    { id: 'rate-limit', unit: 'deliveries/s', better: 'higher', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: rateLimited('ours'), theirs: rateLimited('bullmq') },
    { id: 'counts', unit: 'calls/s', better: 'higher', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: countRate('ours'), theirs: countRate('bullmq') },
    { id: 'schedule-ticks', unit: 'ms', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: scheduleTicks('ours'), theirs: scheduleTicks('bullmq') },
    { id: 'memory-per-job', unit: 'bytes', better: 'lower', peer: 'bullmq', rounds: quick ? 1 : 3, warmup: 0, ours: memoryPerJob('ours'), theirs: memoryPerJob('bullmq') },
  ];
  await runBench('delayqueue', cases);
  console.log(`rate-limit: ${RATE_JOBS} jobs, ${RATE_WORKERS} worker processes x 50 handlers, limit ${RATE}/s for all; handler start times on this machine's clock`);
  console.log(`lateness rounds (window: ${LATE_JOBS} jobs due across ${LATE_WINDOW_MS} ms; steady: ${STEADY_RATE}/s for ${STEADY_SECONDS} s, due ${STEADY_DELAY_MS} ms after add; 4 consumers x 50):`);
  for (const line of details) console.log(`  ${line}`);
  console.log(`redis-server ${(await admin.info('server')).match(/redis_version:(\S+)/)?.[1]}`);
  await admin.quit();
  await server.stop();
})();

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}
