import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { redisEndpoint, requireRedis, spawnTsProcess, startRedisServer, startStallProxy, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RedisBackend } from '../src/redis/index.js';
import { ServerClock } from '../src/redis/server-clock.js';
import { conformance, eventually } from './conformance.js';

let redis: Redis;
// The current major of the peer too (the range is ^5.4 || ^6); a second client library on the same server.
let redis6: Redis6;
const names: string[] = [];

beforeAll(async () => {
  redis = await requireRedis();
  redis6 = new Redis6({ host: redis.options.host, port: redis.options.port });
});
afterAll(async () => {
  for (const name of names) {
    const keys = await redis.keys(`{${name}}*`);
    if (keys.length > 0) await redis.unlink(...keys);
  }
  redis.disconnect();
  redis6.disconnect();
});

function backend(options: { buckets?: number } = {}, client: 'ioredis' | 'ioredis 6' = 'ioredis'): RedisBackend {
  const name = uniqueName('dq');
  names.push(name);
  // Our types come from whichever ioredis the user installed; with both here, 6's class is not 5's to tsc.
  return new RedisBackend({ redis: client === 'ioredis' ? redis : (redis6 as unknown as Redis), name, ...options });
}

conformance('redis', { create: async () => backend() });
conformance('redis with 4 buckets', { create: async () => backend({ buckets: 4 }) });
conformance('redis on ioredis 6', { create: async () => backend({}, 'ioredis 6') });

/**
 * Runs `count` consumer processes (test/fixtures/consumer-process.ts) of topic `work` on a fresh queue name, with a
 * queue of this process (`control`, on the other client library) to drive them; `before` runs before they start.
 * They are killed and the queue's tally keys deleted afterwards; none may have written to stderr.
 */
async function withConsumerProcesses(
  count: number,
  env: Record<string, string>,
  run: (context: { name: string; control: DelayQueue; children: ReturnType<typeof spawnTsProcess>[]; spawn: () => void }) => Promise<void>,
  before?: (control: DelayQueue) => Promise<void>,
): Promise<void> {
  const name = uniqueName('dq-processes');
  names.push(name);
  const { host, port } = redisEndpoint();
  const control = new DelayQueue({ backend: new RedisBackend({ redis: redis6 as unknown as Redis, name }) });
  const children: ReturnType<typeof spawnTsProcess>[] = [];
  try {
    await before?.(control);
    const childEnv = { X_REDIS_URL: `redis://${host}:${port}`, X_BACKEND: 'redis', X_QUEUE: name, X_TOPIC: 'work', ...env };
    const spawn = (): void => void children.push(spawnTsProcess(join(__dirname, 'fixtures', 'consumer-process.ts'), childEnv));
    for (let i = 0; i < count; i++) spawn();
    await run({ name, control, children, spawn });
    for (const child of children) expect(child.stderrText()).toBe('');
  } finally {
    for (const child of children) child.kill('SIGKILL');
    await control.close();
    await redis.unlink(...['deliveries', 'by-pid', 'lateness', 'reserved-at', 'in-flight', 'most'].map((key) => `${name}:${key}`));
  }
}

/**
 * Resolves once `processes` consumer processes have each handled a job: a trickle of warm-up jobs until then (one
 * process alone would take any batch). Resolves to how many warm-up jobs were added.
 */
async function untilAllHandle(name: string, control: DelayQueue, processes: number): Promise<number> {
  let warm = 0;
  const started = Date.now();
  while (Object.keys(await redis.hgetall(`${name}:by-pid`)).length < processes) {
    if (Date.now() - started > 60_000) throw new Error(`the ${processes} consumers did not all start handling within 60 s`);
    await control.addBulk(Array.from({ length: 10 }, () => ({ topic: 'work', payload: warm, options: { id: `warm-${warm++}` } })));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return warm;
}

describe('redis backend specifics', () => {
  it('keeps every key of a queue under its hash tag and leaves nothing behind after the last ack', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name, keepDone: 0 }) });
    let handled = 0;
    queue.process(
      'tagged',
      () => {
        handled++;
      },
      { concurrency: 4 },
    );
    await queue.addBulk(Array.from({ length: 50 }, (_, i) => ({ topic: 'tagged', payload: i, options: { delay: i } })));
    await eventually(() => handled === 50, '50 deliveries');
    await eventually(async () => (await redis.hlen(`{${name}}:jobs`)) === 0, 'the pool to empty');
    await queue.close();
    const left = await redis.keys(`*${name}*`);
    expect(left.every((key) => key.startsWith(`{${name}}:`))).toBe(true);
    // Only the bookkeeping of an idle topic may remain (and the set of topics counts() reads): no job, no attempt
    // counter, no ready-at entry.
    expect(left.filter((key) => !/:t:tagged:(next|wake|signal)$/.test(key) && key !== `{${name}}:topics`)).toEqual([]);
  });

  it('counts the jobs every worker added, from any worker: two backends on one name', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const adder = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const reader = new DelayQueue({ backend: new RedisBackend({ redis: redis6 as unknown as Redis, name }) });
    try {
      await adder.addBulk(Array.from({ length: 7 }, (_, i) => ({ topic: i < 4 ? 'a' : 'b', payload: i, options: { delay: 60_000 } })));
      expect(await reader.counts()).toEqual({ a: { delayed: 4, ready: 0, reserved: 0, dead: 0 }, b: { delayed: 3, ready: 0, reserved: 0, dead: 0 } });
      expect(await adder.cancel((await adder.addBulk([{ topic: 'b', payload: 'x', options: { delay: 60_000 } }]))[0]!)).toBe(true);
      expect((await reader.counts('b')).b).toEqual({ delayed: 3, ready: 0, reserved: 0, dead: 0 });
    } finally {
      await adder.close();
      await reader.close();
    }
  });

  it.each([[1], [4], [64]])('lists thousands of jobs due at one instant over %i bucket(s) in (due, id byte) order, each once, while some leave mid-walk', async (buckets) => {
    const name = uniqueName('dq');
    names.push(name);
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name, buckets }) });
    try {
      // Bulk adds: a due time shared by each call's jobs, so among those the order is the ids' bytes (UTF-8), as
      // Redis keeps members of equal score; non-ASCII ids check that the script does not compare by locale.
      const ids = Array.from({ length: 3_000 }, (_, i) => `${['Z', 'a', 'é', '\uff5e', '😀'][i % 5]}-${i}`);
      for (let i = 0; i < ids.length; i += 1_000) {
        await queue.addBulk(ids.slice(i, i + 1_000).map((id) => ({ topic: 'ties', payload: id, options: { id, delay: 60_000 } })));
      }
      await queue.add('ties', 'first', { id: 'first', delay: 30_000 });
      // The due times as Redis holds them, read directly.
      const pipeline = redis.pipeline();
      for (const id of ids) for (let b = 0; b < buckets; b++) pipeline.zscore(`{${name}}:t:ties:delayed:${b}`, id);
      const scores = (await pipeline.exec())!.map(([, score]) => score as string | null);
      const due = new Map(ids.map((id, i) => [id, Number(scores.slice(i * buckets, (i + 1) * buckets).find((score) => score !== null))]));
      expect(new Set(due.values()).size).toBeLessThan(10);
      const byDueThenBytes = (a: string, b: string): number => due.get(a)! - due.get(b)! || Buffer.compare(Buffer.from(a), Buffer.from(b));
      const seen: string[] = [];
      const cancelled = new Set<string>();
      let cursor: string | undefined;
      do {
        const page = await queue.list('ties', 'delayed', { cursor, limit: 97 });
        seen.push(...page.jobs.map((job) => job.id));
        cursor = page.cursor;
        // Jobs leave while the walk goes on: the page's last one (the cursor's) and one further on.
        const last = page.jobs[page.jobs.length - 1]?.id;
        if (last !== undefined && last !== 'first' && (await queue.cancel(last))) cancelled.add(last);
        const ahead = ids[seen.length + 500];
        if (ahead !== undefined && !seen.includes(ahead) && (await queue.cancel(ahead))) cancelled.add(ahead);
      } while (cursor !== undefined);
      const expected = ['first', ...[...ids].sort(byDueThenBytes).filter((id) => !cancelled.has(id) || seen.includes(id))];
      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
      expect(cancelled.size).toBeGreaterThan(30);
    } finally {
      await queue.close();
    }
  });

  it('makes jobs due in several buckets ready in due order, so a paused topic resumes in due order', async () => {
    const queue = new DelayQueue({ backend: backend({ buckets: 8 }) });
    try {
      // Nobody moves them while they fall due (no consumer yet), so one move takes them all from 8 buckets.
      // Due 2 ms apart, from well after the add (a due time the server has passed is made now: ties).
      await queue.addBulk(Array.from({ length: 200 }, (_, n) => ({ topic: 'merge', payload: n, options: { id: `job-${n}`, delay: 200 + 2 * n } })));
      await new Promise((resolve) => setTimeout(resolve, 800));
      await queue.pause('merge');
      const seen: number[] = [];
      queue.process('merge', (job) => {
        seen.push(job.payload as number);
      });
      await eventually(async () => (await queue.counts('merge')).merge!.ready === 200, 'all 200 ready');
      const ready = await queue.list<number>('merge', 'ready', { limit: 1000 });
      expect(ready.jobs.map((job) => job.payload)).toEqual(Array.from({ length: 200 }, (_, n) => n));
      expect(new Set(ready.jobs.map((job) => job.at)).size).toBe(200);
      await queue.resume('merge');
      await eventually(() => seen.length === 200, '200 deliveries');
      expect(seen).toEqual(Array.from({ length: 200 }, (_, n) => n));
    } finally {
      await queue.close();
    }
  });

  it('pauses a topic for consumers in two other processes at once, without them spinning, and resumes them', async () => {
    const cpuMs = (pid: number): number => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
    };
    await withConsumerProcesses(2, { X_CONCURRENCY: '10', X_HANDLER_MS: '1' }, async ({ name, control, children }) => {
      const warm = await untilAllHandle(name, control, 2);
      await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === warm, 'the warm-up jobs', 30_000);

      await control.pause('work');
      const pausedAt = Date.now();
      await control.addBulk(Array.from({ length: 100 }, (_, n) => ({ topic: 'work', payload: n, options: { id: `held-${n}`, delay: n } })));
      await eventually(async () => (await control.counts('work')).work!.ready === 100, 'all 100 ready while paused');
      const cpuBefore = children.map((child) => cpuMs(child.pid!));
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      // A consumer that kept asking for a paused topic's jobs would burn its core here.
      const cpuUsed = children.map((child, i) => cpuMs(child.pid!) - cpuBefore[i]!);
      expect(cpuUsed.every((ms) => ms < 300)).toBe(true);
      expect(await redis.hlen(`${name}:deliveries`)).toBe(warm);
      expect(await control.pausedTopics()).toEqual(['work']);

      const resumedAt = Date.now();
      await control.resume('work');
      await eventually(async () => (await redis.hlen(`${name}:deliveries`)) > warm, 'a first delivery after the resume');
      const firstAfterMs = Date.now() - resumedAt;
      await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === warm + 100, 'the 100 held jobs', 30_000);
      expect(firstAfterMs).toBeLessThan(2_000);
      // Lateness counts from each job's due time: the first was due when the pause began.
      const lateness = Number(await redis.hget(`${name}:lateness`, 'held-0'));
      expect(lateness).toBeGreaterThanOrEqual(resumedAt - pausedAt - 100);
      const byPid = Object.values(await redis.hgetall(`${name}:by-pid`)).map(Number);
      expect(byPid.reduce((a, b) => a + b, 0)).toBe(warm + 100);
    });
  }, 120_000);

  it('limits a topic for consumers in three processes together: any 500 ms holds at most 100 deliveries, at most 8 run at once', async () => {
    const limits = { rate: 100, intervalMs: 500, concurrency: 8 };
    await withConsumerProcesses(
      3,
      { X_CONCURRENCY: '20', X_HANDLER_MS: '5' },
      async ({ name, control }) => {
        await control.addBulk(Array.from({ length: 600 }, (_, n) => ({ topic: 'work', payload: n, options: { id: `job-${n}` } })));
        await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === 600, 'the 600 jobs', 60_000);
        const at = Object.values(await redis.hgetall(`${name}:reserved-at`)).map(Number).sort((a, b) => a - b);
        expect(at).toHaveLength(600);
        let fullest = 0;
        for (let i = 0, j = 0; i < at.length; i++) {
          while (j < at.length && at[j]! < at[i]! + 500) j++;
          fullest = Math.max(fullest, j - i);
        }
        expect(fullest).toBeLessThanOrEqual(100);
        // Not a trickle either: six windows' worth went out in little more than six windows once all three ran.
        expect(fullest).toBeGreaterThanOrEqual(90);
        expect(Number(await redis.get(`${name}:most`))).toBeLessThanOrEqual(8);
        expect(Object.keys(await redis.hgetall(`${name}:by-pid`)).length).toBeGreaterThanOrEqual(2);
      },
      (control) => control.setLimits('work', limits),
    );
  }, 120_000);

  it('under a concurrency limit, a slot freed by a delivery whose ttr ran out lets the next job go at once, not at the next rescan', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name, rescanMs: 60_000 }) });
    try {
      await queue.setLimits('slot', { concurrency: 1 });
      const started: [string, number][] = [];
      queue.process(
        'slot',
        async (job) => {
          // When the backend reserved it (its clock): the handler may start a little later on a busy machine.
          started.push([job.id, job.dueAt + job.lateness]);
          // The first job's handler outlives its ttr by 3 s: on its last attempt it is dead-lettered when the ttr
          // runs out, and its slot is free from then, not from when the handler ends.
          if (job.id === 'stuck') await new Promise((resolve) => setTimeout(resolve, 3_300));
        },
        { concurrency: 5 },
      );
      await queue.add('slot', 'stuck', { id: 'stuck', ttr: 300, attempts: 1 });
      await eventually(() => started.length === 1, 'the stuck job');
      await queue.add('slot', 'next', { id: 'next' });
      await eventually(() => started.length === 2, 'the next job once the slot freed', 5_000);
      expect(started.map(([id]) => id)).toEqual(['stuck', 'next']);
      expect(started[1]![1] - started[0]![1]).toBeGreaterThanOrEqual(299);
      expect(started[1]![1] - started[0]![1]).toBeLessThan(2_500);
      expect(await queue.get('stuck')).toMatchObject({ state: 'dead' });
    } finally {
      await queue.close();
    }
  });

  it('opens a short rate window on time, not on Redis\'s next timer tick (hz 10: every 100 ms)', async () => {
    const server = await startRedisServer();
    const client = new Redis({ port: server.port, host: '127.0.0.1' });
    const queue = new DelayQueue({ backend: new RedisBackend({ redis: client, name: uniqueName('dq') }) });
    try {
      await client.config('SET', 'hz', '10');
      await queue.setLimits('windows', { rate: 10, intervalMs: 100 });
      const reservedAt: number[] = [];
      queue.process('windows', (job) => void reservedAt.push(job.dueAt + job.lateness), { concurrency: 50 });
      await queue.addBulk(Array.from({ length: 150 }, (_, n) => ({ topic: 'windows', payload: n })));
      await eventually(() => reservedAt.length === 150, '150 deliveries');
      // Bursts of 10, one per window: the median time between burst starts is the window's real length.
      const starts = reservedAt.filter((at, i) => i === 0 || at - reservedAt[i - 1]! > 20);
      const gaps = starts.slice(1).map((at, i) => at - starts[i]!).sort((a, b) => a - b);
      expect(gaps.length).toBeGreaterThanOrEqual(10);
      expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThan(150);
    } finally {
      await queue.close();
      client.disconnect();
      await server.stop();
    }
  });

  it('a schedule stepped by consumers in four processes adds each tick once: 200 ticks on the grid, none lost or doubled, one process killed and replaced mid-way', async () => {
    await withConsumerProcesses(4, { X_CONCURRENCY: '4', X_HANDLER_MS: '1' }, async ({ name, control, children, spawn }) => {
      await untilAllHandle(name, control, 4);
      const tickIds = async (): Promise<string[]> => Object.keys(await redis.hgetall(`${name}:deliveries`)).filter((id) => id.startsWith('tick@'));
      // A short ttr: the tick a killed process held comes back within a second.
      const info = await control.schedule('work', 'tick', { everyMs: 50 }, null, { ttr: 1_000 });
      await eventually(async () => (await tickIds()).length >= 100, '100 ticks', 30_000);
      children[0]!.kill('SIGKILL');
      spawn();
      await eventually(async () => (await tickIds()).length >= 200, '200 ticks', 30_000);
      await control.unschedule('tick');

      const ids = await tickIds();
      const ticks = ids.map((id) => Date.parse(id.slice('tick@'.length))).sort((a, b) => a - b);
      expect(ticks[0]).toBe(info.next);
      // Every tick from the first to the last, 50 ms apart: none lost while a process died and another started.
      const gaps = ticks.flatMap((tick, i) => (i > 0 && tick - ticks[i - 1]! !== 50 ? [`${i}: ${ticks[i - 1]! - info.next} -> ${tick - info.next}`] : []));
      expect(gaps).toEqual([]);
      const deliveries = await redis.hgetall(`${name}:deliveries`);
      const redelivered = new Set(Object.keys(await redis.hgetall(`${name}:attempt-2`)));
      // Each tick ran once; twice only if it was in the killed process's hands (then as attempt 2).
      const doubled = ids.filter((id) => Number(deliveries[id]) > 1 && !redelivered.has(id));
      expect(doubled).toEqual([]);
      expect(redelivered.size).toBeLessThanOrEqual(4);
    });
  }, 180_000);

  it('a restart of every worker loses no tick and doubles none: the next tick is stored, and the new workers step on from it', async () => {
    const name = uniqueName('dq-restart');
    names.push(name);
    const open = (): DelayQueue => new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const seen: string[] = [];
    const producer = open();
    const info = await producer.schedule('r', 'restart', { everyMs: 300 });
    await producer.close();
    for (let round = 0; round < 3; round++) {
      const worker = open();
      worker.process('r', (job) => void seen.push(job.id));
      await eventually(() => seen.length >= 3 * (round + 1), `the ticks of worker ${round + 1}`);
      await worker.close();
    }
    const ticks = seen.map((id) => Date.parse(id.slice('restart@'.length)));
    expect(ticks).toEqual(ticks.map((_, i) => info.next + 300 * i));
    const reader = open();
    const [stored] = await reader.schedules();
    await reader.close();
    // The last worker closed as its last tick ran: that tick was stepped past already, or is stepped by the next worker.
    expect([ticks.at(-1)!, ticks.at(-1)! + 300]).toContain(stored!.next);
  }, 60_000);

  it('two queues on one Redis with different names never see each other', async () => {
    const a = new DelayQueue({ backend: backend() });
    const b = new DelayQueue({ backend: backend() });
    const seenA: unknown[] = [];
    const seenB: unknown[] = [];
    a.process('t', (job) => void seenA.push(job.payload));
    b.process('t', (job) => void seenB.push(job.payload));
    await a.add('t', 'for a', { id: 'same-id' });
    await b.add('t', 'for b', { id: 'same-id' });
    await eventually(() => seenA.length === 1 && seenB.length === 1, 'both deliveries');
    expect([seenA, seenB]).toEqual([['for a'], ['for b']]);
    await Promise.all([a.close(), b.close()]);
  });

  it('a producer without consumers wakes a consumer that starts later, and an earlier job overtakes a later one', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const producer = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const consumer = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const seen: string[] = [];
    consumer.process('x', (job) => void seen.push(job.payload as string));
    await new Promise((r) => setTimeout(r, 50));
    const start = Date.now();
    await producer.add('x', 'late', { delay: 5_000 });
    await producer.add('x', 'early', { delay: 100 });
    await eventually(() => seen.length === 1, 'the early job');
    expect(seen).toEqual(['early']);
    // Delivered on the wake-up, not the 10 s rescan.
    expect(Date.now() - start).toBeLessThan(3_000);
    await Promise.all([producer.close(), consumer.close()]);
  });

  it('destroy() unlinks every key of the queue, and only of that queue', async () => {
    const name = uniqueName('dq*[x]');
    const other = uniqueName('dq');
    names.push(name, other);
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const neighbour = new DelayQueue({ backend: new RedisBackend({ redis, name: other }) });
    await queue.addBulk(Array.from({ length: 3_000 }, (_, i) => ({ topic: `t${i % 3}`, payload: i, options: { delay: 60_000 } })));
    await neighbour.add('t0', 'keep me', { id: 'kept', delay: 60_000 });
    const backend = new RedisBackend({ redis, name });
    expect(await redis.keys(`*${name.replace(/[*?[\]]/g, '\\$&')}*`)).not.toHaveLength(0);
    expect(await backend.destroy()).toBeGreaterThanOrEqual(4);
    expect(await redis.keys(`*${name.replace(/[*?[\]]/g, '\\$&')}*`)).toEqual([]);
    expect((await neighbour.get('kept'))?.state).toBe('delayed');
    await Promise.all([queue.close(), neighbour.close(), backend.close()]);
  });

  it("never makes a job due early on the producer's clock when replies come back slowly", async () => {
    // The way back from Redis takes 40 ms, the way there nothing: a clock offset taken from the round trip's
    // midpoint would put the server 20 ms behind this process, and every job 20 ms early.
    const proxy = await startStallProxy(redis.options.port!, redis.options.host);
    const slow = new Redis({ host: '127.0.0.1', port: proxy.port });
    try {
      proxy.delayReplies(40);
      // The same machine: the server's clock is this process's, so no offset below 0 is true.
      expect(await new ServerClock(slow).offset()).toBeGreaterThanOrEqual(0);

      const name = uniqueName('dq');
      names.push(name);
      const producer = new DelayQueue({ backend: new RedisBackend({ redis: slow, name }) });
      const consumer = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
      const seen: number[] = [];
      consumer.process('slow-replies', () => void seen.push(Date.now()));
      // The first add measures the clock; the second is timed.
      await producer.add('slow-replies', 'warm-up');
      await eventually(() => seen.length === 1, 'the warm-up job');
      const start = Date.now();
      await producer.add('slow-replies', 'timed', { delay: 300 });
      await eventually(() => seen.length === 2, 'the timed job');
      expect(seen[1]! - start).toBeGreaterThanOrEqual(300);
      await producer.close();
      await consumer.close();
    } finally {
      slow.disconnect();
      await proxy.close();
    }
  });

  it('rejects bad backend options with typed errors', () => {
    expect(() => new RedisBackend({ redis: {} as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new RedisBackend({ redis, name: 'a{b}' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new RedisBackend({ redis, buckets: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new RedisBackend({ redis, moveBatch: 5000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new RedisBackend({ redis, polling: 1 } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    expect(() => new RedisBackend({ redis, name: 'q\uD800' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('a handler that completes after close gave up acks nothing: its job comes back after its ttr', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const first = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    first.process('late', (job) => {
      started();
      return new Promise<void>((resolve) => job.signal.addEventListener('abort', () => setTimeout(resolve, 10)));
    });
    const id = await first.add('late', 'x', { ttr: 1_000 });
    await running;
    await expect(first.close({ timeout: 50 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    expect(await second.get(id)).toMatchObject({ state: 'reserved', attempts: 1 });
    const again = new Promise<number>((resolve) => second.process('late', (job) => resolve(job.attempt)));
    expect(await again).toBe(2);
    await second.close();
  });

  it('close() waits for an ack still on the wire, in the queue and in the backend (a client closed after it would lose it)', async () => {
    const server = await startRedisServer();
    const client = new Redis({ port: server.port, lazyConnect: true, maxRetriesPerRequest: null });
    try {
      await client.connect();
      const queue = new DelayQueue({ backend: new RedisBackend({ redis: client, name: 'acks' }) });
      let release!: () => void;
      const finish = new Promise<void>((resolve) => (release = resolve));
      let started!: () => void;
      const running = new Promise<void>((resolve) => (started = resolve));
      queue.process('t', async () => {
        started();
        await finish;
      });
      const id = await queue.add('t', 1);
      await running;
      // The server stops answering: the handler's ack goes out and waits for its reply.
      server.pause();
      release();
      let closed = false;
      const closing = queue.close({ timeout: 5_000 }).then(() => (closed = true));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(closed).toBe(false);
      server.resume();
      await closing;
      expect(queue.metrics().acked).toBe(1);
      const reader = new DelayQueue({ backend: new RedisBackend({ redis: client, name: 'acks' }) });
      expect(await reader.get(id)).toMatchObject({ state: 'done' });
      await reader.close();
    } finally {
      server.resume();
      client.disconnect();
      await server.stop();
    }
  });

  it('packs the adds of one turn by bytes too, so large jobs fit the smallest proto-max-bulk-len Redis allows', async () => {
    // A private server: its bulk limit lowered to Redis's minimum (1 MB) must not touch the shared one.
    const server = await startRedisServer();
    const client = new Redis({ port: server.port, lazyConnect: true });
    try {
      await client.connect();
      await client.config('SET', 'proto-max-bulk-len', '1mb');
      const queue = new DelayQueue({ backend: new RedisBackend({ redis: client, name: 'bulk' }), maxPayloadBytes: 2 * 1024 * 1024 });
      const big = (i: number): string => String(i).repeat(400 * 1024);
      // Three 400 KB jobs and fifty small ones, all added in the same turn: before, one call of 1.2 MB.
      const added = await Promise.all([
        ...[1, 2, 3].map((i) => queue.add('big', big(i), { id: `big-${i}`, delay: 60_000 })),
        ...Array.from({ length: 50 }, (_, i) => queue.add('big', i, { id: `small-${i}`, delay: 60_000 })),
      ]);
      expect(added).toHaveLength(53);
      for (const i of [1, 2, 3]) expect((await queue.get(`big-${i}`))?.payload).toBe(big(i));
      expect((await queue.get('small-49'))?.payload).toBe(49);
      await queue.close();
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});
