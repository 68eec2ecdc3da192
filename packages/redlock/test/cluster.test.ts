/**
 * A Redis Cluster as one Redlock instance (one vote), on the real three-master cluster of scripts/services.
 */
import type { Cluster } from 'ioredis';
import { InvalidArgumentError, isXError } from '@x/core';
import { createCluster } from 'redis';
import { Cluster as Cluster6 } from 'ioredis6';
import { redisClusterNodes, requireRedisCluster, uniqueName } from '@x/testkit';
import { LockHeldError, LockNotAcquiredError, type QuorumError, type RedisClient, Redlock } from '../src/index.js';
import { CLIENT_KINDS, type ClientKind } from './helpers.js';

let cluster: Cluster;

beforeAll(async () => {
  cluster = await requireRedisCluster();
});
afterAll(() => {
  cluster.disconnect();
});

/** The cluster as Redlock is given it: the ioredis Cluster itself, or a node-redis cluster of the same nodes. */
async function clusterFor(kind: ClientKind): Promise<{ client: RedisClient; close(): Promise<void> }> {
  if (kind === 'ioredis') return { client: cluster, close: async () => undefined };
  if (kind === 'ioredis 6') {
    const made = new Cluster6(redisClusterNodes());
    await made.ping();
    return { client: made, close: async () => void (await made.quit()) };
  }
  const made = createCluster({ rootNodes: redisClusterNodes().map(({ host, port }) => ({ socket: { host, port } })) });
  made.on('error', () => undefined);
  await made.connect();
  return { client: made, close: () => made.close() };
}

describe.each(CLIENT_KINDS)('with %s clients', (kind) => {
  let locker: { client: RedisClient; close(): Promise<void> };
  let redlock: Redlock;

  beforeAll(async () => {
    locker = await clusterFor(kind);
  });
  afterAll(() => locker.close());
  beforeEach(() => {
    // The cluster's nodes may have just started: the delayed-restart rule has its own tests. A cluster call may be
    // redirected and a script loaded on first use: these tests are about what the cluster answers, so a loaded
    // machine's slow first reply must not turn it into a timeout.
    redlock = new Redlock([locker.client], { restartGuard: false, requestTimeout: 1_000 });
  });
  afterEach(async () => {
    await redlock.close();
  });

  describe('Redlock on a Redis Cluster', () => {
    it('counts the cluster as one vote: acquire, exclusion and release', async () => {
      const resource = uniqueName('x-redlock-cluster');
      const lock = await redlock.acquire(resource, 5_000);
      expect(await cluster.get(resource)).toBe(lock.value);
      const error: unknown = await redlock.acquire(resource, 5_000, { retryCount: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockNotAcquiredError);
      expect((error as LockNotAcquiredError).cause).toBeInstanceOf(LockHeldError);
      await lock.release();
      expect(await cluster.get(resource)).toBeNull();
    });

    it('locks several resources of one hash slot together', async () => {
      const tag = uniqueName('acct');
      const resources = [`{${tag}}:1`, `{${tag}}:2`, `{${tag}}:3`];
      const lock = await redlock.acquire(resources, 5_000);
      expect(await Promise.all(resources.map((r) => cluster.get(r)))).toEqual(resources.map(() => lock.value));
      await lock.release();
      expect(await Promise.all(resources.map((r) => cluster.exists(r)))).toEqual([0, 0, 0]);
    });

    it('refuses resources of several slots with a clear crossslot failure, and writes nothing', async () => {
      // Hash tags {a} and {b} are slots 15495 and 3300.
      const a = `{a}:${uniqueName('x-redlock')}`;
      const b = `{b}:${uniqueName('x-redlock')}`;
      const error: unknown = await redlock.acquire([a, b], 5_000, { retryCount: 0 }).catch((e: unknown) => e);
      expect(isXError(error, 'ERR_LOCK_NOT_ACQUIRED')).toBe(true);
      const quorum = (error as LockNotAcquiredError).cause as QuorumError;
      expect(isXError(quorum, 'ERR_NO_QUORUM')).toBe(true);
      expect(quorum.failures.map((f) => f.reason)).toEqual(['crossslot']);
      expect(quorum.message).toMatch(/cluster#0 crossslot/);
      expect(await cluster.exists(a)).toBe(0);
      expect(await cluster.exists(b)).toBe(0);
    });

    it('keeps a waiting line beside the key in its slot, with and without a hash tag', async () => {
      const waiter = new Redlock([locker.client], { restartGuard: false, requestTimeout: 1_000, retryCount: 100 });
      try {
        for (const name of [uniqueName('x-redlock-line'), `{${uniqueName('x-redlock-line')}}:orders`, `{${uniqueName('x-redlock-line')}}`]) {
          const holder = await redlock.acquire(name, 5_000);
          // Its second attempt joins the line (on the key's master: any other slot would fail with CROSSSLOT).
          const waiting = waiter.acquire(name, 1_000);
          await new Promise((resolve) => setTimeout(resolve, 300));
          await holder.release();
          await (await waiting).release();
        }
      } finally {
        await waiter.close();
      }
    });

    it('refuses, before anything is written, a name whose slot no derived key can share', async () => {
      for (const name of ['a}', 'a{}b', '}{']) {
        const error: unknown = await redlock.acquire(name, 1_000, { retryCount: 0 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toMatch(/hash tag/);
      }
    });

    it('applies the delayed-restart rule on the master that holds the key', async () => {
      // The script reads the uptime of the master it runs on; these masters have been up for more than 1 s and less than 23 days.
      const guarded = new Redlock([locker.client], { maxTtl: 1_000, requestTimeout: 1_000 });
      try {
        await (await guarded.acquire(uniqueName('x-redlock-guard'), 1_000)).release();
        const young = new Redlock([locker.client], { maxTtl: 2_000_000_000, requestTimeout: 1_000 });
        const error: unknown = await young.acquire(uniqueName('x-redlock-guard'), 1_000, { retryCount: 0 }).catch((e: unknown) => e);
        await young.close();
        expect(((error as LockNotAcquiredError).cause as QuorumError).failures.map((f) => f.reason)).toEqual(['restarting']);
      } finally {
        await guarded.close();
      }
    });
  });
});
