/**
 * Failure tests with real processes and real servers: on Redis, a consumer SIGKILLed mid-job and a mover
 * SIGKILLed mid-batch; on RabbitMQ, a consumer SIGKILLed mid-job while jobs walk the delay levels.
 */
import { join } from 'node:path';
import type Redis from 'ioredis';
import type { ChannelModel } from 'amqplib';
import { exited, rabbitMqUrl, redisEndpoint, requireRabbitMq, requireRedis, spawnTsProcess, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RedisBackend } from '../src/redis/index.js';
import { RabbitMqBackend } from '../src/rabbitmq/index.js';
import { Kafka, Partitioners, logLevel } from 'kafkajs';
import { kafkaBrokers, requireKafka, significantStderr } from '@x/testkit';
import { KafkaBackend } from '../src/kafka/index.js';
import { KAFKA_CRASH_OPTIONS } from './fixtures/kafka-crash-options.js';
import { eventually } from './conformance.js';

const { host, port } = redisEndpoint();
const REDIS_URL = `redis://${host}:${port}`;
let redis: Redis;
let rabbit: ChannelModel;
const cleanup: string[] = [];
const rabbitQueues: string[] = [];
const children: ReturnType<typeof spawnTsProcess>[] = [];

beforeAll(async () => {
  redis = await requireRedis();
  rabbit = await requireRabbitMq();
  await (await requireKafka()).disconnect();
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  for (const pattern of cleanup) {
    const keys = await redis.keys(pattern);
    if (keys.length > 0) await redis.unlink(...keys);
  }
  redis.disconnect();
  const channel = await rabbit.createChannel();
  for (const queue of rabbitQueues) await channel.deleteQueue(queue);
  await rabbit.close();
});

function start(fixture: string, env: Record<string, string>): ReturnType<typeof spawnTsProcess> {
  const child = spawnTsProcess(join(__dirname, 'fixtures', fixture), {
    X_REDIS_URL: REDIS_URL,
    X_RABBITMQ_URL: rabbitMqUrl(),
    X_KAFKA_BROKERS: kafkaBrokers().join(','),
    ...env,
  });
  children.push(child);
  return child;
}

/**
 * SIGKILLs a consumer fixture at a moment it is running jobs (a consumer may be between reservations), and
 * returns the ids it was running: each must be delivered again.
 */
async function killWhileRunning(victim: ReturnType<typeof spawnTsProcess>, name: string): Promise<string[]> {
  const running = `${name}:running:${victim.pid}`;
  await eventually(async () => (await redis.scard(running)) >= 5, 'the victim to be running jobs');
  victim.kill('SIGKILL');
  await exited(victim);
  const held = await redis.smembers(running);
  expect(held.length).toBeGreaterThan(0);
  return held;
}

/** The survivors of a Kafka crash test still run and said nothing on stderr; then the queue's topics and groups go. */
async function survivorsQuietThenClean(survivors: ReturnType<typeof spawnTsProcess>[], producer: DelayQueue, kafka: Kafka, name: string): Promise<void> {
  for (const survivor of survivors) {
    expect(survivor.exitCode).toBeNull();
    expect(significantStderr(survivor.stderrText())).toEqual([]);
  }
  await producer.close();
  const cleaner = new KafkaBackend({ kafka, name, ...KAFKA_CRASH_OPTIONS });
  await cleaner.destroy(['work']);
  await cleaner.close();
}

describe('crashes (real processes, real servers)', () => {
  it('a consumer SIGKILLed mid-job: its jobs are delivered again after their ttr, none of 10,000 is lost', async () => {
    const name = uniqueName('dq-crash');
    cleanup.push(`{${name}}*`, `${name}:*`);
    const producer = new DelayQueue({ backend: new RedisBackend({ redis, name }), ttr: 1_500, attempts: 5 });
    const total = 10_000;
    for (let i = 0; i < total; i += 2_000) {
      await producer.addBulk(
        Array.from({ length: 2_000 }, (_, k) => ({ topic: 'work', payload: { n: i + k }, options: { id: `job-${i + k}`, delay: ((i + k) * 13) % 1_000 } })),
      );
    }
    const env = { X_QUEUE: name, X_TOPIC: 'work', X_CONCURRENCY: '20', X_HANDLER_MS: '20' };
    const victim = start('consumer-process.ts', env);
    const survivor = start('consumer-process.ts', env);
    // Killed in full flight: it has handled 1,000 jobs itself and a backlog keeps all its slots busy.
    await eventually(async () => Number(await redis.hget(`${name}:by-pid`, String(victim.pid))) >= 1_000, 'the victim to handle 1,000 jobs', 60_000);
    expect(await redis.llen(`{${name}}:t:work:ready`)).toBeGreaterThan(1_000);
    const held = await killWhileRunning(victim, name);
    await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === total, `all ${total} jobs handled`, 90_000);
    await eventually(async () => (await redis.hlen(`{${name}}:jobs`)) === 0, 'the pool to empty (every job acked)', 30_000);

    const counts = Object.values(await redis.hgetall(`${name}:deliveries`)).map(Number);
    expect(counts).toHaveLength(total);
    expect(counts.every((c) => c >= 1)).toBe(true);
    // Duplicates come only from jobs the victim had finished but not yet acked: at most its concurrency.
    const duplicates = counts.reduce((sum, c) => sum + c - 1, 0);
    expect(duplicates).toBeLessThanOrEqual(20);
    // The jobs the victim was running came back as second deliveries, through the ttr, not through luck.
    for (const id of held) expect({ id, again: await redis.hexists(`${name}:attempt-2`, id) }).toEqual({ id, again: 1 });
    expect(await producer.dead('work')).toEqual([]);
    expect(survivor.exitCode).toBeNull();
    expect(survivor.stderrText()).toBe('');
    await producer.close();
  }, 180_000);

  it('a mover SIGKILLed mid-batch while two others move too: no job lost, none moved twice', async () => {
    const name = uniqueName('dq-move');
    cleanup.push(`{${name}}*`);
    const queue = new DelayQueue({ backend: new RedisBackend({ redis, name }) });
    const total = 60_000;
    for (let i = 0; i < total; i += 5_000) {
      await queue.addBulk(Array.from({ length: 5_000 }, (_, k) => ({ topic: 'm', payload: i + k, options: { id: `j${i + k}` } })));
    }
    const env = { X_QUEUE: name, X_TOPIC: 'm', X_MOVE_BATCH: '200' };
    const victim = start('mover-process.ts', env);
    const others = [start('mover-process.ts', env), start('mover-process.ts', env)];
    const ready = `{${name}}:t:m:ready`;
    await eventually(async () => (await redis.llen(ready)) >= 10_000, '10,000 jobs moved', 60_000);
    victim.kill('SIGKILL');
    await exited(victim);
    expect(await redis.llen(ready)).toBeLessThan(total);
    await eventually(async () => (await redis.zcard(`{${name}}:t:m:delayed:0`)) === 0, 'every bucket emptied', 60_000);

    const ids = await redis.lrange(ready, 0, -1);
    expect(ids).toHaveLength(total);
    expect(new Set(ids).size).toBe(total);
    expect(await redis.hlen(`{${name}}:ready-at`)).toBe(total);
    expect(await redis.hlen(`{${name}}:jobs`)).toBe(total);
    for (const other of others) expect(other.stderrText()).toBe('');
    await queue.close();
  }, 120_000);

  it('rabbitmq: a consumer SIGKILLed mid-job: the broker hands its unacked jobs to the survivor, none of 10,000 is lost', async () => {
    const name = uniqueName('dq-crash');
    cleanup.push(`${name}:*`);
    const backend = new RabbitMqBackend({ connection: rabbit, name });
    rabbitQueues.push(backend.topology.readyQueue('work'), backend.topology.deadQueue('work'));
    const producer = new DelayQueue({ backend, attempts: 5 });
    const total = 10_000;
    // Delays up to a second: jobs are still walking the levels (up to ten hops) when the victim dies.
    for (let i = 0; i < total; i += 2_000) {
      await producer.addBulk(Array.from({ length: 2_000 }, (_, k) => ({ topic: 'work', payload: { n: i + k }, options: { delay: ((i + k) * 13) % 1_000 } })));
    }
    const env = { X_BACKEND: 'rabbitmq', X_QUEUE: name, X_TOPIC: 'work', X_CONCURRENCY: '20', X_HANDLER_MS: '20' };
    const victim = start('consumer-process.ts', env);
    const survivor = start('consumer-process.ts', env);
    await eventually(async () => Number(await redis.hget(`${name}:by-pid`, String(victim.pid))) >= 1_000, 'the victim to handle 1,000 jobs', 60_000);
    const held = await killWhileRunning(victim, name);
    expect(await redis.hlen(`${name}:deliveries`)).toBeLessThan(total);
    await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === total, `all ${total} jobs handled`, 90_000);
    const channel = await rabbit.createChannel();
    await eventually(async () => (await channel.checkQueue(backend.topology.readyQueue('work'))).messageCount === 0, 'the ready queue to empty', 30_000);
    await channel.close();

    const counts = Object.values(await redis.hgetall(`${name}:deliveries`)).map(Number);
    expect(counts).toHaveLength(total);
    // Duplicates come only from jobs the victim had finished but whose ack died with it: at most its concurrency.
    const duplicates = counts.reduce((sum, c) => sum + c - 1, 0);
    expect(duplicates).toBeLessThanOrEqual(20);
    // What the victim was running came back as second deliveries (quorum queues count them).
    for (const id of held) expect({ id, again: await redis.hexists(`${name}:attempt-2`, id) }).toEqual({ id, again: 1 });
    expect(survivor.exitCode).toBeNull();
    expect(survivor.stderrText()).toBe('');
    await producer.close();
  }, 180_000);

  // The consumers in their own processes load @platformatic/kafka on every Node line (Node's own require of an
  // ES module); the producer here is kafkajs either way. On Kafka 4's consumer protocol the broker's session
  // timeout applies (group.consumer.session.timeout.ms: 45 s by default, 10 s on the test broker): the victim's partitions
  // move after it.
  it.each([['kafkajs'], ['platformatic']])('kafka (%s consumers): a consumer and mover SIGKILLed mid-walk beside two others: its partitions go to the survivors, none of 5,000 jobs is lost', async (client) => {
    const name = uniqueName('dq-crash');
    cleanup.push(`${name}:*`);
    const kafka = new Kafka({ clientId: 'crash-producer', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const backend = new KafkaBackend({ kafka, name, ...KAFKA_CRASH_OPTIONS });
    const producer = new DelayQueue({ backend, attempts: 5 });
    const total = 5_000;
    const env = { X_BACKEND: 'kafka', X_KAFKA_CLIENT: client, X_QUEUE: name, X_TOPIC: 'work', X_CONCURRENCY: '20', X_HANDLER_MS: '20' };
    const consumers = [start('consumer-process.ts', env), start('consumer-process.ts', env), start('consumer-process.ts', env)];
    // Delays up to 3 s: jobs are walking the levels, moved by both processes, when the victim dies.
    for (let i = 0; i < total; i += 1_000) {
      await producer.addBulk(Array.from({ length: 1_000 }, (_, k) => ({ topic: 'work', payload: { n: i + k }, options: { delay: ((i + k) * 7) % 3_000 } })));
    }
    // The victim is a consumer that has been handling jobs (with four partitions and three members, the one that
    // got the fewest may have had few jobs yet on a loaded machine: waiting for one chosen in advance timed out).
    const jobsOf = async (child: ReturnType<typeof spawnTsProcess>): Promise<number> => Number(await redis.hget(`${name}:by-pid`, String(child.pid)));
    await eventually(async () => (await Promise.all(consumers.map(jobsOf))).some((n) => n >= 500), 'a consumer to handle 500 jobs', 120_000);
    const handledSoFar = await Promise.all(consumers.map(jobsOf));
    const victim = consumers[handledSoFar.indexOf(Math.max(...handledSoFar))]!;
    const survivors = consumers.filter((child) => child !== victim);
    const held = await killWhileRunning(victim, name);
    const killedAt = Date.now();
    expect(await redis.hlen(`${name}:deliveries`)).toBeLessThan(total);
    await eventually(async () => (await redis.hlen(`${name}:deliveries`)) === total, `all ${total} jobs handled`, 150_000);
    const allDoneMs = Date.now() - killedAt;

    const counts = Object.values(await redis.hgetall(`${name}:deliveries`)).map(Number);
    expect(counts).toHaveLength(total);
    // Kafka keeps no delivery count: what the victim was running is delivered again with the same attempt number.
    for (const id of held) {
      const again = { attempt1: await redis.hexists(`${name}:attempt-1`, id), attempt2: await redis.hexists(`${name}:attempt-2`, id) };
      expect({ id, ...again }).toEqual({ id, attempt1: 1, attempt2: 0 });
    }
    const duplicates = counts.reduce((sum, c) => sum + c - 1, 0);
    const handledBy = async (child: ReturnType<typeof spawnTsProcess>): Promise<Map<string, number>> =>
      new Map(Object.entries(await redis.hgetall(`${name}:handled-by:${child.pid}`)).map(([id, n]) => [id, Number(n)]));
    const [byVictim, ...bySurvivors] = await Promise.all([victim, ...survivors].map(handledBy));
    const withinSurvivor = bySurvivors.map((by) => [...by.values()].reduce((sum, n) => sum + n - 1, 0));
    const acrossSurvivors = [...bySurvivors[0]!.keys()].filter((id) => bySurvivors[1]!.has(id)).length;
    const afterVictim = [...byVictim!.keys()].filter((id) => bySurvivors.some((by) => by.has(id))).length;
    console.log(
      `kafka crash (${client}): ${total} jobs, ${duplicates} handled twice: by one survivor ${withinSurvivor.join('+')}, by both survivors ` +
        `${acrossSurvivors}, by the victim then a survivor ${afterVictim} (${held.length} running at the kill); all handled ${allDoneMs} ms after the kill`,
    );
    // The survivors rejoin after their running jobs ended and were committed: they never repeat each other's.
    // (One survivor may run a job twice: both copies from the victim's mover, whose last moves were not
    // committed, so a survivor's mover moved them again; a job's copies share its partition.)
    expect(acrossSurvivors).toBe(0);
    expect(duplicates).toBeLessThanOrEqual(KAFKA_CRASH_OPTIONS.partitions * 1_000);
    await survivorsQuietThenClean(survivors, producer, kafka, name);
  }, 300_000);

  // On kafkajs each process's movers and readers own the same partition numbers of every topic (the backend's
  // co-partitioned assigner), and a job keeps its partition number along its walk: a dead member holds back only
  // the jobs of its own partition numbers until its session ends. (With kafkajs's round robin, a member owned a
  // different share of every level topic, and most walks passed one of the dead member's partitions.)
  // On the consumer protocol the backend asks the broker's range assignor, with member ids that start with a key
  // per process: before, the broker's uniform assignor gave a process different partitions in each group, and
  // most jobs' walks passed one of the victim's (a newcomer saw the median reminder 2.6-6.5 s late).
  it.each([['kafkajs'], ['platformatic']])('kafka (%s consumers): a member SIGKILLed holds back only the jobs of its own partitions until its session ends', async (client) => {
    const name = uniqueName('dq-share');
    cleanup.push(`${name}:*`);
    const kafka = new Kafka({ clientId: 'share-producer', brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
    const backend = new KafkaBackend({ kafka, name, ...KAFKA_CRASH_OPTIONS });
    const producer = new DelayQueue({ backend });
    const env = { X_BACKEND: 'kafka', X_KAFKA_CLIENT: client, X_QUEUE: name, X_TOPIC: 'work', X_CONCURRENCY: '20', X_HANDLER_MS: '5' };
    const consumers = [start('consumer-process.ts', env), start('consumer-process.ts', env), start('consumer-process.ts', env)];
    const handled = async (): Promise<number> => redis.hlen(`${name}:deliveries`);
    const jobsOf = async (child: ReturnType<typeof spawnTsProcess>): Promise<number> => Number(await redis.hget(`${name}:by-pid`, String(child.pid)));
    // Warm-up until all three read and move: every consumer has handled jobs that walked the levels.
    let added = 0;
    await eventually(
      async () => {
        await producer.addBulk(Array.from({ length: 100 }, (_, k) => ({ topic: 'work', payload: k, options: { delay: 200 + ((added + k) * 37) % 800 } })));
        added += 100;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return (await Promise.all(consumers.map(jobsOf))).every((n) => n > 0) && (await handled()) === added;
      },
      'all three consumers handling jobs',
      120_000,
    );
    const [victim] = consumers;
    victim!.kill('SIGKILL');
    await exited(victim!);
    // Due 1-2 s from now: well before the group drops the victim (6 s session on kafkajs, the broker's 10 s here).
    const ids = await producer.addBulk(Array.from({ length: 400 }, (_, k) => ({ topic: 'work', payload: k, options: { delay: 1_000 + ((k * 53) % 1_000) } })));
    await eventually(async () => (await redis.hmget(`${name}:lateness`, ...ids)).every((v) => v !== null), 'every job after the kill handled', 90_000);
    const lateness = (await redis.hmget(`${name}:lateness`, ...ids)).map(Number);
    // A job's partition number: where kafkajs's default partitioner puts its id, in every topic of the queue.
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: KAFKA_CRASH_OPTIONS.partitions }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
    const byPartition = new Map<number, { onTime: number; held: number; worstOnTimeMs: number }>();
    ids.forEach((id, i) => {
      const partition = partitioner({ topic: 'any', partitionMetadata, message: { key: id, value: null } });
      const entry = byPartition.get(partition) ?? { onTime: 0, held: 0, worstOnTimeMs: 0 };
      // Held: waited for the victim's session rather than a hop or two.
      if (lateness[i]! > 3_000) entry.held++;
      else {
        entry.onTime++;
        entry.worstOnTimeMs = Math.max(entry.worstOnTimeMs, lateness[i]!);
      }
      byPartition.set(partition, entry);
    });
    const summary = [...byPartition].sort(([a], [b]) => a - b).map(([p, e]) => `${p}: ${e.onTime} on time (worst ${e.worstOnTimeMs} ms), ${e.held} held`);
    console.log(`kafka share of a dead member (${client}): ${summary.join('; ')}`);
    // Every partition number is all on time or all held: a job waits only when its own partition was the victim's.
    for (const [partition, { onTime, held }] of byPartition) expect({ partition, mixed: onTime > 0 && held > 0 }).toEqual({ partition, mixed: false });
    const heldPartitions = [...byPartition.values()].filter((e) => e.held > 0).length;
    // Three members on four partition numbers: the victim owned one or two of them, and only those waited.
    expect(heldPartitions).toBeGreaterThanOrEqual(1);
    expect(heldPartitions).toBeLessThanOrEqual(2);
    await survivorsQuietThenClean(consumers.slice(1), producer, kafka, name);
  }, 300_000);
});
