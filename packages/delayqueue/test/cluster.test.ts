/**
 * The whole contract on a real three-master Redis Cluster: every script declares its keys and all keys of a
 * queue share one hash tag, so nothing here may fail with CROSSSLOT. Queues with different names land on
 * different masters.
 */
import type { Cluster } from 'ioredis';
import { requireRedisCluster, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RedisBackend } from '../src/redis/index.js';
import { conformance, eventually } from './conformance.js';

let cluster: Cluster;
const names: string[] = [];

beforeAll(async () => {
  cluster = await requireRedisCluster();
});
afterAll(async () => {
  cluster.disconnect();
});

function backend(buckets = 1): RedisBackend {
  const name = uniqueName('dq');
  names.push(name);
  return new RedisBackend({ redis: cluster, name, buckets });
}

conformance('redis cluster', { create: async () => backend(3) });

describe('redis cluster specifics', () => {
  it('spreads queues over the masters and runs each end to end', async () => {
    const queues = Array.from({ length: 6 }, () => new DelayQueue({ backend: backend() }));
    const seen = queues.map(() => [] as unknown[]);
    queues.forEach((queue, i) => queue.process('t', (job) => void seen[i]!.push(job.payload), { concurrency: 2 }));
    await Promise.all(queues.map((queue, i) => queue.addBulk(Array.from({ length: 20 }, (_, k) => ({ topic: 't', payload: `${i}:${k}`, options: { delay: k * 3 } })))));
    await eventually(() => seen.every((s) => s.length === 20), 'every queue to deliver its 20 jobs');
    const masters = new Set(names.slice(-6).map((name) => cluster.slots[clusterSlot(`{${name}}`)]?.[0]));
    expect(masters.size).toBeGreaterThan(1);
    await Promise.all(queues.map((q) => q.close()));
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
