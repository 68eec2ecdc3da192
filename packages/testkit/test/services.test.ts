import { createServer, type AddressInfo } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';
import type { Redis } from 'ioredis';
import {
  ServiceUnavailableError,
  createKafkaTopics,
  kafkaBrokers,
  redisEndpoint,
  redisMasters,
  requireKafka,
  requireRedis,
  uniqueName,
} from '../src/index.js';

// Proves the test services are real servers: every Redis answers INFO as its own process, and Kafka takes a
// produce and serves it back through a consumer group with a committed offset.
describe('test services', () => {
  it('runs six independent Redis servers', async () => {
    const endpoints = [redisEndpoint(), ...redisMasters()];
    expect(endpoints).toHaveLength(6);
    const clients: Redis[] = [];
    try {
      for (const endpoint of endpoints) clients.push(await requireRedis(endpoint));
      const infos = await Promise.all(clients.map((client) => client.info('server')));
      const field = (info: string, name: string): string => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
      infos.forEach((info, i) => {
        expect(field(info, 'redis_version')).toMatch(/^\d+\.\d+/);
        expect(Number(field(info, 'tcp_port'))).toBe(endpoints[i]!.port);
      });
      // Independent: distinct run ids, and a key written to one master is absent from the others.
      expect(new Set(infos.map((info) => field(info, 'run_id'))).size).toBe(6);
      const key = uniqueName('x:smoke');
      await clients[1]!.set(key, 'only-here', 'PX', 10_000);
      const seen = await Promise.all(clients.map((client) => client.get(key)));
      expect(seen.filter((value) => value === 'only-here')).toHaveLength(1);
      await clients[1]!.del(key);
    } finally {
      await Promise.all(clients.map((client) => client.quit()));
    }
  });

  it('runs a Kafka broker that serves a produce back through a consumer group', async () => {
    const admin = await requireKafka();
    const topic = uniqueName('x-smoke');
    const groupId = uniqueName('x-smoke-group');
    const kafka = new Kafka({ clientId: 'x-smoke', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
    try {
      await createKafkaTopics(admin, [{ topic, numPartitions: 2 }]);
      await producer.connect();
      const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i % 4}`, value: `v${i}` }));
      await producer.send({ topic, acks: -1, messages });

      await consumer.connect();
      await consumer.subscribe({ topic, fromBeginning: true });
      const received: string[] = [];
      await new Promise<void>((resolve, reject) => {
        consumer
          .run({
            eachMessage: async ({ message }) => {
              received.push(message.value!.toString());
              if (received.length === messages.length) resolve();
            },
          })
          .catch(reject);
      });
      expect(received.sort()).toEqual(messages.map((m) => m.value).sort());
      await consumer.stop();

      // The group committed what it consumed: the broker's offsets add up to everything produced.
      const committed = await admin.fetchOffsets({ groupId, topics: [topic] });
      const total = committed[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0);
      expect(total).toBe(messages.length);
    } finally {
      await consumer.disconnect();
      await producer.disconnect();
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('fails with instructions, not silently, when a server is missing', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));

    const redis = requireRedis({ host: '127.0.0.1', port }, 500);
    await expect(redis).rejects.toBeInstanceOf(ServiceUnavailableError);
    await expect(redis).rejects.toThrow(/npm run services -- up/);
    await expect(requireKafka([`127.0.0.1:${port}`], 500)).rejects.toThrow(/Kafka at 127\.0\.0\.1:\d+ is not reachable/);
  });

  it('makes unique names and parses endpoints from the environment', () => {
    expect(uniqueName('t')).not.toBe(uniqueName('t'));
    const saved = process.env.X_REDIS_MASTERS;
    process.env.X_REDIS_MASTERS = '10.0.0.1:1,[::1]:2';
    try {
      expect(redisMasters()).toEqual([{ host: '10.0.0.1', port: 1 }, { host: '::1', port: 2 }]);
      process.env.X_REDIS_MASTERS = 'nonsense';
      expect(() => redisMasters()).toThrow(/cannot parse endpoint/);
    } finally {
      if (saved === undefined) delete process.env.X_REDIS_MASTERS;
      else process.env.X_REDIS_MASTERS = saved;
    }
  });
});
