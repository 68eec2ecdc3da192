import type { Redis } from 'ioredis';
import { InvalidArgumentError, exponentialBackoff, isXError, systemClock } from '@x/core';
import {
  LockHeldError,
  LockLostError,
  LockNotAcquiredError,
  type QuorumError,
  Redlock,
  type RedisClient,
} from '../src/index.js';
import { ACQUIRE, fenceKey, queueKeys } from '../src/scripts.js';
import { ReleaseNotifier } from '../src/release-notifier.js';
import { scriptClientOf } from '../src/instance.js';
import { join } from 'node:path';
import { eventually, exited, spawnTsProcess } from '@x/testkit';
import { createClient } from 'redis';
import { CLIENT_KINDS, connectMasters, lockClients, quitAll, resource, settledValues, valuesOf } from './helpers.js';

let clients: Redis[];

beforeAll(async () => {
  clients = await connectMasters();
});
afterAll(async () => {
  await quitAll(clients);
});

// The whole suite with each client library Redlock takes; `clients` (ioredis) look at the servers either way.
describe.each(CLIENT_KINDS)('with %s clients', (kind) => {
  let lockers: RedisClient[];
  let closeLockers: () => Promise<void>;
  let redlock: Redlock;

  beforeAll(async () => {
    ({ clients: lockers, close: closeLockers } = await lockClients(kind, clients));
  });
  afterAll(async () => {
    await closeLockers();
  });
  beforeEach(() => {
    // The shared test servers have just started: the delayed-restart rule is tested on its own below. A roomy
    // request timeout (capped at a third of each TTL): these tests are about what the instances answer, and a
    // fresh connection's first EVAL on a loaded machine must not turn an answer into a timeout (seen once in CI
    // with node-redis: QuorumError instead of LockHeldError).
    redlock = new Redlock(lockers, { restartGuard: false, requestTimeout: 300 });
  });
  afterEach(async () => {
    await redlock.close();
  });

  describe('acquire and release', () => {
    it('after a failed extension, counts the lock valid no longer than the shorter TTL the instances may have applied', async () => {
      const key = resource('extend-failed');
      const lock = await redlock.acquire(key, 5_000);
      // Too short to leave validity past the round (3 ms less the 2 ms drift allowance): it fails (unless the
      // round took under a millisecond), yet the instances applied it and the keys expire at once.
      await lock.extend(3).catch((error: unknown) => expect(error).toMatchObject({ code: 'ERR_LOCK_LOST' }));
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(lock.expired).toBe(true);
      expect(lock.remaining()).toBe(0);
      // Answers that come too late (the event loop blocked past the round's timeout) count the same way.
      const other = await redlock.acquire(resource('extend-late'), 5_000);
      const extending = other.extend(300);
      const blockedUntil = performance.now() + 400;
      while (performance.now() < blockedUntil);
      await expect(extending).rejects.toMatchObject({ code: 'ERR_LOCK_LOST' });
      expect(other.remaining()).toBe(0);
      await Promise.all([lock.release(), other.release()]);
    });

    it('sets the key with our value and the TTL on every instance, and release deletes it everywhere', async () => {
      const key = resource('basic');
      const lock = await redlock.acquire(key, 2_000);
      expect(redlock.quorum).toBe(3);
      expect(await settledValues(clients, key, Array(5).fill(lock.value))).toEqual(Array(5).fill(lock.value));
      expect(lock.value).toMatch(/^[0-9a-f]{32}$/);
      const ttls = await Promise.all(clients.map((client) => client.pttl(key)));
      for (const ttl of ttls) expect(ttl).toBeGreaterThan(1_000);
      for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(2_000);
      // Validity is the TTL minus elapsed time and drift (2,000 * 0.01 + 2 = 22 ms).
      expect(lock.remaining()).toBeLessThanOrEqual(2_000 - 22);
      expect(lock.remaining()).toBeGreaterThan(1_500);
      // release() returns once a majority confirmed; the other instances are still asked.
      const released = await lock.release();
      expect(released).toMatchObject({ released: true, expired: false });
      expect(released.deleted).toBeGreaterThanOrEqual(3);
      expect(await settledValues(clients, key, Array(5).fill(null))).toEqual(Array(5).fill(null));
      // A second release answers the first one's result.
      expect(await lock.release()).toBe(released);
    });

    it('refuses a held resource with LockHeldError, naming the instances', async () => {
      const key = resource('held');
      const lock = await redlock.acquire(key, 5_000);
      const error: unknown = await redlock.acquire(key, 1_000, { retryCount: 0 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockNotAcquiredError);
      expect((error as LockNotAcquiredError).attempts).toBe(1);
      const cause = (error as LockNotAcquiredError).cause;
      expect(cause).toBeInstanceOf(LockHeldError);
      expect((cause as LockHeldError).failures.map((f) => f.reason)).toEqual(Array(5).fill('held'));
      expect((cause as LockHeldError).failures[0]!.instance).toMatch(/^127\.0\.0\.1:700\d$/);
      await lock.release();
    });

    it('wins with a bare majority and releases a failed attempt everywhere at once', async () => {
      const key = resource('minority');
      // Another owner holds the key on two instances: 3 of 5 still grant us the lock.
      await Promise.all(clients.slice(0, 2).map((client) => client.set(key, 'someone-else', 'PX', 10_000)));
      const lock = await redlock.acquire(key, 2_000, { retryCount: 0 });
      expect(await valuesOf(clients, key)).toEqual(['someone-else', 'someone-else', lock.value, lock.value, lock.value]);
      await lock.release();
      expect(await valuesOf(clients, key)).toEqual(['someone-else', 'someone-else', null, null, null]);

      // On three instances: no majority, and what we took on the other two is given back before we return.
      await clients[2]!.set(key, 'someone-else', 'PX', 10_000);
      await expect(redlock.acquire(key, 2_000, { retryCount: 0 })).rejects.toBeInstanceOf(LockNotAcquiredError);
      expect(await valuesOf(clients, key)).toEqual(['someone-else', 'someone-else', 'someone-else', null, null]);
      await Promise.all(clients.map((client) => client.del(key)));
    });

    it('locks several resources all or nothing', async () => {
      const [a, b, c] = [resource('a'), resource('b'), resource('c')];
      const ab = await redlock.acquire([a, b], 5_000);
      await expect(redlock.acquire([b, c], 1_000, { retryCount: 0 })).rejects.toMatchObject({ cause: expect.any(LockHeldError) });
      expect(await valuesOf(clients, c)).toEqual(Array(5).fill(null));
      expect(ab.fencingTokens).toHaveLength(2);
      await ab.release();
      const bc = await redlock.acquire([b, c], 1_000);
      expect(await settledValues(clients, c, Array(5).fill(bc.value))).toEqual(Array(5).fill(bc.value));
      await bc.release();
    });

    it('returns fencing tokens that grow with every acquisition of a resource', async () => {
      const key = resource('fence');
      const tokens: number[] = [];
      for (let i = 0; i < 4; i++) {
        const lock = await redlock.acquire(key, 1_000);
        tokens.push(lock.fencingToken!);
        await lock.release();
      }
      // Strictly growing, not always consecutive: an attempt that fails after some instances granted it (one of
      // them slower than requestTimeout on a loaded machine, say) has counted there, and its retry counts past
      // that. A loaded CI run once got [1, 3, 4, 5].
      expect(tokens[0]).toBeGreaterThanOrEqual(1);
      for (let i = 1; i < tokens.length; i++) expect(tokens[i]).toBeGreaterThan(tokens[i - 1]!);
      // A fresh Redlock (another process) continues from the counters in Redis.
      const other = new Redlock(lockers, { restartGuard: false });
      const lock = await other.acquire(key, 1_000);
      expect(lock.fencingToken).toBeGreaterThan(tokens[3]!);
      await lock.release();
      await other.close();
      const plain = new Redlock(lockers, { restartGuard: false, fencing: false });
      const unfenced = await plain.acquire(resource('nofence'), 1_000);
      expect(unfenced.fencingTokens).toEqual([]);
      expect(unfenced.fencingToken).toBeUndefined();
      await unfenced.release();
      await plain.close();
      await Promise.all(clients.map((client) => client.del(key, fenceKey(key))));
    });

    it('gives a later lock a greater token even when the instances counted differently before', async () => {
      const key = resource('skewed-fence');
      // History left instance 0's counter far ahead of the others (it granted acquisitions they did not see).
      await clients[0]!.set(fenceKey(key), '100');
      // Someone else holds the key on instances 3 and 4, so the first lock can only be won on 0, 1 and 2 (a round
      // settles at the first majority, which would otherwise depend on which instances answer first).
      await Promise.all([clients[3]!, clients[4]!].map((client) => client.set(key, 'someone-else', 'PX', 10_000)));
      const first = await redlock.acquire(key, 2_000, { retryCount: 0 });
      expect(first.fencingToken).toBe(101);
      await first.release();
      // Now instance 0 cannot grant (someone else's key sits there) and 3 and 4 can again: the next lock is won on a
      // majority of 1-4, whose own counters alone would say 2 at most. A stale holder of token 101 must still lose.
      await Promise.all([clients[3]!, clients[4]!].map((client) => client.del(key)));
      await clients[0]!.set(key, 'someone-else', 'PX', 10_000);
      const second = await redlock.acquire(key, 2_000, { retryCount: 0 });
      expect(second.fencingToken).toBeGreaterThan(101);
      await second.release();
      await Promise.all(clients.map((client) => client.del(key, fenceKey(key))));
    });

    it('keeps fence keys in the hash slot of their resource', () => {
      expect(fenceKey('orders:42')).toBe('{orders:42}:fence');
      expect(fenceKey('{tenant-7}:orders')).toBe('{tenant-7}:orders:fence');
      expect(fenceKey('a{}b')).toBe('{a{}b}:fence');
      expect(fenceKey('{x}')).toBe('{x}:fence');
    });

    it('release() of an expired lock reports it instead of failing', async () => {
      const lock = await redlock.acquire(resource('expiring'), 50);
      await new Promise((resolve) => setTimeout(resolve, 80));
      expect(lock.expired).toBe(true);
      expect(await lock.release()).toEqual({ deleted: 0, released: false, expired: true, failures: [] });
    });

    it('release() twice answers the first release again, without asking Redis, and extend() after it says it was released', async () => {
      const key = resource('released-twice');
      const lock = await redlock.acquire(key, 5_000);
      const first = await lock.release();
      expect(first).toMatchObject({ released: true, expired: false, failures: [] });
      expect(lock.released).toBe(true);
      // Someone else holds the key now: a second round would not touch it, and none is made.
      const next = await redlock.acquire(key, 5_000);
      expect(await lock.release()).toBe(first);
      await expect(lock.extend(5_000)).rejects.toThrow(expect.objectContaining({ code: 'ERR_LOCK_LOST', message: expect.stringContaining('it was released') }));
      expect(next.remaining()).toBeGreaterThan(0);
      await next.release();
    });
  });

  describe('extend', () => {
    it('pushes the expiry out on every instance', async () => {
      const key = resource('extend');
      const lock = await redlock.acquire(key, 300);
      await lock.extend(5_000);
      expect(lock.remaining()).toBeGreaterThan(4_000);
      // extend() returns once a majority confirmed; the others follow.
      await eventually(async () => (await Promise.all(clients.map((client) => client.pttl(key)))).every((ttl) => ttl > 4_000), 'the extension on every instance', 2_000);
      await lock.release();
    });

    it('fails with LockLostError when a majority no longer holds it, or it expired', async () => {
      const key = resource('lost');
      const lock = await redlock.acquire(key, 5_000);
      await Promise.all(clients.slice(0, 3).map((client) => client.del(key)));
      const error: unknown = await lock.extend(5_000).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockLostError);
      expect(((error as LockLostError).cause as QuorumError).failures.map((f) => f.reason)).toEqual(['held', 'held', 'held']);
      expect((error as LockLostError).message).toMatch(/was lost: the extension was confirmed by 2 of the 3 instances needed \(127\.0\.0\.1:\d+ held; 127\.0\.0\.1:\d+ held; 127\.0\.0\.1:\d+ held\)$/);
      await lock.release();

      const short = await redlock.acquire(resource('expired'), 30);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await expect(short.extend(1_000)).rejects.toThrow(/expired before the extension/);
    });
  });

  describe('waiting for a held lock', () => {
    it('wakes on the release announcement instead of sleeping out its retry delay', async () => {
      const key = resource('wake');
      // Retry delays of 5 s: without the announcement the waiter could not get the lock within the test's window.
      const slow = new Redlock(lockers, { restartGuard: false, backoff: exponentialBackoff({ initial: 5_000, max: 5_000 }) });
      const holder = await redlock.acquire(key, 10_000);
      const waiting = slow.acquire(key, 1_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const releasedAt = performance.now();
      await holder.release();
      const lock = await waiting;
      expect(performance.now() - releasedAt).toBeLessThan(2_000);
      await lock.release();
      await slow.close();
    });

    it('hands a released lock to the waiter that started waiting first, across Redlocks that know nothing of each other', async () => {
      const key = resource('fifo');
      // Five "processes": each its own Redlock, all with retry delays of 5 s, so only the hand-over can pass the
      // lock on within the test's window; each starts waiting 150 ms after the one before.
      const others = Array.from({ length: 5 }, () => new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 5_000, max: 5_000 }) }));
      try {
        const holder = await redlock.acquire(key, 10_000);
        const order: number[] = [];
        const waiting = others.map(async (other, i) => {
          await new Promise((resolve) => setTimeout(resolve, 150 * i));
          const lock = await other.acquire(key, 10_000);
          order.push(i);
          await new Promise((resolve) => setTimeout(resolve, 20));
          await lock.release();
        });
        await new Promise((resolve) => setTimeout(resolve, 150 * others.length + 200));
        const started = performance.now();
        await holder.release();
        await Promise.all(waiting);
        // Without the line all five wake on each release and race: the order is whoever's votes came first.
        expect(order).toEqual([0, 1, 2, 3, 4]);
        expect(performance.now() - started).toBeLessThan(2_000);
        // Everyone left the line, and it left nothing behind.
        await eventually(async () => (await Promise.all(clients.map((client) => client.exists(...queueKeys(key))))).every((n) => n === 0), 'no line left', 2_000);
      } finally {
        await Promise.all(others.map((other) => other.close()));
      }
    });

    it('does not give a free key to a newcomer while a waiter is first in line, and a waiter gone from the line holds nobody back for long', async () => {
      const key = resource('line-ghost');
      const [line, kept] = queueKeys(key);
      // A waiter that died in line: first (place 0), kept for 800 ms more on every instance.
      await Promise.all(clients.map(async (client) => {
        const [seconds, micros] = await client.time();
        await client.zadd(line, 0, 'ghost');
        await client.zadd(kept, Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 800, 'ghost');
      }));
      const fast = new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 50, max: 50 }), retryCount: 100 });
      try {
        const started = performance.now();
        const first = await fast.acquire(key, 1_000, { retryCount: 0 }).catch((error: unknown) => error);
        expect(first).toBeInstanceOf(LockNotAcquiredError);
        expect((first as LockNotAcquiredError).cause).toBeInstanceOf(LockHeldError);
        const lock = await fast.acquire(key, 1_000);
        const waited = performance.now() - started;
        expect(waited).toBeGreaterThan(600);
        expect(waited).toBeLessThan(2_000);
        await lock.release();
      } finally {
        await fast.close();
      }
    });

    it('keeps one waiting line per resource, also for names that share a slot (`x` and `{x}`)', async () => {
      const key = resource('twin');
      const twin = `{${key}}`;
      expect(queueKeys(key)).toEqual([`{${key}}:line:${key}`, `{${key}}:line-kept:${key}`, `{${key}}:line-at:${key}`]);
      expect(queueKeys(twin)).toEqual([`{${key}}:line:${twin}`, `{${key}}:line-kept:${twin}`, `{${key}}:line-at:${twin}`]);
      const quick = (): Redlock => new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 50, max: 50 }), retryCount: 1_000 });
      const [waiterOfKey, waiterOfTwin] = [quick(), quick()];
      const holdingKey = await redlock.acquire(key, 10_000);
      const holdingTwin = await redlock.acquire(twin, 10_000);
      try {
        // A waiter for `key` takes the first place in its line, then a waiter for `{key}` waits behind the twin.
        const forKey = waiterOfKey.acquire(key, 1_000, { acquireTimeout: 8_000 }).catch((e: unknown) => e);
        await new Promise((resolve) => setTimeout(resolve, 300));
        const forTwin = waiterOfTwin.acquire(twin, 1_000, { acquireTimeout: 1_500 });
        await new Promise((resolve) => setTimeout(resolve, 300));
        // Releasing the twin hands it to its own waiter: with one line for both, it was reserved for the waiter
        // of `key` (first in the shared line), and the twin's waiter gave up after 1.5 s.
        await holdingTwin.release();
        await (await forTwin).release();
        await holdingKey.release();
        const lock = await forKey;
        expect(lock).toHaveProperty('value');
        await (lock as { release(): Promise<unknown> }).release();
      } finally {
        await Promise.all([waiterOfKey.close(), waiterOfTwin.close()]);
      }
    });

    it('costs a dead waiter first in line one reservation at a release, not the rest of its kept place', async () => {
      const key = resource('line-dead-first');
      const [line, kept] = queueKeys(key);
      const holder = await redlock.acquire(key, 10_000);
      // A waiter that died first in line, its place kept 8 s more (a process with a 2.7 s backoff keeps it that long).
      await Promise.all(clients.map(async (client) => {
        const [seconds, micros] = await client.time();
        await client.zadd(line, 0, 'dead');
        await client.zadd(kept, Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 8_000, 'dead');
      }));
      const next = new Redlock(lockers, { restartGuard: false, requestTimeout: 100, backoff: exponentialBackoff({ initial: 50, max: 50 }), retryCount: 1_000 });
      try {
        const waiting = next.acquire(key, 1_000);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const released = performance.now();
        await holder.release();
        const lock = await waiting;
        // The release reserved the key for the dead waiter (1.2 s: 4 x the holder's requestTimeout of 300 ms) and
        // its place lapsed with the reservation; before, it stayed first in line for 8 s.
        expect(performance.now() - released).toBeLessThan(2_500);
        await lock.release();
      } finally {
        await next.close();
      }
    });

    it('gives a multi-resource acquire its turn among single-resource waiters of one of its resources', async () => {
      const hot = resource('multi-hot');
      const cold = resource('multi-cold');
      // Three other processes take `hot` in a loop, 20 ms each, one after the other through the line.
      const others = [0, 1, 2].map(() => new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 50, max: 50 }), retryCount: 10_000 }));
      let running = true;
      const loops = others.map(async (other) => {
        while (running) {
          const lock = await other.acquire(hot, 2_000).catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 20));
          await lock?.release();
        }
      });
      const both = new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 50, max: 50 }), retryCount: 10_000 });
      try {
        await new Promise((resolve) => setTimeout(resolve, 300));
        const started = performance.now();
        // Before, it never got in between (each release went to the first waiter in hot's line): 10 s and more.
        const lock = await both.acquire([hot, cold], 1_000, { acquireTimeout: 5_000 });
        const waited = performance.now() - started;
        expect(waited).toBeLessThan(5_000);
        await lock.release();
      } finally {
        running = false;
        await Promise.all(loops);
        await Promise.all([...others, both].map((redlock) => redlock.close()));
      }
    }, 30_000);

    it('has a waiter in line give back the keys it kept where an earlier waiter is first, while one instance does not vote', async () => {
      const key = resource('give-back');
      const other = resource('give-back-other');
      // Instance 5 does not vote for `key` (a key nobody releases: the restart guard or an outage alike), so a
      // majority needs three of the other four; instances 3 and 4 are held for a while by someone else.
      await clients[4]!.set(key, 'stuck', 'PX', 30_000);
      await Promise.all(clients.slice(2, 4).map((client) => client.set(key, 'stuck', 'PX', 1_200)));
      const settings = { restartGuard: false as const, requestTimeout: 300, backoff: exponentialBackoff({ initial: 100, max: 100 }), retryCount: 10_000 };
      const single = new Redlock(lockers, settings);
      // A waiter that began waiting earlier (its place in line) and needs both resources: in four processes
      // locking subsets of resources it joins the line late, behind its own process's waiters.
      const earlier = new Redlock(lockers, { ...settings, clock: { ...systemClock, wallNow: () => Date.now() - 10_000 } });
      try {
        // The single-resource waiter gets `key` on instances 1 and 2 and keeps it there, in line.
        const waiting = single.acquire(key, 2_000, { acquireTimeout: 10_000 });
        // Settled below; should the test fail first, the close in finally rejects it: not an unhandled rejection.
        waiting.catch(() => undefined);
        await new Promise((resolve) => setTimeout(resolve, 300));
        expect((await valuesOf(clients, key)).slice(0, 2).every((value) => value !== null && value !== 'stuck')).toBe(true);
        // The earlier waiter stands first in every line; once 3 and 4 are free it needs 1 and 2 back. Before, each
        // held two of the four voting instances until `stuck` expired (30 s): neither got the lock.
        const started = performance.now();
        const both = await earlier.acquire([key, other], 2_000, { acquireTimeout: 8_000 });
        expect(performance.now() - started).toBeLessThan(5_000);
        // acquire() returns once a majority granted: the fourth grant may still be on its way.
        expect(await settledValues(clients, key, [both.value, both.value, both.value, both.value, 'stuck'])).toEqual([both.value, both.value, both.value, both.value, 'stuck']);
        // The single-resource waiter never held the lock meanwhile, and gets it after the release.
        let singleSettled = false;
        void waiting.then(() => (singleSettled = true), () => (singleSettled = true));
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(singleSettled).toBe(false);
        await both.release();
        const lock = await waiting;
        expect(lock.remaining()).toBeGreaterThan(0);
        await lock.release();
      } finally {
        await clients[4]!.del(key);
        await Promise.all([single.close(), earlier.close()]);
      }
    }, 30_000);

    it('takes a waiter that gave up out of the line', async () => {
      const key = resource('line-leave');
      const holder = await redlock.acquire(key, 10_000);
      const impatient = new Redlock(lockers, { restartGuard: false, requestTimeout: 300, backoff: exponentialBackoff({ initial: 50, max: 50 }) });
      try {
        const error = await impatient.acquire(key, 1_000, { acquireTimeout: 400 }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(LockNotAcquiredError);
        const [line] = queueKeys(key);
        // Sooner than its place could lapse (kept at least 1 s after its last attempt): it left.
        await eventually(async () => (await Promise.all(clients.map((client) => client.zcard(line)))).every((n) => n === 0), 'the line empty', 500);
        // The release then reserves the key for nobody: the next acquirer gets it at once.
        await holder.release();
        const next = await redlock.acquire(key, 1_000, { retryCount: 0 });
        await next.release();
      } finally {
        await impatient.close();
      }
    });

    it('counts one release announced by all five instances once: a waiter that lost the race waits for the next release', async () => {
      const adapters = lockers.map((client, i) => scriptClientOf(client, i)!);
      const notifier = new ReleaseNotifier(adapters, 3, 'x-redlock:released:hand-over:test');
      const channel = `x-redlock:released:${resource('announce')}`;
      const listener = await notifier.listen([channel], 'waiter-1');
      try {
        // Fewer announcements than a majority wake nobody: the release may not have reached the others yet.
        await Promise.all(clients.slice(0, 2).map((client) => client.publish(channel, 'value-0')));
        expect(await listener.next(200)).toBe(false);
        // A release that reserved the key for another process's waiter wakes this first waiter only to take its
        // place in the line (it was not there yet); once there, such a release wakes nobody here.
        expect(listener.calledToLine()).toBe(false);
        await Promise.all(clients.map((client) => client.publish(channel, 'value-00 someone-else')));
        expect(await listener.next(1_000)).toBe(true);
        expect(listener.calledToLine()).toBe(true);
        listener.joinedLine();
        await Promise.all(clients.map((client) => client.publish(channel, 'value-01 someone-else')));
        expect(await listener.next(200)).toBe(false);
        // What the release script does on each instance: one release, five announcements carrying its value.
        await Promise.all(clients.map((client) => client.publish(channel, 'value-1')));
        expect(await listener.next(1_000)).toBe(true);
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The other four announcements of that release must not send the waiter at the lock again.
        expect(await listener.next(150)).toBe(false);
        await Promise.all(clients.map((client) => client.publish(channel, 'value-2')));
        expect(await listener.next(1_000)).toBe(true);
        // Reserved for this waiter: it wakes.
        await Promise.all(clients.map((client) => client.publish(channel, 'value-3 waiter-1')));
        expect(await listener.next(1_000)).toBe(true);
      } finally {
        await listener.close();
        await notifier.close();
        adapters.forEach((adapter) => adapter.detach());
      }
    });

    it('takes a release reserved for a waiter of this process that is gone as nobody else\'s', async () => {
      const adapters = lockers.map((client, i) => scriptClientOf(client, i)!);
      const notifier = new ReleaseNotifier(adapters, 3, 'x-redlock:released:hand-over:test');
      const channel = `x-redlock:released:${resource('gone')}`;
      const first = await notifier.listen([channel], 'waiter-a');
      const second = await notifier.listen([channel], 'waiter-b');
      try {
        await first.close();
        // Named after it got the lock (or gave up): not another process's waiter, so the next one stays asleep.
        await Promise.all(clients.map((client) => client.publish(channel, 'value-1 waiter-a')));
        expect(await second.next(200)).toBe(false);
        expect(second.calledToLine()).toBe(false);
        await Promise.all(clients.map((client) => client.publish(channel, 'value-2 waiter-z')));
        expect(await second.next(1_000)).toBe(true);
        expect(second.calledToLine()).toBe(true);
      } finally {
        await second.close();
        await notifier.close();
        adapters.forEach((adapter) => adapter.detach());
      }
    });

    it('hands the lock to the waiter first in line in the release itself: no acquire round, nearly its whole TTL', async () => {
      const key = resource('hand-over');
      const [line] = queueKeys(key);
      // Counting the acquire scripts sent on these clients (ioredis: evalsha/eval; node-redis: sendCommand).
      let acquires = 0;
      const isAcquire = (script: unknown): boolean => script === ACQUIRE.sha || script === ACQUIRE.source;
      const restore = lockers.map((client) => {
        const target = client as unknown as Record<string, (...args: unknown[]) => unknown>;
        const names = ['evalsha', 'eval', 'sendCommand'].filter((name) => typeof target[name] === 'function');
        const originals = names.map((name) => [name, target[name]!] as const);
        for (const [name, original] of originals) {
          target[name] = (...args: unknown[]) => {
            const script = name === 'sendCommand' ? (args[0] as unknown[])[1] : args[0];
            if (isAcquire(script)) acquires++;
            return original.apply(client, args);
          };
        }
        return () => originals.forEach(([name, original]) => (target[name] = original));
      });
      const options = { restartGuard: false, requestTimeout: 300, retryCount: 1_000, backoff: exponentialBackoff({ initial: 3_000, max: 3_000 }) };
      const holderSide = new Redlock(lockers, options);
      const waiterSide = new Redlock(lockers, options);
      try {
        const held = await holderSide.acquire(key, 10_000);
        const waiting = waiterSide.acquire(key, 2_000);
        await eventually(async () => Math.min(...(await Promise.all(clients.map((client) => client.zcard(line))))) === 1, 'the waiter in line', 2_000);
        await new Promise((resolve) => setTimeout(resolve, 400));
        const asked = acquires;
        // The count sees this client's scripts (the waiter's attempts so far), or the check below would prove nothing.
        expect(asked).toBeGreaterThan(0);
        const released = performance.now();
        await held.release();
        const lock = await waiting;
        // No acquire round after the release: the release gave the lock itself.
        expect(acquires).toBe(asked);
        // Valid for about the TTL from the release (its wait in line, over 400 ms, counts only through the 1 %
        // drift allowance: about 5 ms) and never past any instance's key.
        const remaining = lock.remaining();
        expect(remaining).toBeGreaterThan(2_000 - (performance.now() - released) - 60);
        const ttls = await Promise.all(clients.map((client) => client.pttl(key)));
        for (const ttl of ttls) expect(ttl).toBeGreaterThanOrEqual(lock.remaining());
        expect(await settledValues(clients, key, Array(5).fill(lock.value))).toEqual(Array(5).fill(lock.value));
        expect(lock.fencingToken).toBeGreaterThan(held.fencingToken!);
        await eventually(async () => (await Promise.all(clients.map((client) => client.exists(...queueKeys(key))))).every((n) => n === 0), 'no line left', 2_000);
        await lock.release();
      } finally {
        await Promise.all([holderSide.close(), waiterSide.close()]);
        restore.forEach((undo) => undo());
      }
    });

    it('lets nobody else take a handed-over lock before its validity ends, the keys living at least as long', async () => {
      const key = resource('hand-over-validity');
      const [line] = queueKeys(key);
      const slow = (): Redlock => new Redlock(lockers, { restartGuard: false, requestTimeout: 300, retryCount: 1_000, backoff: exponentialBackoff({ initial: 3_000, max: 3_000 }) });
      const [holderSide, waiterSide] = [slow(), slow()];
      const eager = new Redlock(lockers, { restartGuard: false, requestTimeout: 300, retryCount: 10_000, backoff: exponentialBackoff({ initial: 5, max: 5 }) });
      try {
        const held = await holderSide.acquire(key, 10_000);
        const waiting = waiterSide.acquire(key, 1_000);
        await eventually(async () => Math.min(...(await Promise.all(clients.map((client) => client.zcard(line))))) === 1, 'the waiter in line', 2_000);
        // Its attempt ages: a validity counted from the hand-over instead of from it would outlast the keys.
        await new Promise((resolve) => setTimeout(resolve, 400));
        await held.release();
        const lock = await waiting;
        const validUntil = performance.now() + lock.remaining();
        // Never released: the next owner must not get in before the handed-over lock's validity is over.
        const next = await eager.acquire(key, 1_000);
        expect(performance.now()).toBeGreaterThanOrEqual(validUntil);
        await next.release();
      } finally {
        await Promise.all([holderSide.close(), waiterSide.close(), eager.close()]);
      }
    });

    it('does not hand the lock to a waiter whose process was killed in line: the next one gets it within a reservation', async () => {
      const key = resource('killed-waiter');
      const [line] = queueKeys(key);
      const inLine = async (): Promise<number> => Math.min(...(await Promise.all(clients.map((client) => client.zcard(line)))));
      const holderSide = new Redlock(lockers, { restartGuard: false, requestTimeout: 300 });
      const nextSide = new Redlock(lockers, { restartGuard: false, requestTimeout: 300, retryCount: 1_000, backoff: exponentialBackoff({ initial: 50, max: 50 }) });
      const child = spawnTsProcess(join(__dirname, 'processes/waiter.ts'), { RESOURCE: key, TTL: '8000' });
      try {
        const held = await holderSide.acquire(key, 10_000);
        await eventually(async () => (await inLine()) === 1, "the child's waiter in line", 10_000);
        const next = nextSide.acquire(key, 8_000);
        await eventually(async () => (await inLine()) === 2, 'the next waiter in line behind it', 2_000);
        const handOverChannels = async (): Promise<number[]> =>
          Promise.all(clients.map(async (client) => ((await client.pubsub('CHANNELS', 'x-redlock:released:hand-over:*')) as string[]).length));
        const listening = await handOverChannels();
        child.kill('SIGKILL');
        await exited(child);
        // Its subscriber connections close with it: no listener on its channel, so the release only reserves the
        // key for it (handed the lock, it would hold the others up for most of its 8 s TTL).
        await eventually(async () => (await handOverChannels()).every((n, i) => n === listening[i]! - 1), "the servers saw the child's channel go", 2_000);
        const released = performance.now();
        await held.release();
        const lock = await next;
        expect(performance.now() - released).toBeLessThan(2_000);
        await lock.release();
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await Promise.all([holderSide.close(), nextSide.close()]);
      }
    });

    it("sends a process's next waiter into the line as soon as the one ahead of it got the lock", async () => {
      const key = resource('next-in-line');
      const [line] = queueKeys(key);
      // Three processes' Redlocks, with retry delays long enough that no waiter joins the line on its own timer.
      const patient = (): Redlock => new Redlock(lockers, { restartGuard: false, requestTimeout: 300, retryCount: 1_000, backoff: exponentialBackoff({ initial: 3_000, max: 3_000 }) });
      const [p, q, r] = [patient(), patient(), patient()];
      const inLine = async (): Promise<number> => Math.min(...(await Promise.all(clients.map((client) => client.zcard(line)))));
      const order: string[] = [];
      const turn = async (locker: Redlock, name: string): Promise<void> => {
        const lock = await locker.acquire(key, 10_000);
        order.push(name);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await lock.release();
      };
      try {
        const held = await q.acquire(key, 10_000);
        const p1 = turn(p, 'p1');
        await eventually(async () => (await inLine()) === 1, 'p1 in line', 2_000);
        const p2 = turn(p, 'p2');
        await new Promise((resolve) => setTimeout(resolve, 20));
        const r1 = turn(r, 'r1');
        await eventually(async () => (await inLine()) === 2, 'p1 and r1 in line', 2_000);
        const released = performance.now();
        await held.release();
        // p1 got it; p2, which waited behind it in its process (not in Redis's line), takes its place there at
        // once rather than after its 3 s retry delay: before r1, which began waiting after it.
        await eventually(async () => order.length === 1 && (await inLine()) === 2, 'p2 in line beside r1 while p1 holds', 1_000);
        await Promise.all([p1, p2, r1]);
        expect(order).toEqual(['p1', 'p2', 'r1']);
        expect(performance.now() - released).toBeLessThan(1_500);
        await eventually(async () => (await inLine()) === 0, 'the line empty', 2_000);
      } finally {
        await Promise.all([p.close(), q.close(), r.close()]);
      }
    });

    it("hands the lock to this process's waiters in turn: a holder that asks again goes to the back of the line", async () => {
      const key = resource('turns');
      // Long retry delays: each turn must come from a release, not from a waiter's own timer.
      const patient = new Redlock(lockers, { restartGuard: false, retryCount: 1_000, backoff: exponentialBackoff({ initial: 3_000, max: 3_000 }) });
      const order: string[] = [];
      const turn = async (name: string): Promise<void> => {
        const lock = await patient.acquire(key, 10_000);
        order.push(name);
        await new Promise((resolve) => setTimeout(resolve, 20));
        await lock.release();
      };
      const first = await patient.acquire(key, 10_000);
      const b = turn('b');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const c = turn('c');
      await new Promise((resolve) => setTimeout(resolve, 50));
      const started = performance.now();
      await first.release();
      // The holder asks again at once: it knows of its release before anyone, yet b and c were waiting first.
      const again = turn('a');
      await Promise.all([b, c, again]);
      expect(order).toEqual(['b', 'c', 'a']);
      expect(performance.now() - started).toBeLessThan(2_000);
      await patient.close();
    });

    it('gives up when the signal aborts or acquireTimeout passes', async () => {
      const key = resource('abort');
      const holder = await redlock.acquire(key, 10_000);
      const controller = new AbortController();
      const aborted = redlock.acquire(key, 1_000, { signal: controller.signal, retryCount: 1_000 });
      setTimeout(() => controller.abort(), 50);
      const error: unknown = await aborted.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockNotAcquiredError);
      expect(isXError((error as Error).cause, 'ERR_ABORTED')).toBe(true);

      const timedOut: unknown = await redlock.acquire(key, 1_000, { acquireTimeout: 100, retryCount: 1_000 }).catch((e: unknown) => e);
      expect(isXError((timedOut as Error).cause, 'ERR_TIMEOUT')).toBe(true);
      await holder.release();
    });
  });

  describe('using', () => {
    it('keeps the result of a routine that released the lock itself: nothing was lost', async () => {
      let aborted = false;
      const result = await redlock.using(resource('using-released'), 200, async (signal, lock) => {
        await lock.release();
        // Past the TTL, where an extension (of a released lock) and the validity's end would have said "lost".
        await new Promise((resolve) => setTimeout(resolve, 400));
        aborted = signal.aborted;
        return 'done';
      });
      expect([result, aborted]).toEqual(['done', false]);
    });

    it('runs the routine under the lock, extends it past its TTL and releases it after', async () => {
      const key = resource('using');
      const result = await redlock.using(key, 200, async (signal, lock) => {
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(signal.aborted).toBe(false);
        expect(await settledValues(clients, key, Array(5).fill(lock.value))).toEqual(Array(5).fill(lock.value));
        return 'done';
      });
      expect(result).toBe('done');
      expect(await settledValues(clients, key, Array(5).fill(null))).toEqual(Array(5).fill(null));
    });

    it('aborts the routine with LockLostError when the lock is taken away, before it expires', async () => {
      const key = resource('using-lost');
      let abortedWith: unknown;
      const outcome = redlock.using(key, 300, async (signal) => {
        await Promise.all(clients.map((client) => client.del(key)));
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
        abortedWith = signal.reason;
      });
      await expect(outcome).rejects.toBeInstanceOf(LockLostError);
      expect(abortedWith).toBeInstanceOf(LockLostError);
    });

    it("never lets a release problem or a lost lock hide the routine's own error", async () => {
      const key = resource('using-error');
      const failure = new Error('routine failed');
      await expect(
        redlock.using(key, 300, async () => {
          await Promise.all(clients.map((client) => client.del(key)));
          throw failure;
        }),
      ).rejects.toBe(failure);
    });
  });

  describe('the clients stay the caller\'s', () => {
    it('a release on clients the caller closed says why it did not release: each instance unreachable, the lock not expired', async () => {
      const own = await lockClients(kind === 'ioredis' ? 'ioredis 6' : kind, clients);
      const mine = new Redlock(own.clients, { restartGuard: false });
      const lock = await mine.acquire(resource('after-quit'), 5_000);
      await own.close();
      const result = await lock.release();
      expect(result).toMatchObject({ deleted: 0, released: false, expired: false });
      expect(result.failures).toHaveLength(clients.length);
      for (const failure of result.failures) expect(failure.reason).toMatch(/^(unavailable|error)$/);
      await mine.close();
    });

    it('leaves no listener on them once closed, however many Redlocks were made over them', async () => {
      const listeners = (): number[] => lockers.map((client) => (client as unknown as { listenerCount(event: string): number }).listenerCount('ready'));
      const before = listeners();
      for (let i = 0; i < 20; i++) {
        const made = new Redlock(lockers, { restartGuard: false });
        await (await made.acquire(resource('listeners'), 1_000)).release();
        await made.close();
      }
      expect(listeners()).toEqual(before);
    });

    it('puts one listener on them however many Redlocks share them at once (no MaxListenersExceededWarning)', async () => {
      const listeners = (): number[] => lockers.map((client) => (client as unknown as { listenerCount(event: string): number }).listenerCount('ready'));
      const before = listeners();
      const warnings: Error[] = [];
      const onWarning = (warning: Error): number => warnings.push(warning);
      process.on('warning', onWarning);
      const made = Array.from({ length: 12 }, () => new Redlock(lockers, { restartGuard: false }));
      try {
        await Promise.all(made.map(async (each, i) => (await each.acquire(resource(`shared-${i}`), 1_000)).release()));
        // The suite's own Redlock is one of them already: at most one listener more, whatever the count.
        for (const [i, count] of listeners().entries()) expect(count).toBeLessThanOrEqual(Math.max(before[i]!, 1));
        await new Promise((resolve) => setImmediate(resolve));
        expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
      } finally {
        process.off('warning', onWarning);
        await Promise.all(made.map((each) => each.close()));
      }
      expect(listeners()).toEqual(before);
    });
  });

  describe('bad input', () => {
    it.each([
      [() => new Redlock([]), 'clients'],
      [() => new Redlock([{} as Redis]), 'clients[0]'],
      [() => new Redlock([{ evalsha: () => 1 } as unknown as Redis], { retryCont: 3 } as never), 'options.retryCont'],
      [() => new Redlock([{ evalsha: () => 1 } as unknown as Redis], { driftFactor: 2 }), 'options.driftFactor'],
      [() => new Redlock(lockers, null as never), 'options'],
      [() => new Redlock(lockers, 'fast' as never), 'options'],
      [() => new Redlock(lockers, { backoff: 5 as never }), 'options.backoff.delay'],
      [() => new Redlock(lockers, { backoff: {} as never }), 'options.backoff.delay'],
      [() => new Redlock(lockers, { clock: {} as never }), 'options.clock.now'],
      [() => new Redlock(lockers, { fencing: 'no' as never }), 'options.fencing'],
      [() => new Redlock(lockers, { restartGuard: 'false' as never }), 'options.restartGuard'],
    ])('rejects a bad constructor call (%#)', (make, argument) => {
      expect(make).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument }));
    });

    it.each([
      [[], 1_000, 'resources'],
      [[''], 1_000, 'resources[0]'],
      [['ok', 'lock\uD800'], 1_000, 'resources[1]'],
      [['a', 'a'], 1_000, 'resources'],
      [42, 1_000, 'resources'],
      ['a', 0, 'ttl'],
      ['a', 1.5, 'ttl'],
      ['a', NaN, 'ttl'],
      ['a', 60_001, 'ttl'],
      // No validity left after the drift allowance (2 ms + 1 %): no attempt could ever succeed.
      ['a', 2, 'ttl'],
      ['x'.repeat(65_537), 1_000, 'resources[0]'],
      [Array.from({ length: 1_025 }, (_, i) => `{r}${i}`), 1_000, 'resources'],
    ])('rejects acquire(%#) before touching Redis', async (resources, ttl, argument) => {
      await expect(redlock.acquire(resources as string[], ttl)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument });
    });

    it('refuses one server counted as several votes: the same client twice, or two clients of one host and port', () => {
      expect(() => new Redlock([lockers[0]!, lockers[1]!, lockers[0]!])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'clients[2]' }));
      const twin = clients[1]!.duplicate();
      try {
        expect(() => new Redlock([clients[0]!, clients[1]!, twin])).toThrow(/a server of its own \(clients\[1\] is the same one\)/);
      } finally {
        twin.disconnect();
      }
    });

    it('refuses two clients of one server however they name it: node-redis without a host, by URL, localhost and 127.0.0.1', async () => {
      const port = clients[0]!.options.port!;
      const made = await Promise.all(
        [{ socket: { port } }, { url: `redis://localhost:${port}` }, { socket: { host: '127.0.0.1', port: clients[1]!.options.port! } }].map(async (options) => {
          const client = createClient(options);
          client.on('error', () => undefined);
          await client.connect();
          return client;
        }),
      );
      try {
        expect(() => new Redlock(made as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', argument: 'clients[1]' }));
        // node-redis beside ioredis, 127.0.0.1 beside localhost.
        expect(() => new Redlock([clients[0]!, made[2]!, made[0]!] as never)).toThrow(expect.objectContaining({ argument: 'clients[2]' }));
        const other = new Redlock([made[0]!, made[2]!] as never);
        await other.close();
      } finally {
        await Promise.all(made.map((client) => client.close().catch(() => undefined)));
      }
    });

    it('takes a TTL of 3 ms, the shortest with validity left, and names the validity when it ran out', async () => {
      const error = await redlock.acquire(resource('tiny'), 3, { retryCount: 0 }).catch((e: unknown) => e);
      // On a machine where a round takes under a millisecond it may even be granted; otherwise the reason is the
      // validity, not instances that did not answer.
      if (error instanceof LockNotAcquiredError) expect((error.cause as Error).message).toMatch(/granted|validity ran out|timeout/);
      else expect((error as { release(): Promise<unknown> }).release).toBeInstanceOf(Function);
    });

    it('refuses to acquire after close()', async () => {
      const closing = new Redlock(lockers, { restartGuard: false });
      await closing.close();
      await expect(closing.acquire(resource('closed'), 100)).rejects.toMatchObject({ code: 'ERR_CLOSED' });
    });

    it('rejects unknown acquire options and a non-function routine', async () => {
      await expect(redlock.acquire('a', 100, { retries: 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(redlock.acquire('a', 100, null as never)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'options' });
      await expect(redlock.acquire('a', 100, { signal: 'x' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'options.signal' });
      await expect(redlock.using('a', 100, 'nope' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    });
  });
});
