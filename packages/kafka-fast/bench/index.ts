/**
 * `npm run bench -w @x/kafka-fast [-- --quick]` against the KRaft broker of scripts/services (127.0.0.1:19092).
 * Each case consumes the same freshly produced topic with a fresh group per run; rate = records / (first
 * handler start -> last handler end); alternating rounds, medians.
 */
import { type BenchCase, childMeasurement, isQuick, median, otelApiCase, runBench, withMetricsSdk } from '@x/testkit';
import { eachMessage, handWritten, handWrittenOnPlatformatic, ours, oursBatched, oursOnPlatformatic, oursOnWorker, type Running } from './consumers.js';
import { KEYS, Meter, type Work, filledTopic, kafka, noop, platformatic, skewed, uniform, valueOf, workerClient } from './workload.js';
import { poisonFlow, rebalanceJoin, rebalanceStall, resumeAfterPause } from './rebalance.js';

const quick = isQuick();
const RECORDS = quick ? 20_000 : 100_000;
const EACH_MESSAGE_RECORDS = 2_000;
const rounds = quick ? 1 : 3;
const STEADY_RATE = 2_000;
const STEADY_SECONDS = quick ? 3 : 10;
/** How long poison-flow's record keeps failing (the 10 s). */
const POISON_MS = quick ? 3_000 : 10_000;
/**
 * Ours on the four-partition topic: 8 records per slot, and fetches of 192 KiB per partition (one producer batch
 * of about 1,300 records here). kafkajs hands over one partition's batch at a time, and each partition holds a
 * quarter of the keys (about 250), fewer than the 256 slots: a buffer filled from a single partition's 1 MiB
 * fetch (5,000 records) leaves slots idle, and a buffer big enough to span two such fetches costs the handlers'
 * thread longer GC pauses (see the README's "Several partitions").
 */
const SEVERAL_PARTITIONS = { maxBuffered: 2_048, consumerConfig: { maxBytesPerPartition: 196_608 } };

async function rate(records: number, start: (meter: Meter) => Promise<Running>): Promise<number> {
  const meter = new Meter(records);
  const running = await start(meter);
  await meter.done;
  await running.stop();
  return meter.rate;
}

/** Latency p50/p99 (message timestamp -> handler end) while a producer sends STEADY_RATE records/s. */
async function steady(start: (topic: string, meter: Meter) => Promise<Running>): Promise<{ p50: number; p99: number }> {
  const total = STEADY_RATE * STEADY_SECONDS;
  const topic = await filledTopic(0, 1);
  const meter = new Meter(total);
  const running = await start(topic, meter);
  // A fresh group reading from the log's end reads where that is after it joined; a second leaves every consumer
  // time to have done so (a record produced before would not be its to read, and the run would never end).
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const producer = kafka.producer();
  await producer.connect();
  const began = performance.now();
  for (let sent = 0; sent < total; ) {
    const due = Math.min(total, Math.floor(((performance.now() - began) / 1000) * STEADY_RATE));
    if (due > sent) {
      const messages = [];
      for (let i = sent; i < due; i++) messages.push({ key: `k${i % KEYS}`, value: valueOf(i) });
      await producer.send({ topic, messages, acks: 1 });
      sent = due;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await producer.disconnect();
  await meter.done;
  await running.stop();
  const sorted = meter.latencies.sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length * 0.5)]!, p99: sorted[Math.floor(sorted.length * 0.99)]! };
}

/** The one-partition topic, for otel-api-cpu-only's child processes. */
const TOPIC_ENV = 'X_BENCH_TOPIC';

/** otel-api-cpu-only in a child process: ours' rate with a no-op handler, after an unmeasured warm-up run. */
async function childCpuOnly(): Promise<number> {
  const topic = process.env[TOPIC_ENV]!;
  await rate(RECORDS, (m) => ours(topic, m, noop, 1_000));
  return rate(RECORDS, (m) => ours(topic, m, noop, 1_000));
}

void (async () => {
  if (await childMeasurement({ 'cpu-only': childCpuOnly })) return;
  const oneTopic = await filledTopic(RECORDS, 1);
  const fourTopic = await filledTopic(RECORDS, 4);
  // More than the default buffer (10,000) in the first fetches of two partitions, so the first member's is full.
  const joinTopic = await filledTopic(40_000, 2);
  const pauseTopic = await filledTopic(2_000, 1);
  // 4 partitions, enough records for three members of 8 slots and 20 ms handlers to run through a join.
  const stallTopic = await filledTopic(60_000, 4);
  const vsHand = (work: Work) => ({
    ours: () => rate(RECORDS, (m) => ours(oneTopic, m, work, 1_000)),
    theirs: () => rate(RECORDS, (m) => handWritten(oneTopic, m, work)),
  });
  const vsHandOnPlatformatic = (work: Work) => ({
    ours: () => rate(RECORDS, (m) => oursOnPlatformatic(oneTopic, m, work, 1_000)),
    theirs: () => rate(RECORDS, (m) => handWrittenOnPlatformatic(oneTopic, m, work)),
  });
  const steadyRuns: string[] = [];
  const steadyP99 = { ours: [] as number[], hand: [] as number[] };
  const cases: BenchCase[] = [
    // The first case also warms up the JIT for both consumers (a cold first round measures compilation).
    { id: 'uniform', unit: 'msg/s', better: 'higher', peer: 'hand-written eachBatch', rounds, warmup: 1, ...vsHand(uniform) },
    { id: 'skewed', unit: 'msg/s', better: 'higher', peer: 'hand-written eachBatch', rounds, warmup: 0, ...vsHand(skewed) },
    {
      id: 'one-partition',
      unit: 'msg/s',
      better: 'higher',
      peer: 'kafkajs eachMessage',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => ours(oneTopic, m, uniform, 256)),
      theirs: () => rate(EACH_MESSAGE_RECORDS, (m) => eachMessage(oneTopic, m, uniform, 1)),
    },
    {
      id: 'four-partitions',
      unit: 'msg/s',
      better: 'higher',
      peer: 'kafkajs eachMessage x4',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => ours(fourTopic, m, uniform, 256, SEVERAL_PARTITIONS)),
      theirs: () => rate(EACH_MESSAGE_RECORDS * 4, (m) => eachMessage(fourTopic, m, uniform, 4)),
    },
    {
      id: 'steady-latency',
      unit: 'ms (p50)',
      better: 'lower',
      peer: 'hand-written eachBatch',
      rounds: 1,
      warmup: 0,
      ours: async () => {
        const r = await steady((topic, m) => ours(topic, m, skewed, 1_000, { fromBeginning: false }));
        steadyP99.ours.push(r.p99);
        steadyRuns.push(`ours         p50 ${r.p50} ms, p99 ${r.p99} ms`);
        return r.p50;
      },
      theirs: async () => {
        const r = await steady((topic, m) => handWritten(topic, m, skewed, false));
        steadyP99.hand.push(r.p99);
        steadyRuns.push(`hand-written p50 ${r.p50} ms, p99 ${r.p99} ms`);
        return r.p50;
      },
    },
    // The timer-bound cases again with kafkajs on a worker thread (workerThreadClient), not the cases.
    {
      id: 'uniform-worker',
      unit: 'msg/s',
      better: 'higher',
      peer: 'hand-written eachBatch',
      rounds,
      warmup: 1,
      ours: () => rate(RECORDS, (m) => oursOnWorker(oneTopic, m, uniform, 1_000)),
      theirs: () => rate(RECORDS, (m) => handWritten(oneTopic, m, uniform)),
    },
    {
      id: 'one-partition-worker',
      unit: 'msg/s',
      better: 'higher',
      peer: 'kafkajs eachMessage',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => oursOnWorker(oneTopic, m, uniform, 256)),
      theirs: () => rate(EACH_MESSAGE_RECORDS, (m) => eachMessage(oneTopic, m, uniform, 1)),
    },
    {
      id: 'four-partitions-worker',
      unit: 'msg/s',
      better: 'higher',
      peer: 'kafkajs eachMessage x4',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => oursOnWorker(fourTopic, m, uniform, 256, SEVERAL_PARTITIONS)),
      theirs: () => rate(EACH_MESSAGE_RECORDS * 4, (m) => eachMessage(fourTopic, m, uniform, 4)),
    },
    {
      id: 'rebalance-join',
      unit: 'ms',
      better: 'lower',
      peer: 'kafkajs eachMessage',
      rounds,
      warmup: 0,
      ours: () => rebalanceJoin('ours', joinTopic),
      theirs: () => rebalanceJoin('eachMessage', joinTopic),
    },
    {
      // The peer is ours with kafkajs's own fetch wait (5 s), which it sleeps while everything is paused.
      id: 'resume-after-pause',
      unit: 'ms',
      better: 'lower',
      peer: 'ours, kafkajs maxWaitTimeInMs 5000',
      rounds,
      warmup: 0,
      ours: () => resumeAfterPause(pauseTopic),
      theirs: () => resumeAfterPause(pauseTopic, { maxWaitTimeInMs: 5_000 }),
    },
    {
      id: 'poison-flow',
      unit: 'msg/s',
      better: 'higher',
      peer: 'ours without the failing record',
      rounds,
      warmup: 0,
      ours: () => poisonFlow(oneTopic, RECORDS, POISON_MS),
      theirs: () => poisonFlow(oneTopic, RECORDS, 0),
    },
    // A warm-up round each: ours runs first in the first round, where a cold process's JIT would count against it
    // alone (the peer then reads with kafkajs's decoder already compiled), and the whole case takes seconds.
    { id: 'cpu-only', unit: 'msg/s', better: 'higher', peer: 'hand-written eachBatch', rounds, warmup: 1, ...vsHand(noop) },
    {
      // What metrics cost where they cost most (a no-op handler): ours with an OpenTelemetry SDK registered (a
      // reader collecting every second) against ours with none (nothing records then).
      id: 'telemetry-cpu-only',
      unit: 'msg/s',
      better: 'higher',
      peer: 'ours without an SDK',
      rounds,
      warmup: 0,
      ours: () => withMetricsSdk(() => rate(RECORDS, (m) => ours(oneTopic, m, noop, 1_000))),
      theirs: () => rate(RECORDS, (m) => ours(oneTopic, m, noop, 1_000)),
    },
    // The API installed but no SDK, against the API not installed at all (each round a fresh process).
    otelApiCase('cpu-only', 'cpu-only', { unit: 'msg/s', better: 'higher', rounds, warmup: 0 }, { [TOPIC_ENV]: oneTopic }),
    {
      // Not a case of the issue: the same no-op work through the batch handler (200 records of distinct keys).
      id: 'cpu-only-batch',
      unit: 'msg/s',
      better: 'higher',
      peer: 'hand-written eachBatch',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => oursBatched(oneTopic, m, noop, 256, 200)),
      theirs: () => rate(RECORDS, (m) => handWritten(oneTopic, m, noop)),
    },
    // On @platformatic/kafka (Kafka 4's consumer protocol): ours against the hand-written consumer on that client,
    // then ours on it against ours on kafkajs.
    { id: 'uniform-platformatic', unit: 'msg/s', better: 'higher', peer: 'hand-written on @platformatic/kafka', rounds, warmup: 1, ...vsHandOnPlatformatic(uniform) },
    { id: 'skewed-platformatic', unit: 'msg/s', better: 'higher', peer: 'hand-written on @platformatic/kafka', rounds, warmup: 0, ...vsHandOnPlatformatic(skewed) },
    {
      id: 'steady-latency-platformatic',
      unit: 'ms (p50)',
      better: 'lower',
      peer: 'hand-written on @platformatic/kafka',
      rounds: 1,
      warmup: 0,
      ours: async () => (await steady((topic, m) => oursOnPlatformatic(topic, m, skewed, 1_000, { fromBeginning: false }))).p50,
      theirs: async () => (await steady((topic, m) => handWrittenOnPlatformatic(topic, m, skewed, false))).p50,
    },
    { id: 'cpu-only-platformatic', unit: 'msg/s', better: 'higher', peer: 'hand-written on @platformatic/kafka', rounds, warmup: 0, ...vsHandOnPlatformatic(noop) },
    {
      id: 'client-cpu-only',
      unit: 'msg/s',
      better: 'higher',
      peer: 'ours on kafkajs',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => oursOnPlatformatic(oneTopic, m, noop, 1_000)),
      theirs: () => rate(RECORDS, (m) => ours(oneTopic, m, noop, 1_000)),
    },
    {
      id: 'client-uniform',
      unit: 'msg/s',
      better: 'higher',
      peer: 'ours on kafkajs',
      rounds,
      warmup: 0,
      ours: () => rate(RECORDS, (m) => oursOnPlatformatic(oneTopic, m, uniform, 1_000)),
      theirs: () => rate(RECORDS, (m) => ours(oneTopic, m, uniform, 1_000)),
    },
    {
      id: 'rebalance-stall',
      unit: 'ms',
      better: 'lower',
      peer: 'ours on kafkajs (classic protocol)',
      // Where in its heartbeat interval each member hears of the join varies from round to round.
      rounds: quick ? 1 : 5,
      warmup: 0,
      ours: () => rebalanceStall(platformatic, stallTopic),
      theirs: () => rebalanceStall(kafka, stallTopic),
    },
  ];
  await runBench('kafka-fast', cases);
  await workerClient.close();
  if (steadyRuns.length === 0) return;
  console.log(`steady-latency (${STEADY_RATE} msg/s for ${STEADY_SECONDS} s, skewed handler): p99 ours ${median(steadyP99.ours)} ms, hand-written ${median(steadyP99.hand)} ms`);
  for (const line of steadyRuns) console.log(`  ${line}`);
})();
