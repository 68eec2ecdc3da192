import { Redis } from 'ioredis';
import { type TestRedisServer, redisMasters, startRedisServer } from '@x/testkit';
import { Redlock } from '../src/index.js';
import { ACQUIRE, queueKeys } from '../src/scripts.js';
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
    redlock = new Redlock([redis], { restartGuard: false });
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
    expect(await released).toEqual({ deleted: 1, released: true, expired: false });
    await second.release();
    expect(await noscriptErrors(redis)).toBe(0);
    // Each script went out as EVAL once (acquire, release), every later use as EVALSHA.
    expect(await callsOf(redis, 'eval')).toBe(2);
    expect(await callsOf(redis, 'evalsha')).toBe(2);
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
    const [line, kept] = queueKeys(key);
    // value, TTL, one resource, no fencing, joining the line (place 1, kept 5 s), no restart guard.
    const acquire = (value: string): Promise<unknown> => redis.eval(ACQUIRE.source, 3, key, line, kept, value, 5_000, 1, 0, 2, 1, 5_000, 0);
    await redis.set(key, 'holder', 'PX', 5_000);
    expect(((await acquire('waiter')) as number[])[1]).toBe(0);
    expect(await redis.zscore(line, 'waiter')).toBe('1');
    expect(await redis.zscore(kept, 'waiter')).not.toBeNull();
    await redis.del(key);
    expect(((await acquire('waiter')) as number[])[1]).toBe(1);
    expect(await redis.get(key)).toBe('waiter');
    expect(await redis.zscore(line, 'waiter')).toBeNull();
    expect(await redis.zscore(kept, 'waiter')).toBeNull();
    await redis.del(key, line, kept);
  });
});
