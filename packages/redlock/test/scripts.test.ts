import { Redis } from 'ioredis';
import { type TestRedisServer, startRedisServer } from '@x/testkit';
import { Redlock } from '../src/index.js';
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
