/**
 * The cases of a consumer group's first week: a member joining while the buffer is full (rebalance-join), a
 * partition paused for its offset map coming back (resume-after-pause), and other keys flowing behind a record
 * that keeps failing (poison-flow).
 */
import { type KafkaClient, ParallelConsumer } from '@x/kafka-fast';
import type { Consumer } from 'kafkajs';
import { KEYS, Meter, groupId, indexOf, kafka, sleep } from './workload.js';

/** One member of a group; `firstRun` resolves with the time its handler first starts. */
interface Member {
  firstRun: Promise<number>;
  stop(): Promise<void>;
}

type MemberKind = 'ours' | 'eachMessage';

/** A member whose handler takes `ms`: ours (8 slots, default buffer) or kafkajs eachMessage, one partition at a time. */
async function member(kind: MemberKind, topic: string, group: string, ms: number, onRun: () => void): Promise<Member> {
  let first: (at: number) => void = () => undefined;
  const firstRun = new Promise<number>((resolve) => (first = resolve));
  const run = async (): Promise<void> => {
    first(performance.now());
    onRun();
    await sleep(ms);
  };
  if (kind === 'ours') {
    const consumer = new ParallelConsumer({ kafka, groupId: group, topics: [topic], fromBeginning: true, maxConcurrency: 8, handler: run });
    await consumer.start();
    return { firstRun, stop: () => consumer.close({ timeout: 5_000 }) };
  }
  const consumer: Consumer = kafka.consumer({ groupId: group });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: run });
  return { firstRun, stop: () => consumer.disconnect() };
}

/**
 * When the second member starts joining, in ms after the first one's first record, round after round. A member
 * learns of a rebalance from its next heartbeat (kafkajs sends one every `heartbeatInterval`, 3 s by default,
 * counted from its join), so the time a join takes depends on where in that interval it starts: each kind of
 * member is measured at the same points of it.
 */
const JOIN_DELAYS = [500, 1_500, 2_500];
const joins = { ours: 0, eachMessage: 0 };

/**
 * rebalance-join: the first member runs (20 ms handlers; ours with its buffer full), a second member starts
 * joining: ms until the second one's handler first runs.
 */
export async function rebalanceJoin(kind: MemberKind, topic: string): Promise<number> {
  const group = groupId();
  const first = await member(kind, topic, group, 20, () => undefined);
  await first.firstRun;
  await sleep(JOIN_DELAYS[joins[kind]++ % JOIN_DELAYS.length]!);
  const joining = performance.now();
  const second = await member(kind, topic, group, 20, () => undefined);
  const ran = await second.firstRun;
  await Promise.all([first.stop(), second.stop()]);
  return ran - joining;
}

/**
 * resume-after-pause: one partition in `partition` order (every record waits behind the one before), a
 * 64-character metadata limit (so the map of the records waiting fills within a few hundred offsets), record 10
 * takes 1.5 s: the partition pauses; ms from that record's end until the record it paused at starts.
 * `consumerConfig` is the client's as the user gives it (none: the package's defaults).
 */
export async function resumeAfterPause(topic: string, consumerConfig?: Record<string, unknown>): Promise<number> {
  let slowEnded = 0;
  let waiting = -1;
  let resumed = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const consumer = new ParallelConsumer({
    kafka,
    groupId: groupId(),
    topics: [topic],
    fromBeginning: true,
    ordering: 'partition',
    metadataLimitBytes: 64,
    ...(consumerConfig === undefined ? {} : { consumerConfig }),
    handler: async (record) => {
      const offset = Number(record.offset);
      if (offset === waiting) {
        resumed = performance.now();
        done();
      }
      if (offset === 10) {
        await sleep(1_500);
        slowEnded = performance.now();
      }
    },
  });
  consumer.on('metadata-pressure', (event) => {
    if (event.waitingOffset !== undefined && waiting < 0) waiting = Number(event.waitingOffset);
  });
  await consumer.start();
  const timer = setTimeout(() => done(), 60_000);
  await finished;
  clearTimeout(timer);
  await consumer.close();
  if (resumed === 0) throw new Error(`resume-after-pause: the partition ${waiting < 0 ? 'never paused' : `never took offset ${waiting} on`} within 60 s`);
  return resumed - slowEnded;
}

/**
 * poison-flow: records/s of every key but k0 while k0's first record fails for `poisonMs` (retried every 100 ms
 * to 1 s; 0: no failing record); 256 slots, 5 ms handlers, the default metadata limit.
 */
export async function poisonFlow(topic: string, records: number, poisonMs: number): Promise<number> {
  const poisonUntil = performance.now() + poisonMs;
  const meter = new Meter(records - Math.ceil(records / KEYS));
  const consumer = new ParallelConsumer({
    kafka,
    groupId: groupId(),
    topics: [topic],
    fromBeginning: true,
    maxConcurrency: 256,
    maxAttempts: 1_000,
    retryDelayMs: 100,
    maxRetryDelayMs: 1_000,
    handler: async (record) => {
      const i = indexOf(record.value);
      if (i % KEYS === 0) {
        if (i === 0 && performance.now() < poisonUntil) throw new Error('poison');
        return;
      }
      meter.started();
      await sleep(5);
      meter.ended();
    },
  });
  await consumer.start();
  await meter.done;
  await consumer.close({ timeout: 15_000 }).catch(() => undefined);
  return meter.rate;
}

/**
 * rebalance-stall: two members of ours (8 slots, 20 ms handlers, a buffer of 64 and 32 per partition so every
 * partition keeps completing), the second started 1.5 s after the first (half a kafkajs heartbeat interval: the
 * members hear of a rebalance at different times, as members of separate processes do), share a 4-partition
 * topic; a third starts joining. Returns the longest time, from the join until 1 s after the third member's first
 * record, that a partition kept by its member went without a completion. kafkajs (classic protocol) stops every
 * partition for a rebalance; on Kafka 4's consumer protocol only the partitions that move stop.
 */
export async function rebalanceStall(client: KafkaClient, topic: string): Promise<number> {
  const group = groupId();
  const ends: { member: string; partition: number; at: number }[] = [];
  const owned = new Map<string, Set<number>>();
  const consumers: ParallelConsumer[] = [];
  let thirdFirst = 0;
  const start = async (name: string): Promise<void> => {
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId: group,
      topics: [topic],
      fromBeginning: true,
      maxConcurrency: 8,
      maxBuffered: 64,
      maxBufferedPerPartition: 32,
      handler: async (record) => {
        if (name === 'c' && thirdFirst === 0) thirdFirst = performance.now();
        await sleep(20);
        ends.push({ member: name, partition: record.partition, at: performance.now() });
      },
    });
    consumer.on('assigned', ({ partitions }) => owned.set(name, new Set(partitions.map((p) => p.partition))));
    consumers.push(consumer);
    await consumer.start();
  };
  const until = async (what: string, predicate: () => boolean): Promise<void> => {
    const deadline = performance.now() + 60_000;
    while (!predicate()) {
      if (performance.now() > deadline) throw new Error(`rebalance-stall: ${what} within 60 s`);
      await sleep(20);
    }
  };
  await start('a');
  await sleep(1_500);
  await start('b');
  const twoEach = (): boolean => owned.get('a')?.size === 2 && owned.get('b')?.size === 2;
  await until('a and b with two partitions each, both running', () => twoEach() && ends.some((e) => e.member === 'b') && ends.some((e) => e.member === 'a'));
  await sleep(1_000);
  const before = new Map([...owned].map(([name, partitions]) => [name, new Set(partitions)]));
  const joined = performance.now();
  await start('c');
  await until('the third member running', () => thirdFirst > 0);
  await sleep(1_000);
  const windowEnd = performance.now();
  await Promise.all(consumers.map((consumer) => consumer.close({ timeout: 5_000 }).catch(() => undefined)));
  // Partitions that kept their member. Under the classic protocol a rebalance may reassign every partition
  // (kafkajs's round-robin assignor orders members by their random ids), and it stops every partition anyway:
  // with none kept, every partition is watched, whichever member completes its records.
  let watched: { name: string | undefined; partition: number }[] = [...before].flatMap(([name, partitions]) => [...partitions].filter((p) => owned.get(name)?.has(p)).map((partition) => ({ name, partition })));
  const kept = watched.length;
  if (kept === 0) watched = [...new Set([...before.values()].flatMap((partitions) => [...partitions]))].map((partition) => ({ name: undefined, partition }));
  let longest = 0;
  for (const { name, partition } of watched) {
    const times = ends.filter((e) => (name === undefined || e.member === name) && e.partition === partition && e.at >= joined && e.at <= windowEnd).map((e) => e.at);
    let last = joined;
    for (const at of [...times.sort((x, y) => x - y), windowEnd]) {
      longest = Math.max(longest, at - last);
      last = at;
    }
  }
  console.log(`  rebalance-stall on ${client === kafka ? 'kafkajs' : 'the consumer protocol'}: ${kept} partition(s) kept their member; longest gap ${longest.toFixed(0)} ms`);
  return longest;
}
