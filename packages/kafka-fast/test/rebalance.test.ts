/**
 * Rebalances on the real broker, with the invariants read from outside the consumers: every handler run is
 * logged with its member, partition, key and start and end times from one clock (all members live in this
 * process), and the log is checked afterwards.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { requireKafka } from '@x/testkit';
import { type ClientBatchPayload, type ClientConsumer, type ConsumedRecord, type KafkaClient, ParallelConsumer, type ParallelConsumerOptions, type WorkerThreadClient } from '../src/index.js';
import { clients, eventually, freshTopic, produce, uniqueName } from './kafka.js';

interface Run {
  member: string;
  partition: number;
  key: string;
  value: number;
  start: number;
  end: number;
}

/** Logs every handler run; a run ends when its handler returns or its signal aborts, whichever is first. */
class RunLog {
  readonly runs: Run[] = [];
  firstStart = new Map<string, number>();

  /**
   * A handler of `ms` per record, but of ten minutes for records whose value `stuck` picks. After its signal
   * aborts it takes `windDownMs` more to stop (a handler cleaning up), and its run ends only then.
   */
  handler(member: string, ms: number, stuck: (value: number) => boolean = () => false, windDownMs = 0): (record: ConsumedRecord, context: { signal: AbortSignal }) => Promise<void> {
    return async (record, { signal }) => {
      const run: Run = { member, partition: record.partition, key: record.key!.toString(), value: Number(record.value), start: performance.now(), end: Infinity };
      if (!this.firstStart.has(member)) this.firstStart.set(member, run.start);
      this.runs.push(run);
      const ended = (): void => {
        run.end = Math.min(run.end, performance.now() + windDownMs);
      };
      // The handler honours its signal, as the README asks: its run ends at the abort.
      signal.addEventListener('abort', ended, { once: true });
      try {
        await sleep(stuck(run.value) ? 600_000 : ms, undefined, { signal });
      } catch (error) {
        if (windDownMs > 0) await sleep(windDownMs);
        throw error;
      } finally {
        ended();
        signal.removeEventListener('abort', ended);
      }
    };
  }

  /** Pairs of runs of one partition on two members that overlap in time. */
  overlaps(): string[] {
    const found: string[] = [];
    const byPartition = new Map<number, Run[]>();
    for (const run of this.runs) byPartition.set(run.partition, [...(byPartition.get(run.partition) ?? []), run]);
    for (const [partition, runs] of byPartition) {
      runs.sort((a, b) => a.start - b.start);
      // Per member, the latest end seen so far: a run of another member must start after it.
      const latestEnd = new Map<string, Run>();
      for (const run of runs) {
        for (const [member, other] of latestEnd) {
          if (member !== run.member && other.end > run.start) {
            found.push(`partition ${partition}: ${other.member} ran value ${other.value} (key ${other.key}) until ${other.end.toFixed(1)}, ${run.member} started value ${run.value} (key ${run.key}) at ${run.start.toFixed(1)}`);
          }
        }
        const previous = latestEnd.get(run.member);
        if (previous === undefined || run.end > previous.end) latestEnd.set(run.member, run);
      }
    }
    return found;
  }
}

/** `client`, counting the heartbeats its batches asked for that the group refused (a rebalance began). */
function withHeartbeatRefusalsCounted(client: KafkaClient): { client: KafkaClient; refusals: () => number } {
  let refusals = 0;
  const countRefusals = (payload: ClientBatchPayload): ClientBatchPayload => ({
    ...payload,
    heartbeat: () =>
      payload.heartbeat().catch((error: unknown) => {
        refusals++;
        throw error;
      }),
  });
  const consumer = (config: Parameters<KafkaClient['consumer']>[0]): ClientConsumer => {
    const inner = client.consumer(config);
    return new Proxy(inner, {
      get: (target, property) => {
        if (property === 'run') return (run: Parameters<ClientConsumer['run']>[0]) => target.run({ ...run, eachBatch: (payload) => run.eachBatch(countRefusals(payload)) });
        const value = Reflect.get(target, property) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  const wrapped = new Proxy(client, {
    get: (target, property) => {
      if (property === 'consumer') return consumer;
      const value = Reflect.get(target, property) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { client: wrapped, refusals: () => refusals };
}

const consumers: ParallelConsumer[] = [];
const made: KafkaClient[] = [];

beforeAll(async () => {
  await (await requireKafka()).disconnect();
});
afterEach(async () => {
  await Promise.all(consumers.splice(0).map((c) => c.close({ timeout: 5_000 }).catch(() => undefined)));
  await Promise.all(made.splice(0).map((c) => (c as Partial<WorkerThreadClient>).close?.()));
});

describe.each(clients)('rebalances, %s', (_name, makeClient, { incremental }) => {
  function open(
    log: RunLog,
    member: string,
    options: Partial<ParallelConsumerOptions> & Pick<ParallelConsumerOptions, 'groupId' | 'topics'>,
    ms: number,
    stuck?: (value: number) => boolean,
    windDownMs?: number,
  ): ParallelConsumer {
    const client = makeClient();
    made.push(client);
    const consumer = new ParallelConsumer({ kafka: client, fromBeginning: true, commitIntervalMs: 100, handler: log.handler(member, ms, stuck, windDownMs), ...options });
    consumer.on('error', () => undefined);
    consumers.push(consumer);
    return consumer;
  }

  it('hands partitions over within seconds while the buffer is full, and never runs a partition on two members at once', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 12_000, 400);
    const log = new RunLog();
    const a = open(log, 'a', { groupId, topics: [topic], maxConcurrency: 8, maxBuffered: 1_000 }, 20);
    await a.start();
    // The buffer fills from the first batch at once; wait until a runs for a while with it full.
    await eventually(() => log.runs.length >= 200, 'a running');
    const joined = performance.now();
    const b = open(log, 'b', { groupId, topics: [topic], maxConcurrency: 8, maxBuffered: 1_000 }, 20);
    await b.start();
    await eventually(() => log.firstStart.has('b'), 'b running its first record', 60_000);
    const bWaited = log.firstStart.get('b')! - joined;
    await eventually(() => log.runs.length >= 600, 'more runs');
    // A third member joins mid-stream: two partitions for three members, so one of them ends up with none.
    const c = open(log, 'c', { groupId, topics: [topic], maxConcurrency: 8, maxBuffered: 1_000 }, 20);
    let cAssigned = false;
    c.on('assigned', () => (cAssigned = true));
    await c.start();
    await eventually(() => cAssigned, 'c to join the group', 60_000);
    const runsAtJoin = log.runs.length;
    await eventually(() => log.runs.length >= runsAtJoin + 200, 'records running after the third join');
    console.log(`join with a full buffer: b ran its first record ${bWaited.toFixed(0)} ms after it started joining; ${log.runs.length} runs`);
    expect(log.overlaps()).toEqual([]);
    // The goal is 2 s; kafkajs learns of a rebalance at its next heartbeat (every 3 s by default), so this allows that.
    expect(bWaited).toBeLessThan(6_000);
  }, 120_000);

  // Kafka 4's consumer protocol learns of rebalances without heartbeats from the batches.
  (incremental ? it.skip : it)('asks the group once per rebalance, however many batches wait for buffer space', async () => {
    const topic = await freshTopic(4);
    const groupId = uniqueName('g');
    await produce(topic, 4_000, 200);
    const log = new RunLog();
    const counted = withHeartbeatRefusalsCounted(makeClient());
    made.push(counted.client);
    // 200 ms handlers and room for 40 records: every partition's batch waits for buffer space, heartbeating.
    const a = new ParallelConsumer({ kafka: counted.client, groupId, topics: [topic], fromBeginning: true, commitIntervalMs: 100, maxConcurrency: 8, maxBuffered: 40, handler: log.handler('a', 200) });
    a.on('error', () => undefined);
    consumers.push(a);
    let rebalances = 0;
    a.on('rebalancing', () => rebalances++);
    await a.start();
    await eventually(() => log.runs.length >= 40, 'a running with its buffer full');
    const b = open(log, 'b', { groupId, topics: [topic], maxConcurrency: 8, maxBuffered: 40 }, 200);
    await b.start();
    await eventually(() => log.firstStart.has('b'), 'b running its first record', 60_000);
    console.log(`one join, four partitions waiting: ${counted.refusals()} heartbeat refusals seen by a's batches, ${rebalances} rebalances`);
    // Each refusal is a request the broker answered with REBALANCE_IN_PROGRESS, which kafkajs logs at ERROR level.
    expect(rebalances).toBe(1);
    expect(counted.refusals()).toBe(1);
    expect(log.overlaps()).toEqual([]);
  }, 120_000);

  it('leaves no member running records of partitions it lost when its handlers are slower than the rebalance timeout', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 2_000, 200);
    const log = new RunLog();
    // Handlers of 4 s against an 8 s rebalance timeout, and a buffer that stays full for minutes.
    const consumerConfig = { rebalanceTimeout: 8_000, sessionTimeout: 8_000, heartbeatInterval: 1_000 };
    const a = open(log, 'a', { groupId, topics: [topic], maxConcurrency: 4, maxBuffered: 100, consumerConfig }, 4_000);
    await a.start();
    await eventually(() => log.runs.length >= 4, 'a running');
    const joined = performance.now();
    const b = open(log, 'b', { groupId, topics: [topic], maxConcurrency: 4, maxBuffered: 100, consumerConfig }, 4_000);
    await b.start();
    await eventually(() => log.firstStart.has('b'), 'b running its first record', 60_000);
    const bWaited = log.firstStart.get('b')! - joined;
    // Long enough for a member evicted at the rebalance timeout to show itself running what it lost.
    await sleep(10_000);
    console.log(`join with 4 s handlers: b ran its first record ${bWaited.toFixed(0)} ms after it started joining`);
    expect(log.overlaps()).toEqual([]);
    expect(bWaited).toBeLessThan(6_000);
  }, 120_000);

  it('tells handlers a rebalance began; a record given back then runs again with the same attempt, and the join does not wait for it', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 200, 20);
    const runs: { member: string; value: number; partition: number; attempt: number; at: number }[] = [];
    const done = new Set<number>();
    let secondJoining = false;
    /** a's handlers waiting, by partition: given back when a rebalance takes their partition, else let go on. */
    const waiting = new Map<{ partition: number; value: number; resolve: () => void }, (reason: Error) => void>();
    const client = makeClient();
    made.push(client);
    // A drain far longer than the test: a handler that did not give its record back would hold the join for it.
    const options = { groupId, topics: [topic], maxConcurrency: 8, commitIntervalMs: 100, fromBeginning: true, rebalanceDrainMs: 50_000 };
    const a = new ParallelConsumer({
      kafka: client,
      ...options,
      // Until the second member joins, four records of each partition wait (as in a queue nobody has taken them
      // from yet); so whichever partition moves, some of its records are given back.
      handler: async (record, { attempt }) => {
        runs.push({ member: 'a', value: Number(record.value), partition: record.partition, attempt, at: performance.now() });
        const waitingHere = [...waiting.keys()].filter((handler) => handler.partition === record.partition).length;
        if (!secondJoining && waitingHere < 4) await new Promise<void>((resolve, reject) => waiting.set({ partition: record.partition, value: Number(record.value), resolve }, reject));
        done.add(Number(record.value));
      },
    });
    a.on('error', () => undefined);
    consumers.push(a);
    const heard: number[] = [];
    /** The partitions and values of the records given back. */
    const moving: number[] = [];
    const given: number[] = [];
    a.on('rebalancing', ({ partitions }) => {
      heard.push(performance.now());
      for (const [handler, reject] of waiting) {
        if (partitions === undefined || partitions.some((p) => p.partition === handler.partition)) {
          moving.push(handler.partition);
          given.push(handler.value);
          reject(new Error('given back'));
        } else {
          handler.resolve();
        }
      }
      waiting.clear();
    });
    await a.start();
    await eventually(() => waiting.size === 8, "a's handlers all waiting");
    secondJoining = true;
    const joined = performance.now();
    const bClient = makeClient();
    made.push(bClient);
    const b = new ParallelConsumer({
      kafka: bClient,
      ...options,
      handler: (record, { attempt }) => {
        runs.push({ member: 'b', value: Number(record.value), partition: record.partition, attempt, at: performance.now() });
        done.add(Number(record.value));
      },
    });
    b.on('error', () => undefined);
    consumers.push(b);
    let bAssigned = 0;
    b.on('assigned', (event) => {
      if (event.partitions.length > 0 && bAssigned === 0) bAssigned = performance.now();
    });
    await b.start();
    await eventually(() => done.size === 200, 'every record done', 60_000);
    expect(heard.length).toBeGreaterThanOrEqual(1);
    expect(heard[0]!).toBeLessThan(bAssigned);
    // a learns of the rebalance at its next heartbeat (kafkajs: every 3 s; the consumer protocol: the broker's
    // interval, 5 s by default); the 50 s drain was not waited for.
    expect(bAssigned - joined).toBeLessThan(10_000);
    // Those given back ran again, as first attempts: giving back is not a failure. kafkajs stops the whole group
    // (all eight); the consumer protocol moves one partition and lets the other's handlers go on.
    if (incremental) {
      expect(new Set(moving).size).toBe(1);
      // A member giving a partition up starts nothing more of it, not even what its handlers gave back: that goes
      // to the next owner (it ran again here, and was then aborted and run a third time by the next owner).
      expect(runs.filter((run) => run.member === 'a' && moving.includes(run.partition) && run.at > heard[0]!)).toEqual([]);
    } else {
      expect(moving.length).toBe(8);
    }
    for (const value of given) expect(runs.filter((run) => run.value === value).length).toBeGreaterThanOrEqual(2);
    expect(runs.filter((run) => run.attempt !== 1)).toEqual([]);
    expect(a.metrics().retried).toBe(0);
  }, 120_000);

  it('with handoverGraceMs, a partition taken over starts nothing until its last owner had that long to stop its handlers', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 200, 20);
    const log = new RunLog();
    // Handlers that take 1 s to stop once their signal aborts; the grace gives them 2.5 s.
    const options = { groupId, topics: [topic], maxConcurrency: 8, handoverGraceMs: 2_500 };
    const a = open(log, 'a', options, 600_000, undefined, 1_000);
    await a.start();
    await eventually(() => log.runs.length >= 8, 'a running');
    const b = open(log, 'b', options, 10);
    let bAssigned = 0;
    b.on('assigned', (event) => {
      if (event.partitions.length > 0 && bAssigned === 0) bAssigned = performance.now();
    });
    await b.start();
    await eventually(() => log.firstStart.has('b'), 'b running its first record', 60_000);
    await sleep(1_500);
    expect(log.overlaps()).toEqual([]);
    // It did wait: its first record started no sooner than the grace after its assignment.
    expect(log.firstStart.get('b')! - bAssigned).toBeGreaterThanOrEqual(2_400);
  }, 120_000);

  it("hands partitions over within seconds while one is paused for its offset map", async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 4_000, 40);
    const log = new RunLog();
    // Records 10 and 11 never complete on their own (they end when their signal aborts), nor do the records of
    // their keys behind them: their partitions' maps fill and they pause.
    const stuck = (value: number): boolean => value === 10 || value === 11;
    const options = { groupId, topics: [topic], maxConcurrency: 8, metadataLimitBytes: 64 };
    const a = open(log, 'a', options, 20, stuck);
    let paused = 0;
    a.on('metadata-pressure', (event) => {
      if (event.waitingOffset !== undefined) paused++;
    });
    await a.start();
    await eventually(() => paused > 0, 'a partition to pause for its offset map', 30_000);
    const joined = performance.now();
    const b = open(log, 'b', options, 20, stuck);
    // Measured to b's assignment, not its first run: the partition it gets may have been consumed to its end.
    let bAssigned = 0;
    b.on('assigned', (event) => {
      if (event.partitions.length > 0 && bAssigned === 0) bAssigned = performance.now();
    });
    await b.start();
    await eventually(() => bAssigned > 0, 'b to be assigned a partition', 60_000);
    const bWaited = bAssigned - joined;
    await sleep(1_500);
    console.log(`join with a paused partition: b was assigned a partition ${bWaited.toFixed(0)} ms after it started joining`);
    expect(log.overlaps()).toEqual([]);
    expect(bWaited).toBeLessThan(6_000);
  }, 120_000);
});

/** Clients on Kafka 4's consumer protocol: a rebalance moves only what must move. */
const incrementalClients = clients.filter(([, , { incremental }]) => incremental);

(incrementalClients.length > 0 ? describe.each(incrementalClients) : describe.skip.each(clients.slice(0, 1)))('incremental rebalances, %s', (_name, makeClient) => {
  function member(options: Omit<ParallelConsumerOptions, 'kafka'>): ParallelConsumer {
    const client = makeClient();
    made.push(client);
    const consumer = new ParallelConsumer({ ...options, kafka: client });
    consumer.on('error', () => undefined);
    consumers.push(consumer);
    return consumer;
  }

  it('moves only the partitions it must when a member joins: the others complete records throughout, and no record runs twice', async () => {
    const topic = await freshTopic(4);
    const groupId = uniqueName('g');
    await produce(topic, 16_000, 400);
    const log = new RunLog();
    const owners = new Map<string, Set<number>>();
    // When each member began giving each partition up: from then on it must start nothing of it.
    const givingUp: { member: string; partition: number; at: number }[] = [];
    const open = (name: string): ParallelConsumer => {
      const consumer = member({ groupId, topics: [topic], fromBeginning: true, commitIntervalMs: 100, maxConcurrency: 8, handler: log.handler(name, 20) });
      consumer.on('assigned', ({ partitions }) => owners.set(name, new Set(partitions.map((p) => p.partition))));
      consumer.on('rebalancing', ({ partitions }) => {
        for (const { partition } of partitions ?? []) givingUp.push({ member: name, partition, at: performance.now() });
      });
      return consumer;
    };
    const a = open('a');
    await a.start();
    await eventually(() => log.runs.length >= 100, 'a running');
    const b = open('b');
    await b.start();
    await eventually(() => (owners.get('a')?.size ?? 0) === 2 && (owners.get('b')?.size ?? 0) === 2 && log.firstStart.has('b'), 'a and b with two partitions each', 60_000);
    const before = new Map([...owners].map(([name, partitions]) => [name, new Set(partitions)]));
    const joined = performance.now();
    const c = open('c');
    await c.start();
    await eventually(() => log.firstStart.has('c'), 'c running its first record', 60_000);
    const cStarted = log.firstStart.get('c')!;
    await sleep(1_000);
    // Partitions a or b owned before the join and still own: records kept completing throughout.
    const stayed = [...before].flatMap(([name, partitions]) => [...partitions].filter((p) => owners.get(name)!.has(p)).map((p) => ({ name, partition: p })));
    expect(stayed.length).toBeGreaterThanOrEqual(2);
    let longestGap = 0;
    for (const { name, partition } of stayed) {
      const ends = log.runs.filter((run) => run.member === name && run.partition === partition && run.end >= joined - 500 && run.end <= cStarted + 500).map((run) => run.end).sort((x, y) => x - y);
      for (let i = 1; i < ends.length; i++) longestGap = Math.max(longestGap, ends[i]! - ends[i - 1]!);
    }
    const values = log.runs.map((run) => run.value);
    const twice = values.length - new Set(values).size;
    console.log(`consumer protocol, third member joining: c ran its first record ${(cStarted - joined).toFixed(0)} ms after it started; longest gap on partitions that stayed ${longestGap.toFixed(0)} ms; ${twice} records ran twice`);
    expect(longestGap).toBeLessThan(500);
    expect(log.overlaps()).toEqual([]);
    expect(givingUp.length).toBeGreaterThanOrEqual(1);
    const startedAfter = givingUp.flatMap(({ member: name, partition, at }) =>
      log.runs.filter((run) => run.member === name && run.partition === partition && run.start > at).map((run) => `${name} started value ${run.value} of partition ${partition} ${(run.start - at).toFixed(1)} ms after giving it up`),
    );
    expect(startedAfter).toEqual([]);
    // Records of a moving partition that were running finished and were committed before it moved; those not
    // started were left to the next owner: none ran twice.
    expect(twice).toBe(0);
  }, 120_000);

  it("loses and repeats nothing after the process stood still past the consumer's session timeout but not the group's", async () => {
    const topic = await freshTopic(2);
    await produce(topic, 4_000, 100);
    const seen: number[] = [];
    // The stall watch counts 2 s; the broker's consumer-protocol session is 10 s (45 s by default): the member was never removed.
    const consumer = member({
      groupId: uniqueName('g'),
      topics: [topic],
      fromBeginning: true,
      commitIntervalMs: 100,
      maxConcurrency: 4,
      consumerConfig: { sessionTimeout: 2_000 },
      handler: async (record) => {
        await sleep(5);
        seen.push(Number(record.value));
      },
    });
    const held: unknown[] = [];
    consumer.on('rebalancing', (event) => held.push(event));
    await consumer.start();
    await eventually(() => seen.length >= 500, '500 records');
    const blockedUntil = Date.now() + 3_000;
    while (Date.now() < blockedUntil); // the event loop stands still, as under SIGSTOP
    await eventually(() => new Set(seen).size === 4_000, 'every record', 60_000);
    await eventually(() => consumer.metrics().partitions.reduce((sum, p) => sum + Number(p.committedOffset), 0) === 4_000, 'everything committed');
    expect(held).toEqual([{}]); // it did hold while it asked the group
    expect(seen.length).toBe(4_000);
  }, 120_000);

  it('hands a partition over only after its running records finished, on a member with nothing left to fetch and handlers that ignore their signal', async () => {
    const topic = await freshTopic(2);
    const groupId = uniqueName('g');
    await produce(topic, 8, 8);
    const runs: { member: string; partition: number; value: number; start: number; end: number }[] = [];
    const handler = (name: string) => async (record: ConsumedRecord): Promise<void> => {
      const run = { member: name, partition: record.partition, value: Number(record.value), start: performance.now(), end: Infinity };
      runs.push(run);
      await sleep(name === 'a' ? 9_000 : 10); // longer than a heartbeat interval; never looks at its signal
      run.end = performance.now();
    };
    const options = { groupId, topics: [topic], fromBeginning: true, commitIntervalMs: 100, maxConcurrency: 8, rebalanceDrainMs: 20_000 };
    const a = member({ ...options, handler: handler('a') });
    await a.start();
    await eventually(() => runs.length === 8, 'a running all eight');
    const joined = performance.now();
    const b = member({ ...options, handler: handler('b') });
    let bAssigned = 0;
    let moved = -1;
    b.on('assigned', ({ partitions }) => {
      if (partitions.length === 0 || bAssigned > 0) return;
      bAssigned = performance.now();
      moved = partitions[0]!.partition;
    });
    await b.start();
    await eventually(() => bAssigned > 0, 'b given a partition', 60_000);
    await sleep(1_000);
    const lastEnd = Math.max(...runs.filter((run) => run.member === 'a' && run.partition === moved).map((run) => run.end));
    console.log(`consumer protocol, idle member: a's last run of the moving partition ended ${(lastEnd - joined).toFixed(0)} ms after b started joining, b was given it ${(bAssigned - joined).toFixed(0)} ms after`);
    // The partition moved only once a's records of it ended (kafkajs rejoins at once here: see the README).
    expect(lastEnd).toBeLessThan(bAssigned);
    // b ran nothing a had run: a's records of the moving partition were committed before it moved.
    expect(runs.filter((run) => run.member === 'b')).toEqual([]);
  }, 120_000);
});
