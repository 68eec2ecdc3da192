/**
 * The consumer against the real KRaft broker of scripts/services.
 */
import { join } from 'node:path';
import { InvalidArgumentError } from '@x/core';
import { Kafka } from 'kafkajs';
import { cuttableSockets, gate, kafkaBrokers, requireKafka, runTsProcess, significantStderr } from '@x/testkit';
import { type ConsumedRecord, ConsumerCrashedError, type KafkaClient, ParallelConsumer, type ParallelConsumerOptions, assertConsumerConfig, type WorkerThreadClient, workerThreadClient } from '../src/index.js';
import type { WorkerThreadConsumer } from '../src/worker-client.js';
import { decodeOffsetMap } from '../src/offset-map.js';
import { clients, eventually, freshTopic, kafka, kafkaConfig, produce, uniqueName } from './kafka.js';

const consumers: ParallelConsumer[] = [];
/** An offset map committed at 5: complete up to 336 but for 105, 205 and 305 (from a real commit). */
const decodeOffsetMapFixture = 'AsoCDQECCwEgDAEC';
let client: KafkaClient = kafka;
function open(options: Omit<ParallelConsumerOptions, 'kafka'>): ParallelConsumer {
  const consumer = new ParallelConsumer({ kafka: client, fromBeginning: true, commitIntervalMs: 100, ...options });
  consumer.on('error', () => undefined);
  consumers.push(consumer);
  return consumer;
}
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
});
beforeAll(async () => {
  await (await requireKafka()).disconnect();
});

describe.each(clients)('ParallelConsumer on a real broker, %s', (_name, makeClient, { incremental }) => {
  beforeAll(() => {
    client = makeClient();
  });
  // One client for all the tests: with workerThreadClient each consumer runs on the thread the last one left.
  afterAll(async () => {
    await (client as Partial<WorkerThreadClient>).close?.();
  });

  it('keeps per-key order at concurrency 256 while running many records of one partition at once', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 5_000, 100);
    const perKey = new Map<string, number[]>();
    let running = 0;
    let peak = 0;
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      maxConcurrency: 256,
      handler: async (record) => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 1 + (Number(record.value) % 5)));
        const key = record.key!.toString();
        perKey.set(key, [...(perKey.get(key) ?? []), Number(record.value)]);
        running--;
      },
    });
    await consumer.start();
    await eventually(() => [...perKey.values()].reduce((n, s) => n + s.length, 0) === 5_000, 'all 5,000 records');
    for (const [key, seen] of perKey) {
      expect(seen).toHaveLength(50);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(seen.every((v) => `k${v % 100}` === key)).toBe(true);
    }
    // Up to one record per key runs at once: 100 keys.
    expect(peak).toBeGreaterThan(50);
    expect(peak).toBeLessThanOrEqual(100);
    await eventually(() => consumer.metrics().partitions[0]?.committedOffset === '5000', 'the final commit');
  });

  it('sends a poison record to the dead-letter topic after its attempts while other keys flow', async () => {
    const topic = await freshTopic(1);
    const dlq = `${topic}.dead`;
    await produce(topic, 300, 10);
    const done = new Set<number>();
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      maxAttempts: 3,
      retryDelayMs: 20,
      deadLetterTopic: dlq,
      handler: (record) => {
        if (record.value!.toString() === '42') throw new Error('cannot parse order 42');
        done.add(Number(record.value));
      },
    });
    const retries: number[] = [];
    consumer.on('retry', (e) => retries.push(e.attempt));
    await consumer.start();
    await eventually(() => done.size === 299 && consumer.metrics().deadLettered === 1, 'everything but the poison record');
    expect(retries).toEqual([1, 2]);
    // Key k2's records after 42 ran only after 42 was dead-lettered; other keys did not wait for it.
    expect(done.has(52)).toBe(true);
    const reader = kafka.consumer({ groupId: uniqueName('dlq-reader') });
    await reader.connect();
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    const dead: { value: string; headers: Record<string, string> }[] = [];
    await reader.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        dead.push({ value: message.value!.toString(), headers });
      },
    });
    await eventually(() => dead.length === 1, 'the dead letter');
    await reader.disconnect();
    expect(dead[0]).toMatchObject({
      value: '42',
      headers: {
        'x-dead-letter-error': 'Error: cannot parse order 42',
        'x-dead-letter-topic': topic,
        'x-dead-letter-offset': '42',
        'x-dead-letter-attempts': '3',
      },
    });
    await eventually(() => consumer.metrics().partitions[0]?.committedOffset === '300', 'the commit past the poison record');
  });

  it('stops taking on records before the offset map outgrows the metadata limit, and goes on once the slow record completes', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 1_000, 50);
    const held = gate();
    let highestStartedWhileHeld = -1;
    let holding = true;
    const handled = new Set<number>();
    const pressure: { waitingOffset?: string; limit: number }[] = [];
    const mapSizes: number[] = [];
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      // 64 characters hold a map of a few hundred offsets above the lowest incomplete one, here.
      metadataLimitBytes: 64,
      handler: async (record) => {
        const value = Number(record.value);
        if (holding) highestStartedWhileHeld = Math.max(highestStartedWhileHeld, Number(record.offset));
        if (value === 10) await held.opened;
        handled.add(value);
      },
    });
    consumer.on('metadata-pressure', (event) => pressure.push(event));
    consumer.on('committed', (event) => mapSizes.push(event.metadataBytes));
    await consumer.start();
    // Record 10 runs; the others of its key (60, 110, ...) wait behind it in key order; the rest complete until
    // the partition pauses.
    await eventually(() => pressure.some((p) => p.waitingOffset !== undefined), 'the partition to pause with record 10 running', 20_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: pressure ${pressure.length}, handled ${handled.size}, highest ${highestStartedWhileHeld}`);
    });
    await new Promise((r) => setTimeout(r, 300));
    // Paused: nothing at or past the waiting offset was taken on, and the commits' maps all fit.
    const waiting = Number(pressure.at(-1)!.waitingOffset);
    expect(waiting).toBeGreaterThan(100);
    expect(waiting).toBeLessThan(1_000);
    expect(highestStartedWhileHeld).toBeLessThan(waiting);
    expect(pressure.at(-1)).toEqual({ topic, partition: 0, limit: 64, waitingOffset: String(waiting) });
    expect(consumer.metrics().partitions[0]?.committedOffset).toBe('10');
    expect(Math.max(...mapSizes)).toBeLessThanOrEqual(64);
    holding = false;
    held.open();
    await eventually(() => consumer.metrics().partitions[0]?.committedOffset === '1000', 'every record, once the slow one completed');
    expect(handled.size).toBe(1_000);
    expect(Math.max(...mapSizes)).toBeLessThanOrEqual(64);
  });

  it('takes a paused partition on again at once when its slow record completes, with the client at its defaults', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 1_000, 50);
    let slowEnded = 0;
    const started = new Map<number, number>();
    const pressure: { waitingOffset?: string }[] = [];
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      metadataLimitBytes: 64,
      handler: async (record) => {
        started.set(Number(record.offset), performance.now());
        if (record.value!.toString() === '10') {
          await new Promise((r) => setTimeout(r, 2_000));
          slowEnded = performance.now();
        }
      },
    });
    consumer.on('metadata-pressure', (event) => pressure.push(event));
    await consumer.start();
    await eventually(() => pressure.some((p) => p.waitingOffset !== undefined) && slowEnded > 0, 'the pause and the slow record', 20_000);
    const waiting = Number(pressure.find((p) => p.waitingOffset !== undefined)!.waitingOffset);
    await eventually(() => started.has(waiting), 'the waiting record to start', 20_000);
    const gap = started.get(waiting)! - slowEnded;
    console.log(`resume after a pause: the waiting record started ${gap.toFixed(0)} ms after the slow one completed`);
    // The goal (100 ms) is measured by the bench; kafkajs's own wait while everything is paused is 5 s.
    expect(gap).toBeLessThan(1_000);
  });

  it('pauses only the partition whose offset map is full: the others keep flowing', async () => {
    const topic = await freshTopic(2);
    await produce(topic, 4_000, 40);
    const held = gate();
    let heldPartition = -1;
    const handledBy = [new Set<number>(), new Set<number>()];
    const pressure: { partition: number }[] = [];
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      metadataLimitBytes: 64,
      handler: async (record) => {
        if (record.value!.toString() === '10') {
          heldPartition = record.partition;
          await held.opened;
        }
        handledBy[record.partition]!.add(Number(record.value));
      },
    });
    consumer.on('metadata-pressure', (event) => pressure.push(event));
    await consumer.start();
    const counts = async (): Promise<number[]> => {
      const admin = await requireKafka();
      const offsets = await admin.fetchTopicOffsets(topic);
      await admin.disconnect();
      return offsets.sort((a, b) => a.partition - b.partition).map((o) => Number(o.high));
    };
    const [size0, size1] = await counts();
    await eventually(() => heldPartition >= 0 && pressure.some((p) => p.partition === heldPartition), 'the held partition to pause', 20_000);
    const other = 1 - heldPartition;
    // The other partition is consumed to its end while the held one waits.
    await eventually(() => handledBy[other]!.size === (other === 0 ? size0 : size1), 'the other partition to be consumed to its end', 20_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${handledBy[other]!.size} of ${other === 0 ? size0 : size1}`);
    });
    held.open();
    await eventually(() => handledBy[0]!.size + handledBy[1]!.size === 4_000, 'every record', 20_000);
  });

  it('holds a partition of slow records to its share of the buffer: the other partitions keep flowing', async () => {
    const topic = await freshTopic(2);
    const producer = kafka.producer();
    await producer.connect();
    // 600 slow records in partition 0, then 300 quick ones in partition 1: more slow ones than the whole buffer.
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 600 }, (_, i) => ({ partition: 0, value: `s${i}` })) });
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 300 }, (_, i) => ({ partition: 1, value: `q${i}` })) });
    await producer.disconnect();
    const held = gate();
    const handled = new Map<string, number>();
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      ordering: 'unordered',
      maxConcurrency: 400,
      maxBuffered: 400,
      maxBufferedPerPartition: 100,
      handler: async (record) => {
        if (record.partition === 0) await held.opened;
        const value = record.value!.toString();
        handled.set(value, (handled.get(value) ?? 0) + 1);
      },
    });
    await consumer.start();
    // Without the share, partition 0's slow records fill the 400 places and partition 1 waits for the gate.
    await eventually(() => [...handled.keys()].filter((v) => v.startsWith('q')).length === 300, 'the quick partition consumed to its end', 20_000).catch(
      (error: unknown) => {
        throw new Error(`${String(error)}: ${handled.size} of 300`);
      },
    );
    const slow = consumer.metrics().partitions.find((p) => p.partition === 0)!;
    expect(slow).toMatchObject({ incomplete: 100, heldBack: true });
    held.open();
    await eventually(() => handled.size === 900, 'every record', 20_000);
    expect([...handled.values()].every((n) => n === 1)).toBe(true);
    await eventually(() => consumer.metrics().partitions.every((p) => !p.heldBack && p.incomplete === 0), 'nothing held back', 5_000);
  });

  it('holds back a partition whose next record is not due (notBefore) while the others flow, and takes it on when due', async () => {
    const topic = await freshTopic(2);
    const producer = kafka.producer();
    await producer.connect();
    const dueAt = Date.now() + 4_000;
    // Partition 0: records due in 4 s (as a delay topic holds them); partition 1: due now.
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ partition: 0, value: `later${i}`, headers: { due: String(dueAt) } })) });
    await producer.send({ topic, acks: -1, messages: Array.from({ length: 50 }, (_, i) => ({ partition: 1, value: `now${i}`, headers: { due: '0' } })) });
    await producer.disconnect();
    const started = new Map<string, number>();
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      ordering: 'unordered',
      lookaheadMs: 500,
      notBefore: (record) => Number(record.headers.due!.toString()),
      handler: (record) => void started.set(record.value!.toString(), Date.now()),
    });
    await consumer.start();
    await eventually(() => [...started.keys()].filter((v) => v.startsWith('now')).length === 50, 'the records due now', 20_000);
    // Its first batch may come a moment after the other partition's: held back from then on.
    await eventually(() => consumer.metrics().partitions.find((p) => p.partition === 0)?.heldBack === true, 'partition 0 held back', 3_000);
    expect(consumer.metrics().partitions.find((p) => p.partition === 0)).toMatchObject({ heldBack: true, incomplete: 0 });
    expect([...started.keys()].some((v) => v.startsWith('later'))).toBe(false);
    await eventually(() => started.size === 100, 'the later records', 20_000);
    // Taken on at most lookaheadMs before they were due (and a fetch after the resume later, at most).
    const earliest = Math.min(...[...started].filter(([v]) => v.startsWith('later')).map(([, at]) => at));
    expect(earliest).toBeGreaterThanOrEqual(dueAt - 500);
    expect(consumer.metrics().partitions.every((p) => !p.heldBack)).toBe(true);
  });

  it('commits completed offsets above a slow record in the metadata, and the next owner skips them', async () => {
    const topic = await freshTopic(1);
    const groupId = uniqueName('g');
    await produce(topic, 200, 200);
    const held = gate();
    const firstRun = new Set<number>();
    const first = open({
      groupId,
      topics: [topic],
      handler: async (record, { signal }) => {
        if (record.value!.toString() === '10') {
          await Promise.race([held.opened, new Promise((r) => signal.addEventListener('abort', r))]);
          throw new Error('interrupted');
        }
        firstRun.add(Number(record.value));
      },
    });
    await first.start();
    await eventually(() => firstRun.size === 199, 'every record but the slow one');
    await eventually(() => (first.metrics().partitions[0]?.metadataBytes ?? 0) > 0 && first.metrics().partitions[0]?.committedOffset === '10', 'a commit with an offset map');
    const admin = await requireKafka();
    const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
    await admin.disconnect();
    const p0 = committed!.partitions[0]!;
    expect(p0.offset).toBe('10');
    const map = decodeOffsetMap(10, p0.metadata);
    expect(map.end).toBe(200);
    expect(map.incomplete).toEqual([]);
    // A clean handover: the first consumer closes (the slow record is abandoned, not completed)...
    await first.close({ timeout: 200 }).catch(() => undefined);
    held.open();
    // ...and the next owner runs only what was not done: the slow record.
    const secondRun: number[] = [];
    const second = open({ groupId, topics: [topic], handler: (record) => void secondRun.push(Number(record.value)) });
    await second.start();
    await eventually(() => second.metrics().partitions[0]?.committedOffset === '200', 'the second owner to finish');
    expect(secondRun).toEqual([10]);
  });

  it('loses nothing when a second consumer joins and leaves mid-stream', async () => {
    const topic = await freshTopic(4);
    const groupId = uniqueName('g');
    await produce(topic, 4_000, 400);
    const counts = new Map<number, number>();
    const handler = async (record: { value: Buffer | null }): Promise<void> => {
      await new Promise((r) => setTimeout(r, 2));
      const v = Number(record.value);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    };
    const a = open({ groupId, topics: [topic], maxConcurrency: 32, handler });
    await a.start();
    await eventually(() => counts.size >= 500, '500 records');
    const b = open({ groupId, topics: [topic], maxConcurrency: 32, handler });
    await b.start();
    await eventually(() => counts.size >= 2_000, '2,000 records');
    await b.close();
    await eventually(() => counts.size === 4_000, 'all 4,000 records', 120_000);
    const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
    // At-least-once: a join may repeat what was done but not yet committed; a clean leave repeats nothing
    // beyond that. Print it for the record.
    console.log(`join + leave: 4000 records, ${duplicates} handled twice`);
    expect(duplicates).toBeLessThan(4_000);
  });

  it('hands a batch handler records of distinct keys, in order per key, and isolates a failing record', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 1_000, 50);
    const perKey = new Map<string, number[]>();
    let largest = 0;
    let mixedKeys = false;
    const dead: string[] = [];
    let splits = 0;
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      maxConcurrency: 4,
      batchSize: 20,
      maxAttempts: 2,
      retryDelayMs: 10,
      batchHandler: async (records) => {
        largest = Math.max(largest, records.length);
        const keys = records.map((r) => r.key!.toString());
        if (new Set(keys).size !== keys.length) mixedKeys = true;
        if (records.some((r) => r.value!.toString() === '500')) throw new Error('record 500 is malformed');
        await new Promise((r) => setTimeout(r, 2));
        for (const record of records) {
          const key = record.key!.toString();
          perKey.set(key, [...(perKey.get(key) ?? []), Number(record.value)]);
        }
      },
    });
    consumer.on('dead', (e) => dead.push(e.record.value!.toString()));
    consumer.on('batch-split', () => splits++);
    await consumer.start();
    await eventually(() => [...perKey.values()].reduce((n, s) => n + s.length, 0) === 999 && dead.length === 1, '999 records and one dead letter');
    expect(mixedKeys).toBe(false);
    expect(largest).toBeGreaterThan(1);
    expect(largest).toBeLessThanOrEqual(20);
    expect(splits).toBeGreaterThanOrEqual(1);
    expect(dead).toEqual(['500']);
    for (const seen of perKey.values()) expect(seen).toEqual([...seen].sort((a, b) => a - b));
    await eventually(() => consumer.metrics().partitions[0]?.committedOffset === '1000', 'the final commit');
  });

  it('close() returns within 500 ms of its handlers ending, with the client left at its defaults', async () => {
    const topic = await freshTopic(2);
    await produce(topic, 40, 4);
    const release = gate();
    let started = 0;
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId: uniqueName('g'),
      topics: [topic],
      fromBeginning: true,
      handler: async () => {
        started++;
        await release.opened;
      },
    });
    consumers.push(consumer);
    await consumer.start();
    await eventually(() => started >= 4, 'handlers running');
    // Idle on the broker's side too: every fetch from here on waits for records that do not come.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const closing = consumer.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    const handlersEnded = performance.now();
    release.open();
    await closing;
    const ms = performance.now() - handlersEnded;
    console.log(`close on ${_name}: ${ms.toFixed(0)} ms after the handlers ended`);
    expect(ms).toBeLessThan(500);
  });

  it('close() while start() runs: start() settles, the member leaves the group and the others get its partitions', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    const seen = new Set<number>();
    const a = open({ groupId, topics: [topic], handler: (record) => void seen.add(Number(record.value)) });
    await a.start();
    const b = open({ groupId, topics: [topic], handler: () => undefined });
    const starting = b.start().then(
      () => 'resolved',
      (error: unknown) => (error as { code?: string }).code,
    );
    await new Promise((r) => setTimeout(r, 300));
    await b.close();
    expect(['resolved', 'ERR_CLOSED']).toContain(await starting);
    expect(b.metrics().partitions).toEqual([]);
    // Records produced now all reach the one member left, well before a stale member's session (30 s) ends.
    await produce(topic, 200, 20);
    await eventually(() => seen.size === 200, 'all 200 records on the member left', 20_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${seen.size} of 200`);
    });
    // And a consumer closed the moment it was started leaves nothing in the group.
    const c = new ParallelConsumer({ kafka: client, groupId: uniqueName('g'), topics: [topic], handler: () => undefined });
    const cStarting = c.start().catch((error: unknown) => (error as { code?: string }).code);
    await c.close();
    expect([undefined, 'ERR_CLOSED']).toContain(await cStarting);
  });

  // kafkajs announces an assignment (GROUP_JOIN) before it reads where a fresh group starts: a record produced
  // right after `assigned` can land before that end offset and be skipped (seen in 1 CI run of 2 with
  // workerThreadClient). platformaticClient reads the positions first.
  (incremental ? it : it.skip)('with fromBeginning false, runs every record produced once `assigned` fired, and none from before it joined', async () => {
    const topic = await freshTopic(2);
    await produce(topic, 50, 5);
    const seen: number[] = [];
    const consumer = open({ groupId: uniqueName('g'), topics: [topic], fromBeginning: false, handler: (record) => void seen.push(Number(record.value)) });
    const assigned = new Promise<void>((resolve) => consumer.once('assigned', () => resolve()));
    await consumer.start();
    await assigned;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: String(1_000 + i) })), acks: -1 });
    await producer.disconnect();
    await eventually(() => seen.length >= 20, 'the 20 records produced after the assignment');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => 1_000 + i));
  });

  it('dead-letters a record whose handler throws a value with no string form, and its key goes on', async () => {
    const topic = await freshTopic(1);
    const dlq = `${topic}.dead`;
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [0, 1, 2, 3].map((i) => ({ key: 'k', value: String(i) })), acks: -1 });
    await producer.disconnect();
    const done: number[] = [];
    const errors: unknown[] = [];
    const consumer = open({
      groupId: uniqueName('g'),
      topics: [topic],
      maxAttempts: 2,
      retryDelayMs: 10,
      deadLetterTopic: dlq,
      handler: (record) => {
        if (record.value!.toString() === '1') throw Object.create(null);
        done.push(Number(record.value));
      },
    });
    consumer.on('error', (error) => errors.push(error));
    await consumer.start();
    await eventually(() => done.length === 3 && consumer.metrics().deadLettered === 1, 'the key going on past the dead letter');
    expect(done).toEqual([0, 2, 3]);
    await eventually(() => consumer.metrics().partitions[0]?.committedOffset === '4', 'everything committed');
    expect(errors).toEqual([]);
  });

  it('runs the records of committed transactions and never those of aborted ones', async () => {
    const topic = await freshTopic(1);
    const producer = kafka.producer({ transactionalId: uniqueName('tx'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      for (const [outcome, values] of [['abort', ['a1', 'a2']], ['commit', ['c1', 'c2']], ['abort', ['a3']], ['commit', ['c3']]] as const) {
        const transaction = await producer.transaction();
        await transaction.send({ topic, messages: values.map((value) => ({ key: 'k', value })) });
        await (outcome === 'commit' ? transaction.commit() : transaction.abort());
      }
      await producer.send({ topic, messages: [{ key: 'k', value: 'plain' }] });
    } finally {
      await producer.disconnect();
    }
    const seen: string[] = [];
    const consumer = open({ groupId: uniqueName('g'), topics: [topic], handler: (record) => void seen.push(record.value!.toString()) });
    await consumer.start();
    await eventually(() => seen.includes('plain'), 'the record after the transactions');
    expect(seen).toEqual(['c1', 'c2', 'c3', 'plain']);
  });

  it('hands records over exactly as written: null keys and values, every byte value, headers, timestamps', async () => {
    const topic = await freshTopic(1);
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const written = [
      { key: null, value: Buffer.from('no key') },
      { key: Buffer.from('tombstone'), value: null },
      { key: allBytes, value: Buffer.concat([allBytes, allBytes]), headers: { one: 'a', many: ['b', 'c'], binary: allBytes } },
      { key: Buffer.from('same'), value: Buffer.from('first'), timestamp: '1700000000000' },
      { key: Buffer.from('same'), value: Buffer.alloc(0) },
    ];
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: written });
    await producer.disconnect();
    const seen: ConsumedRecord[] = [];
    const consumer = open({ groupId: uniqueName('g'), topics: [topic], handler: (record) => void seen.push(record) });
    await consumer.start();
    await eventually(() => seen.length === written.length, `all ${written.length} records`);
    seen.sort((a, b) => Number(a.offset) - Number(b.offset));
    expect(seen.map((r) => r.offset)).toEqual(['0', '1', '2', '3', '4']);
    for (const [i, record] of seen.entries()) {
      const sent = written[i]!;
      expect({ i, key: record.key, value: record.value }).toEqual({ i, key: sent.key, value: sent.value });
      expect(typeof record.timestamp).toBe('string');
      expect(record).toMatchObject({ topic, partition: 0 });
    }
    expect(seen[3]!.timestamp).toBe('1700000000000');
    const headers = seen[2]!.headers;
    expect(Buffer.isBuffer(headers['one'])).toBe(true);
    expect(String(headers['one'])).toBe('a');
    expect((headers['many'] as Buffer[]).map(String)).toEqual(['b', 'c']);
    expect(Buffer.compare(headers['binary'] as Buffer, allBytes)).toBe(0);
    expect(seen[0]!.headers).toEqual({});
  });
});

describe('ParallelConsumer and its client', () => {
  it('dead-letters records that fail while its producer is still connecting, and connects again after a failed connect', async () => {
    const topic = await freshTopic(1);
    const dlq = `${topic}.dead`;
    await produce(topic, 20, 20);
    let connects = 0;
    // The real kafkajs producer, whose first connect fails and whose second one is slow.
    const client: KafkaClient = {
      consumer: (config) => kafka.consumer(config as Parameters<typeof kafka.consumer>[0]),
      admin: () => kafka.admin(),
      producer: (config) => {
        const producer = kafka.producer(config);
        return {
          connect: async () => {
            connects++;
            if (connects === 1) throw new Error('connect refused (first attempt)');
            await new Promise((r) => setTimeout(r, 300));
            await producer.connect();
          },
          send: (request) => producer.send(request),
          disconnect: () => producer.disconnect(),
        };
      },
    };
    const errors: unknown[] = [];
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId: uniqueName('g'),
      topics: [topic],
      fromBeginning: true,
      maxAttempts: 1,
      maxRetryDelayMs: 200,
      retryDelayMs: 10,
      deadLetterTopic: dlq,
      handler: () => {
        throw new Error('always fails');
      },
    });
    consumer.on('error', (error) => errors.push(error));
    consumers.push(consumer);
    await consumer.start();
    await eventually(() => consumer.metrics().deadLettered === 20, 'all 20 records dead-lettered', 30_000).catch((error: unknown) => {
      throw new Error(`${String(error)}: ${consumer.metrics().deadLettered} dead-lettered, errors ${errors.map(String).join('; ')}`);
    });
    // The records that failed meanwhile all waited for the one refused connect (each reports it); none was
    // sent on a producer that was not connected, and the retry connected once more for all of them.
    expect(errors.length).toBeGreaterThan(0);
    expect([...new Set(errors.map(String))]).toEqual(['Error: connect refused (first attempt)']);
    expect(connects).toBe(2);
  });

  it('close() disconnects the admin and the producer even when the consumer refuses to disconnect', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 5, 5);
    const disconnected: string[] = [];
    const client: KafkaClient = {
      consumer: (config) => {
        const consumer = kafka.consumer(config as Parameters<typeof kafka.consumer>[0]);
        return Object.assign(Object.create(consumer) as typeof consumer, {
          disconnect: async () => {
            await consumer.disconnect();
            throw new Error('disconnect refused');
          },
        });
      },
      admin: () => {
        const admin = kafka.admin();
        return { connect: () => admin.connect(), fetchOffsets: (r) => admin.fetchOffsets(r), disconnect: async () => (disconnected.push('admin'), admin.disconnect()) };
      },
      producer: (config) => {
        const producer = kafka.producer(config);
        return { connect: () => producer.connect(), send: (r) => producer.send(r), disconnect: async () => (disconnected.push('producer'), producer.disconnect()) };
      },
    };
    let failed = false;
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId: uniqueName('g'),
      topics: [topic],
      fromBeginning: true,
      maxAttempts: 1,
      deadLetterTopic: `${topic}.dead`,
      handler: (record) => {
        if (record.value!.toString() === '0' && !failed) {
          failed = true;
          throw new Error('to the dead-letter topic, so the producer exists');
        }
      },
    });
    consumer.on('error', () => undefined);
    await consumer.start();
    await eventually(() => consumer.metrics().deadLettered === 1 && consumer.metrics().completed === 5, 'the records');
    await expect(consumer.close()).rejects.toThrow('disconnect refused');
    expect(disconnected.sort()).toEqual(['admin', 'producer']);
  });

  it('needs nothing of its client beyond the narrow KafkaClient interface', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 300, 30);
    // A client that is not a kafkajs Kafka object: only the three factory methods, delegating.
    const narrow: KafkaClient = {
      consumer: (config) => kafka.consumer(config as Parameters<typeof kafka.consumer>[0]),
      admin: () => kafka.admin(),
      producer: (config) => kafka.producer(config),
    };
    const seen = new Set<number>();
    const consumer = new ParallelConsumer({
      kafka: narrow,
      groupId: uniqueName('g'),
      topics: [topic],
      fromBeginning: true,
      handler: (record) => void seen.add(Number(record.value)),
    });
    consumers.push(consumer);
    await consumer.start();
    await eventually(() => seen.size === 300, 'all 300 records');
  });

  /**
   * A consumer on `kafka` whose client `crash` stops for good after 300 of 2,000 records. Checks that one
   * ConsumerCrashedError is emitted, that the consumer closed itself and takes on nothing more, and that the next
   * owner of the group handles every record. Returns the error, for checks of its cause.
   */
  async function crashMidStream(kafka: KafkaClient, consumerConfig: Record<string, unknown>, crash: () => Promise<void> | void): Promise<ConsumerCrashedError> {
    const topic = await freshTopic(1);
    const groupId = uniqueName('g');
    await produce(topic, 2_000, 100);
    const handled = new Set<number>();
    const handler = async (record: { value: Buffer | null }): Promise<void> => {
      await new Promise((r) => setTimeout(r, 2));
      handled.add(Number(record.value));
    };
    // A crashed consumer does not leave the group: the broker drops it after its session timeout (6 s, the least
    // the broker allows by default), and only then can the next owner join.
    const first = new ParallelConsumer({
      kafka,
      groupId,
      topics: [topic],
      fromBeginning: true,
      commitIntervalMs: 100,
      maxConcurrency: 16,
      consumerConfig: { sessionTimeout: 6_000, ...consumerConfig },
      handler,
    });
    consumers.push(first);
    const errors: unknown[] = [];
    first.on('error', (error) => errors.push(error));
    await first.start();
    await eventually(() => handled.size >= 300, '300 records');
    await crash();
    await eventually(() => errors.some((e) => e instanceof ConsumerCrashedError), 'the crash', 30_000);
    // Commits that failed before the crash was known may have been reported too; the crash only once.
    const crashes = errors.filter((e) => e instanceof ConsumerCrashedError);
    expect(crashes).toHaveLength(1);
    expect(crashes[0]!.code).toBe('ERR_CONSUMER_CRASHED');
    // It closed itself: close() gives the same outcome, and nothing more is taken on.
    await first.close();
    // What it had taken on and not started is no longer counted as its own.
    expect(first.metrics()).toMatchObject({ inFlight: 0, buffered: 0 });
    const afterClose = handled.size;
    expect(afterClose).toBeLessThan(2_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(handled.size).toBe(afterClose);
    // The next owner takes over from the last commit: every record is handled, none lost.
    const second = open({ groupId, topics: [topic], maxConcurrency: 16, handler });
    await second.start();
    await eventually(() => handled.size === 2_000, 'all 2,000 records');
    await eventually(() => second.metrics().partitions[0]?.committedOffset === '2000', 'the final commit');
    return crashes[0]!;
  }

  /** A workerThreadClient, and the same client keeping hold of the consumers it makes so a test can reach their threads. */
  function watchedWorkerClient(): { threaded: WorkerThreadClient; watched: KafkaClient; made: WorkerThreadConsumer[] } {
    const threaded = workerThreadClient(kafkaConfig);
    const made: WorkerThreadConsumer[] = [];
    const watched: KafkaClient = { ...threaded, consumer: (config) => made[made.push(threaded.consumer(config) as WorkerThreadConsumer) - 1]! };
    return { threaded, watched, made };
  }

  it('says ConsumerCrashedError and closes itself when the worker thread dies; the next owner loses nothing', async () => {
    const { threaded, watched, made } = watchedWorkerClient();
    const crash = await crashMidStream(watched, {}, () => made[0]!.worker.terminate().then(() => undefined));
    expect(crash.cause).toMatchObject({ code: 'ERR_WORKER_EXITED', exitCode: 1 });
    expect((crash.cause as Error).message).toMatch(/worker thread exited/);
    // A thread that died is not run again: the client's next consumer gets a new one.
    const next = watched.consumer({ groupId: uniqueName('g') }) as WorkerThreadConsumer;
    await next.connect();
    expect(next.worker).not.toBe(made[0]!.worker);
    await next.disconnect();
    await threaded.close();
  }, 90_000);

  it("workerThreadClient runs a client's next consumer on the thread the last one left, and close() ends it", async () => {
    const topic = await freshTopic(1);
    await produce(topic, 300, 30);
    const { threaded, watched, made } = watchedWorkerClient();
    const consumeAll = async (): Promise<void> => {
      const seen = new Set<number>();
      const consumer = new ParallelConsumer({ kafka: watched, groupId: uniqueName('g'), topics: [topic], fromBeginning: true, handler: (r) => void seen.add(Number(r.value)) });
      consumers.push(consumer);
      await consumer.start();
      await eventually(() => seen.size === 300, 'all 300 records');
      await consumer.close();
    };
    await consumeAll();
    await consumeAll();
    expect(made).toHaveLength(2);
    expect(made[1]!.worker).toBe(made[0]!.worker);
    const exited = new Promise<number>((resolve) => made[0]!.worker.once('exit', resolve));
    await threaded.close();
    expect(typeof (await exited)).toBe('number');
    // After close() a new consumer gets a new thread, which is no longer kept when it leaves.
    const third = threaded.consumer({ groupId: uniqueName('g') }) as WorkerThreadConsumer;
    // (A consumer takes its thread when it connects.)
    expect(() => third.worker).toThrow(expect.objectContaining({ code: 'ERR_NOT_CONNECTED' }));
    await third.connect();
    expect(third.worker).not.toBe(made[0]!.worker);
    const thirdExited = new Promise<number>((resolve) => third.worker.once('exit', resolve));
    await third.disconnect();
    expect(typeof (await thirdExited)).toBe('number');
  });

  it('a workerThreadClient consumer never started holds no thread: its process exits, closed or not', async () => {
    for (const mode of ['construct', 'close']) {
      const result = await runTsProcess(join(__dirname, 'fixtures', 'never-started.ts'), { env: { X_KAFKA_BROKERS: kafkaBrokers().join(','), X_MODE: mode }, timeoutMs: 15_000 });
      expect({ mode, code: result.code, stderr: significantStderr(result.stderr) }).toEqual({ mode, code: 0, stderr: [] });
    }
  }, 40_000);

  it('a consumer closed while a partition waits for a record not yet due leaves nothing behind: its process exits', async () => {
    const topic = await freshTopic(1);
    await produce(topic, 1, 1);
    const result = await runTsProcess(join(__dirname, 'fixtures', 'held-back-exit.ts'), { env: { X_KAFKA_BROKERS: kafkaBrokers().join(','), X_TOPIC: topic }, timeoutMs: 30_000 });
    expect({ code: result.code, stdout: result.stdout.trim(), stderr: significantStderr(result.stderr) }).toEqual({ code: 0, stdout: 'closed', stderr: [] });
  }, 40_000);

  it('workerThreadClient refuses a consumer config it cannot copy to its thread', () => {
    const threaded = workerThreadClient(kafkaConfig);
    expect(() => threaded.consumer({ groupId: 'g', retry: { restartOnFailure: async () => false } })).toThrow(InvalidArgumentError);
    expect(() => threaded.consumer({ groupId: 'g', retry: { restartOnFailure: async () => false } })).toThrow(/consumerConfig/);
  });

  it('says ConsumerCrashedError and closes itself when kafkajs gives up on its consumer (the network to the broker cut)', async () => {
    // Real connections to the real broker, until the test cuts them all and sends new ones to a closed port.
    const network = cuttableSockets();
    const cuttable = new Kafka({ ...kafkaConfig, socketFactory: network.socketFactory, retry: { retries: 1, initialRetryTime: 50 } });
    // Without restartOnFailure kafkajs restarts after a connection error, and keeps trying for ever.
    const crash = await crashMidStream(cuttable, { retry: { retries: 1, initialRetryTime: 50, restartOnFailure: async () => false } }, () => network.cut());
    expect((crash.cause as Error).name).toMatch(/^KafkaJS/);
  }, 90_000);

  it('workerThreadClient refuses a kafkajs config it cannot copy to its thread', () => {
    let error: unknown;
    try {
      workerThreadClient({ ...kafkaConfig, logCreator: () => () => undefined });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT');
    expect(String((error as Error).message)).toMatch(/kafkaConfig/);
  });

  it('says a started consumer is started, and a closed one closed', async () => {
    const consumer = new ParallelConsumer({ kafka, groupId: uniqueName('g'), topics: [await freshTopic(1)], handler: () => undefined });
    consumers.push(consumer);
    await consumer.start();
    await expect(consumer.start()).rejects.toMatchObject({ code: 'ERR_ALREADY_STARTED' });
    await consumer.close();
    await expect(consumer.start()).rejects.toMatchObject({ code: 'ERR_CLOSED' });
  });

  it('decodeOffsetMap takes the committed offset as kafkajs gives it (a string) or as a number, and refuses anything else', () => {
    const map = decodeOffsetMap('5', decodeOffsetMapFixture);
    expect(map.incomplete).toEqual([105, 205, 305]);
    expect(decodeOffsetMap(5, decodeOffsetMapFixture).end).toBe(map.end);
    for (const bad of [NaN, -2, 1.5, 'x', '', '1e3', 2 ** 53, null, undefined]) {
      expect(() => decodeOffsetMap(bad as never, decodeOffsetMapFixture)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });

  it('workerThreadClient refuses a missing config with a typed error', () => {
    expect(() => workerThreadClient(undefined as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
  });

  it('assertConsumerConfig checks kafkajs consumer options as consumerConfig takes them', () => {
    expect(assertConsumerConfig(undefined)).toEqual({});
    const good = { sessionTimeout: 10_000, heartbeatInterval: 500, maxWaitTimeInMs: 0, maxBytesPerPartition: 196_608 };
    expect(assertConsumerConfig(good)).toBe(good);
    for (const bad of [null, [], 'x', { groupId: 'g' }, { sessionTimeout: -5 }, { rebalanceTimeout: 0 }, { heartbeatInterval: 1.5 }, { maxWaitTimeInMs: 2 ** 31 }, { partitionAssigners: 'x' }, { partitionAssigners: [] }, { partitionAssigners: [1] }]) {
      expect(() => assertConsumerConfig(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    }
  });

  it('rejects bad options with typed errors', () => {
    const base = { kafka, groupId: 'g', topics: ['t'], handler: () => undefined };
    const bad: [string, Partial<ParallelConsumerOptions>][] = [
      ['concurrency 0', { maxConcurrency: 0 }],
      ['fractional concurrency', { maxConcurrency: 1.5 }],
      ['unknown ordering', { ordering: 'random' as never }],
      ['metadata limit too small', { metadataLimitBytes: 16 }],
      ['buffer below concurrency', { maxConcurrency: 100, maxBuffered: 10 }],
      ['a partition share above the buffer', { maxBuffered: 100, maxBufferedPerPartition: 101 }],
      ['a partition share of 0', { maxBufferedPerPartition: 0 }],
      ['notBefore not a function', { notBefore: 5 as never }],
      ['lookahead below 0', { lookaheadMs: -1 }],
      ['rebalance drain below 0', { rebalanceDrainMs: -1 }],
      ['rebalance drain past 2^31-1 ms', { rebalanceDrainMs: 2 ** 31 }],
      ['rebalance drain not a number', { rebalanceDrainMs: '1000' as never }],
      ['handover grace below 0', { handoverGraceMs: -1 }],
      ['handover grace past 2^31-1 ms', { handoverGraceMs: 2 ** 31 }],
      // The member would be removed from the group while it drains (kafkajs: 60 s timeout, 3 s heartbeats).
      ['rebalance drain past the default rebalance timeout', { rebalanceDrainMs: 57_000 }],
      ['rebalance drain past a set rebalance timeout', { rebalanceDrainMs: 8_000, consumerConfig: { rebalanceTimeout: 10_000 } }],
      ['no topics', { topics: [] }],
      ['a topic twice', { topics: ['t', 't'] }],
      ['dead letters into the source', { deadLetterTopic: 't' }],
      ['unknown option', { concurrency: 5 } as never],
      ['not a kafka client', { kafka: {} as never }],
      ['handler not a function', { handler: 'x' as never }],
      ['both handler and batchHandler', { batchHandler: () => undefined }],
      ['batchSize without batchHandler', { batchSize: 10 }],
      ['batchSize 1', { handler: undefined, batchHandler: () => undefined, batchSize: 1 }],
      // Past what a timer can wait: Node would fire it after 1 ms.
      ['retry delay past 2^31-1 ms', { retryDelayMs: 2 ** 31, maxRetryDelayMs: 2 ** 31 }],
      ['most retry delay past 2^31-1 ms', { maxRetryDelayMs: 2 ** 33 }],
      ['fromBeginning not a boolean', { fromBeginning: 'yes' as never }],
      ['consumerConfig null', { consumerConfig: null as never }],
      ['consumerConfig an array', { consumerConfig: [] as never }],
      ['a second groupId in consumerConfig', { consumerConfig: { groupId: 'other' } }],
      ['a negative session timeout', { consumerConfig: { sessionTimeout: -5 } }],
      ['a heartbeat interval of 0', { consumerConfig: { heartbeatInterval: 0 } }],
      ['a fetch wait that is not a number', { consumerConfig: { maxWaitTimeInMs: '100' } }],
      ['fromBeginning null', { fromBeginning: null as never }],
      ['a dead-letter topic Kafka would refuse', { deadLetterTopic: 'bad topic!' }],
      ['a topic Kafka would refuse', { topics: ['t', '..'] }],
      ['neither handler nor batchHandler', { handler: undefined }],
    ];
    // The longest drain a group's timeouts allow is taken; a group whose timeouts allow less than the default
    // drain gets that limit by default.
    expect(() => new ParallelConsumer({ ...base, rebalanceDrainMs: 56_999 })).not.toThrow();
    expect(() => new ParallelConsumer({ ...base, rebalanceDrainMs: 9_499, consumerConfig: { rebalanceTimeout: 10_000, heartbeatInterval: 500 } })).not.toThrow();
    expect(() => new ParallelConsumer({ ...base, consumerConfig: { rebalanceTimeout: 1_000, heartbeatInterval: 300 } })).not.toThrow();
    expect(() => new ParallelConsumer({ ...base, rebalanceDrainMs: 8_000, consumerConfig: { rebalanceTimeout: 20_000, heartbeatInterval: 1_000 } })).not.toThrow();
    for (const [what, options] of bad) {
      let error: unknown;
      try {
        new ParallelConsumer({ ...base, ...options });
      } catch (e) {
        error = e;
      }
      expect({ what, code: (error as { code?: string } | undefined)?.code }).toEqual({ what, code: 'ERR_INVALID_ARGUMENT' });
    }
  });
});

/** The kafkajs client and the one on Kafka 4's consumer protocol, where the latter can run here. */
const otherClient = clients.find(([, , { incremental }]) => incremental);

(otherClient !== undefined ? describe : describe.skip)('one group on both clients', () => {
  /**
   * Consumes `topic` in `groupId` until `until` records completed, with record `slow` never completing (its
   * handler waits for its signal): the commit stops below it and carries the records completed above it in its
   * map. Closes, and returns the values it completed.
   */
  async function consumeSome(client: KafkaClient, groupId: string, topic: string, until: number, slow: number): Promise<Set<number>> {
    const completed = new Set<number>();
    const consumer = new ParallelConsumer({
      kafka: client,
      groupId,
      topics: [topic],
      fromBeginning: true,
      commitIntervalMs: 100,
      maxConcurrency: 16,
      handler: async (record, { signal }) => {
        const value = Number(record.value);
        if (value === slow) await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
        completed.add(value);
      },
    });
    consumer.on('error', () => undefined);
    consumers.push(consumer);
    await consumer.start();
    await eventually(() => completed.size >= until, `${until} records completed`);
    // The slow record's handler is still running: close says so, after committing what completed.
    if (slow >= 0) await expect(consumer.close({ timeout: 500 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT' });
    else await consumer.close();
    return completed;
  }

  it.each([
    ['kafkajs', 'platformaticClient'],
    ['platformaticClient', 'kafkajs'],
  ])('a group committed by %s resumes on %s without running completed records again', async (first, second) => {
    const make = (name: string): KafkaClient => (name === 'kafkajs' ? kafka : otherClient![1]());
    const topic = await freshTopic(1);
    const groupId = uniqueName('g');
    await produce(topic, 1_000, 10);
    // Record 7 never completes on the first client: its key's later records wait behind it, the other keys run on.
    const before = await consumeSome(make(first), groupId, topic, 500, 7);
    expect(before.has(7)).toBe(false);
    const after = await consumeSome(make(second), groupId, topic, 1_000 - before.size, -1);
    const again = [...after].filter((value) => before.has(value));
    expect(again).toEqual([]);
    expect(before.size + after.size).toBe(1_000);
  }, 120_000);
});
