/**
 * The whole contract on a real three-master Redis Cluster: every script declares its keys and all keys of a
 * queue share one hash tag, so nothing here may fail with CROSSSLOT. Queues with different names land on
 * different masters.
 */
import type { Cluster } from 'ioredis';
import { Cluster as Cluster6 } from 'ioredis6';
import { redisClusterNodes, requireRedisCluster, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RedisBackend } from '../src/redis/index.js';
import { conformance, eventually } from './conformance.js';

let cluster: Cluster;
// The same cluster through the peer's current major (the range is ^5.4 || ^6).
let cluster6: Cluster6;
const names: string[] = [];

beforeAll(async () => {
  cluster = await requireRedisCluster();
  cluster6 = new Cluster6(redisClusterNodes());
});
afterAll(async () => {
  cluster.disconnect();
  cluster6.disconnect();
});

function backend(buckets = 1, name = uniqueName('dq')): RedisBackend {
  names.push(name);
  return new RedisBackend({ redis: cluster, name, buckets });
}

/** The master that serves queue `name`'s hash tag. */
function masterOf(name: string): string | undefined {
  return cluster.slots[clusterSlot(`{${name}}`)]?.[0];
}

/** `perMaster` queue names on each master (random names would all land on one master once in ~250 runs). */
function namesOnEveryMaster(perMaster: number): string[] {
  const masters = new Set(cluster.slots.map((nodes) => nodes[0]));
  const chosen = new Map<string | undefined, string[]>();
  while ([...masters].some((master) => (chosen.get(master)?.length ?? 0) < perMaster)) {
    const name = uniqueName('dq');
    const list = chosen.get(masterOf(name)) ?? [];
    if (list.length < perMaster) chosen.set(masterOf(name), [...list, name]);
  }
  return [...chosen.values()].flat();
}

conformance('redis cluster', { create: async () => backend(3) });
conformance('redis cluster on ioredis 6', {
  create: async () => {
    const name = uniqueName('dq');
    names.push(name);
    // Our types come from whichever ioredis the user installed; with both here, 6's class is not 5's to tsc.
    return new RedisBackend({ redis: cluster6 as unknown as Cluster, name, buckets: 3 });
  },
});

describe('redis cluster specifics', () => {
  it('spreads queues over the masters and runs each end to end', async () => {
    const spread = namesOnEveryMaster(2);
    expect(new Set(spread.map(masterOf)).size).toBe(3);
    const queues = spread.map((name) => new DelayQueue({ backend: backend(1, name) }));
    const seen = queues.map(() => [] as unknown[]);
    queues.forEach((queue, i) => queue.process('t', (job) => void seen[i]!.push(job.payload), { concurrency: 2 }));
    await Promise.all(queues.map((queue, i) => queue.addBulk(Array.from({ length: 20 }, (_, k) => ({ topic: 't', payload: `${i}:${k}`, options: { delay: k * 3 } })))));
    await eventually(() => seen.every((s) => s.length === 20), 'every queue to deliver its 20 jobs');
    queues.forEach((_, i) => expect(seen[i]!.map(String).sort()).toEqual(Array.from({ length: 20 }, (_, k) => `${i}:${k}`).sort()));
    await Promise.all(queues.map((q) => q.close()));
  });

  // A consumer's movers hear of other writers' due times through pub/sub; what was published before its
  // subscription took effect must not wait for the rescan (60 s here). On ioredis 6's Cluster that window is
  // long enough to hit at once: the first tick came 10 s late.
  it('a consumer that starts as jobs are put hears of them: the first tick and another process’s add come on time', async () => {
    const name = uniqueName('dq');
    names.push(name);
    const consumer = new DelayQueue({ backend: new RedisBackend({ redis: cluster6 as unknown as Cluster, name, buckets: 3, rescanMs: 60_000 }) });
    const producer = new DelayQueue({ backend: new RedisBackend({ redis: cluster, name, buckets: 3, rescanMs: 60_000 }) });
    const seen: { id: string; late: number }[] = [];
    consumer.process('t', (job) => void seen.push({ id: job.id, late: Date.now() - job.dueAt }));
    await Promise.all([consumer.schedule('t', 'every-100', { everyMs: 100 }), producer.add('t', 'other', { delay: 50, id: 'from-another-process' })]);
    await eventually(() => seen.length >= 3 && seen.some(({ id }) => id === 'from-another-process'), 'the first ticks and the other process’s job');
    for (const { id, late } of seen) expect({ id, late: Math.min(late, 1_000) }).toEqual({ id, late });
    await consumer.unschedule('every-100');
    await Promise.all([consumer.close(), producer.close()]);
  });

  it('destroy() unlinks every key of every queue used here, on whichever master holds it', async () => {
    const queue = new DelayQueue({ backend: backend() });
    await queue.addBulk(Array.from({ length: 100 }, (_, i) => ({ topic: 'd', payload: i, options: { delay: 60_000 } })));
    await queue.close();
    for (const name of names) {
      const destroyer = new RedisBackend({ redis: cluster, name });
      await destroyer.destroy();
      await destroyer.close();
    }
    for (const node of cluster.nodes('master')) {
      for (const name of names) expect(await node.keys(`{${name}}*`)).toEqual([]);
    }
  });
});

/** CRC16/XMODEM of the hash tag, mod 16384: the slot Redis Cluster assigns. */
function clusterSlot(key: string): number {
  const tag = /\{([^}]+)\}/.exec(key)?.[1] ?? key;
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
