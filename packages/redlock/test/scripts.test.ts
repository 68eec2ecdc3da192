import { Redis } from 'ioredis';
import { type TestRedisServer, eventually, redisMasters, startRedisServer } from '@x/testkit';
import { Redlock } from '../src/index.js';
import { ACQUIRE, RELEASE, fenceKey, queueKeys } from '../src/scripts.js';
import { resource } from './helpers.js';

/** `calls` of `command` in INFO commandstats (0 when it never ran). */
async function callsOf(redis: Redis, command: string): Promise<number> {
  const match = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(await redis.info('commandstats'));
  return match ? Number(match[1]) : 0;
}

/** How many NOSCRIPT errors the server answered since the last CONFIG RESETSTAT. */
async function noscriptErrors(redis: Redis): Promise<number> {
  const match = /^errorstat_NOSCRIPT:count=(\d+)/m.exec(await redis.info('errorstats'));
  return match ? Number(match[1]) : 0;
}

// A private server: its script cache and statistics start empty and nothing else runs scripts on it.
describe('scripts on a server that has never run them', () => {
  let server: TestRedisServer;
  let redis: Redis;
  let redlock: Redlock;
  beforeAll(async () => {
    server = await startRedisServer();
    redis = new Redis({ port: server.port, host: '127.0.0.1' });
    await redis.ping();
    // What is counted here is which commands went out, not how fast: a busy machine may take longer than the
    // default 50 ms to answer a script's first EVAL (seen in CI), which would fail the acquire, not the check.
    redlock = new Redlock([redis], { restartGuard: false, requestTimeout: 2_000 });
  });
  afterAll(async () => {
    await redlock.close();
    redis.disconnect();
    await server.stop();
  });

  it("sends a script's first use as EVAL, so a release still on its way lands before the next acquire", async () => {
    const key = resource('first-use');
    const first = await redlock.acquire(key, 5_000);
    // RELEASE has never run on this connection. Sent as EVALSHA it would be answered NOSCRIPT and sent again
    // only after the acquire below, which would then find the key still held.
    const released = first.release();
    const second = await redlock.acquire(key, 5_000, { retryCount: 0 });
    expect(await released).toEqual({ deleted: 1, released: true, expired: false, failures: [] });
    await second.release();
    expect(await noscriptErrors(redis)).toBe(0);
    // Each script went out as EVAL once (acquire, release), every later use as EVALSHA.
    expect(await callsOf(redis, 'eval')).toBe(2);
    expect(await callsOf(redis, 'evalsha')).toBe(2);
  });

  it('releases with nobody in line without touching the line: one EXISTS, no clock reading', async () => {
    const key = resource('no-line');
    const lock = await redlock.acquire(key, 5_000);
    await redis.config('RESETSTAT');
    expect(await lock.release()).toEqual({ deleted: 1, released: true, expired: false, failures: [] });
    expect(await callsOf(redis, 'exists')).toBe(1);
    expect(await redis.exists(key)).toBe(0);
    for (const command of ['time', 'zrem', 'hdel', 'zrange', 'zscore']) expect([command, await callsOf(redis, command)]).toEqual([command, 0]);
    // Announced all the same: waiters of other processes that have not joined the line yet listen for it.
    expect(await callsOf(redis, 'publish')).toBe(1);
  });

  it('falls back to EVAL when the server lost its scripts', async () => {
    await redis.script('FLUSH');
    await redis.config('RESETSTAT');
    const key = resource('flushed');
    await (await redlock.acquire(key, 5_000)).release();
    expect(await noscriptErrors(redis)).toBe(2);
    expect(await redis.exists(key)).toBe(0);
  });

  it('sends EVAL again after a reconnect (the server may be a new one)', async () => {
    await redis.script('FLUSH');
    const ready = new Promise((resolve) => redis.once('ready', resolve));
    redis.disconnect(true);
    await ready;
    await redis.config('RESETSTAT');
    await (await redlock.acquire(resource('reconnected'), 5_000)).release();
    expect(await noscriptErrors(redis)).toBe(0);
    expect(await callsOf(redis, 'eval')).toBe(2);
  });
});

describe('the waiting line in the acquire script', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = new Redis(redisMasters()[0]!);
    await redis.ping();
  });
  afterAll(() => redis.disconnect());

  it('takes a waiter out of the line where it grants the lock, and keeps its place where it refuses', async () => {
    const key = resource('line-on-grant');
    const [line, kept, arrivals] = queueKeys(key);
    // value, TTL, one resource, no fencing, joining the line (place 1, kept 5 s), no restart guard, attempt 2,
    // its process's hand-over channel.
    const acquire = (value: string): Promise<unknown> => redis.eval(ACQUIRE.source, 4, key, line, kept, arrivals, value, 5_000, 1, 0, 2, 1, 5_000, 0, 2, 'hand-over:p');
    await redis.set(key, 'holder', 'PX', 5_000);
    expect(((await acquire('waiter')) as number[])[1]).toBe(0);
    expect(await redis.zscore(line, 'waiter')).toBe('1');
    expect(await redis.zscore(kept, 'waiter')).not.toBeNull();
    // What a release needs to hand the lock over: when the attempt arrived, its number, TTL, fencing, resource
    // count and channel.
    expect(await redis.hget(arrivals, 'waiter')).toMatch(/^\d{13} 2 5000 0 1 hand-over:p$/);
    await redis.del(key);
    expect(((await acquire('waiter')) as number[])[1]).toBe(1);
    expect(await redis.get(key)).toBe('waiter');
    expect(await redis.zscore(line, 'waiter')).toBeNull();
    expect(await redis.zscore(kept, 'waiter')).toBeNull();
    expect(await redis.hget(arrivals, 'waiter')).toBeNull();
    await redis.del(key, line, kept, arrivals);
  });

  it('has a waiter in line give back the key it kept when an earlier waiter is first; a multi-resource waiter keeps its place', async () => {
    const key = resource('give-back');
    const [line, kept, arrivals] = queueKeys(key);
    // As above, with the waiter's place as an argument.
    const acquire = (value: string, place: number, join = 2): Promise<unknown> => redis.eval(ACQUIRE.source, 4, key, line, kept, arrivals, value, 5_000, 1, 0, join, place, 5_000, 0, 2, 'hand-over:p');
    expect(((await acquire('later', 20)) as number[])[1]).toBe(1);
    // 'earlier' joins ahead of it: refused (the key is held), it is first in line.
    expect(((await acquire('earlier', 10)) as number[]).slice(1)).toEqual([0, 1, 1]);
    // The kept key goes back: 'later' is refused and the key is free for the first waiter.
    expect(((await acquire('later', 20)) as number[]).slice(1)).toEqual([0, 1, 0]);
    expect(await redis.get(key)).toBeNull();
    // A key left by an attempt whose answer was missed still counts as ours outside the line (join 1: checked only).
    await redis.set(key, 'missed', 'PX', 5_000);
    expect(((await acquire('missed', 30, 1)) as number[])[1]).toBe(1);
    expect(((await acquire('earlier', 10)) as number[])[1]).toBe(0);
    await redis.del(key);
    expect(((await acquire('earlier', 10)) as number[])[1]).toBe(1);
    expect(await redis.zscore(line, 'earlier')).toBeNull();
    await redis.del(key, line, kept, arrivals);

    // Two resources: granted, the waiter stays in both lines (its keys go back if the others refused).
    const other = resource('give-back-other');
    const lines = [...queueKeys(key), ...queueKeys(other)];
    const both = await redis.eval(ACQUIRE.source, 8, key, other, ...lines, 'multi', 5_000, 2, 0, 2, 5, 5_000, 0, 2, 'hand-over:p');
    expect((both as number[])[1]).toBe(1);
    expect(await redis.zscore(lines[0]!, 'multi')).toBe('5');
    expect(await redis.zscore(lines[3]!, 'multi')).toBe('5');
    await redis.del(key, other, ...lines);
  });

  describe('a release with a waiter first in line', () => {
    const channel = 'x-redlock-test:hand-over:p';
    let subscriber: Redis;
    let heard: Array<[string, string]>;
    beforeAll(async () => {
      subscriber = redis.duplicate();
      subscriber.on('message', (on: string, message: string) => heard.push([on, message]));
      subscriber.on('pmessage', (_pattern: string, on: string, message: string) => heard.push([on, message]));
      await subscriber.subscribe(channel);
      await subscriber.psubscribe('x-redlock-test:released:*');
    });
    afterAll(() => subscriber.disconnect());
    beforeEach(() => {
      heard = [];
    });

    /** The holder holds `key`; 'waiter' stands first in line, its last attempt arrived `agoMs` ago (instance time). */
    async function holdWithWaiter(key: string, arrival: { agoMs?: number; resources?: number; channel?: string; fencing?: 0 | 1 } = {}): Promise<void> {
      const [line, kept, arrivals] = queueKeys(key);
      const [seconds, micros] = await redis.time();
      const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
      await redis.set(key, 'holder', 'PX', 10_000);
      await redis.zadd(line, 1, 'waiter');
      await redis.zadd(kept, now + 5_000, 'waiter');
      await redis.hset(arrivals, 'waiter', `${now - (arrival.agoMs ?? 0)} 7 4000 ${arrival.fencing ?? 1} ${arrival.resources ?? 1} ${arrival.channel ?? channel}`);
    }

    const release = (key: string, guardMs = 0, releaser = 'x-redlock-test:hand-over:releaser'): Promise<unknown> =>
      redis.eval(RELEASE.source, 5, key, fenceKey(key), ...queueKeys(key), 'holder', 'x-redlock-test:released:', 1, 1, 200, guardMs, releaser);

    it('hands the lock over: the waiter\'s value and TTL, a fence token, a message to its process with the wait', async () => {
      const key = resource('handed');
      await redis.set(fenceKey(key), 41);
      await holdWithWaiter(key, { agoMs: 1_000 });
      const reply = (await release(key)) as number[];
      expect(reply.slice(0, 5)).toEqual([1, 'waiter', 1, 7, 42]);
      // How long after the attempt's arrival the key was set, by this instance's clock.
      const waited = reply[5]!;
      expect(waited).toBeGreaterThanOrEqual(1_000);
      expect(waited).toBeLessThan(1_100);
      expect(await redis.get(key)).toBe('waiter');
      const ttl = await redis.pttl(key);
      expect(ttl).toBeLessThanOrEqual(4_000);
      expect(ttl).toBeGreaterThan(3_800);
      expect(await redis.zcard(queueKeys(key)[0])).toBe(0);
      expect(await redis.hlen(queueKeys(key)[2])).toBe(0);
      await eventually(async () => heard.length === 1, 'the hand-over heard', 1_000);
      expect(heard).toEqual([[channel, `holder waiter 7 42 ${waited}`]]);
      await redis.del(key, fenceKey(key));
    });

    it("hands over without a message when the waiter is the releasing process's own (it reads the reply)", async () => {
      const key = resource('handed-here');
      await holdWithWaiter(key);
      expect(await release(key, 0, channel)).toEqual([1, 'waiter', 1, 7, expect.any(Number), expect.any(Number)]);
      expect(await redis.get(key)).toBe('waiter');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(heard).toEqual([]);
      await redis.del(key, fenceKey(key));
    });

    it.each([
      ['its process is gone (nobody listens on its channel)', { channel: 'x-redlock-test:hand-over:nobody' }, 0],
      ['it waits for two resources', { resources: 2 }, 0],
      ['its last attempt arrived longer ago than its TTL', { agoMs: 4_100 }, 0],
      ['this server restarted less than the guard ago', {}, 1e12],
    ])('only reserves the key when %s', async (_why, arrival, guardMs) => {
      const key = resource('reserved');
      await holdWithWaiter(key, arrival);
      expect(await release(key, guardMs)).toEqual([1, 'waiter', 0, 0, 0, 0]);
      expect(await redis.get(key)).toBe('waiter');
      expect(await redis.pttl(key)).toBeLessThanOrEqual(200);
      // Still first in line: it comes for the key with an attempt of its own, which the reservation lets through.
      expect(await redis.zscore(queueKeys(key)[0], 'waiter')).toBe('1');
      await eventually(async () => heard.length === 1, 'the reservation heard', 1_000);
      expect(heard).toEqual([[`x-redlock-test:released:${key}`, 'holder waiter']]);
      await redis.del(key, ...queueKeys(key));
    });
  });
});
