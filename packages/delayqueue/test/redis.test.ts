import { Redis } from 'ioredis';
import { Redis as Redis6 } from 'ioredis6';
import { requireRedis, startRedisServer, startStallProxy, uniqueName } from '@x/testkit';
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
