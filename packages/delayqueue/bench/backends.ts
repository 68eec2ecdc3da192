/**
 * `npm run bench:backends -w @x/delayqueue [-- --quick] [--only=redis,kafka] [--case=burst,failover]`: the same
 * loads on each backend of one DelayQueue API, one JSON line per case and backend (the Redis backend's is the
 * reference the others sit beside). Needs RabbitMQ (X_RABBITMQ_URL, default amqp://guest:guest@127.0.0.1:5672)
 * and Kafka (X_KAFKA_BROKERS, default 127.0.0.1:19092); Redis is a private redis-server started for the run.
 * Lateness = delivery time - due time, ms, with 4 consumers (own connections) x 50 handlers; medians of the
 * rounds' p50 and p99.
 *
 *   window             10,000 jobs due evenly across 5 s, added ahead of time
 *   burst              500 jobs due at the same instant, then 3,000
 *   short-behind-long  1,000 jobs of 2 s added after 100,000 jobs due in a day (--quick: 10,000), and the
 *                      same 1,000 alone: p99 of each
 *   failover           the only consumer process SIGKILLed while 20 jobs a second come due, a replacement
 *                      started at once: kill to its first delivery, and the most lateness meanwhile (Kafka
 *                      at kafkajs's default 30 s session timeout, and at 10 s: kafka-session-10s; on
 *                      @platformatic/kafka, kafka-platformatic, the broker's consumer-protocol session: 45 s by default, 10 s on `npm run services`' broker)
 *
 * X_PREFETCH sets the RabbitMQ backends' `prefetch` (default 100, the backend's own).
 */
import { isQuick, median, startRedisServer } from '@x/testkit';
import { type BackendKind, KIND_NAMES, backendKinds } from './backend-kinds.js';
import { type LatenessScenario, addTimed, measureRound } from './lateness.js';
import { measureFailover } from './failover.js';

const quick = isQuick();
const ROUNDS = quick ? 1 : 3;
const LONG_JOBS = quick ? 10_000 : 100_000;
const DAY_MS = 24 * 3600_000;

const shortJobs = (name: string, long: number): LatenessScenario => ({
  name,
  measured: 1_000,
  before:
    long === 0
      ? async () => undefined
      : async (producer) => {
          await addTimed(producer, long, () => Date.now() + DAY_MS, false);
          // The movers take on what they hold of the long jobs before the short ones come.
          await new Promise((r) => setTimeout(r, 5_000));
        },
  add: async (producer) => {
    const due = Date.now() + 2_000;
    await addTimed(producer, 1_000, () => due);
  },
});

/** `count` jobs due at the same instant. */
const burstOf = (name: string, count: number): LatenessScenario => ({
  name,
  measured: count,
  add: async (producer, leadMs) => {
    const due = Date.now() + leadMs;
    await addTimed(producer, count, () => due);
  },
});

const SCENARIOS: Record<string, LatenessScenario[]> = {
  window: [
    {
      name: 'window',
      measured: 10_000,
      add: async (producer, leadMs) => {
        const start = Date.now() + leadMs;
        await addTimed(producer, 10_000, (i) => start + Math.floor((i * 5_000) / 10_000));
      },
    },
  ],
  burst: [burstOf('burst', 500), burstOf('burst-3000', 3_000)],
  'short-behind-long': [shortJobs('short-behind-long', LONG_JOBS), shortJobs('short-alone', 0)],
};
const CASES = [...Object.keys(SCENARIOS), 'failover'];

function listArg(name: string, allowed: readonly string[]): string[] {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return [...allowed];
  const wanted = arg.slice(name.length + 3).split(',');
  const unknown = wanted.filter((w) => !allowed.includes(w));
  if (unknown.length > 0) throw new Error(`--${name}: unknown ${unknown.join(', ')} (known: ${allowed.join(', ')})`);
  return wanted;
}

void (async () => {
  // kafka-session-10s (failover only) runs when asked for, or with kafka.
  const kindNames = listArg('only', KIND_NAMES);
  if (kindNames.includes('kafka') && !kindNames.includes('kafka-session-10s')) kindNames.push('kafka-session-10s');
  const cases = listArg('case', CASES);
  console.log(`# delayqueue backends — node ${process.version}${quick ? ', --quick' : ''}; cases ${cases.join(', ')}`);
  const redisServer = await startRedisServer();
  const { kinds, close } = await backendKinds(redisServer.port);
  const chosen = kinds.filter((k) => kindNames.includes(k.name));
  try {
    for (const name of cases) {
      for (const kind of chosen) {
        if (name === 'failover') {
          if (kind.name !== 'memory') await failover(kind, redisServer.port);
          continue;
        }
        if (kind.failoverOnly === true) continue;
        for (const scenario of SCENARIOS[name]!) await lateness(kind, scenario);
      }
    }
  } finally {
    await close();
    await redisServer.stop();
  }
})();

async function lateness(kind: BackendKind, scenario: LatenessScenario): Promise<void> {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) rounds.push(await measureRound(kind, scenario));
  const line = {
    bench: 'delayqueue.backend-lateness',
    case: scenario.name,
    backend: kind.name,
    jobs: scenario.measured,
    unit: 'ms',
    p50: median(rounds.map((r) => r.p50)),
    p99: median(rounds.map((r) => r.p99)),
    early: rounds.reduce((sum, r) => sum + r.early, 0),
  };
  console.log(JSON.stringify(line));
}

async function failover(kind: BackendKind, redisPort: number): Promise<void> {
  const rounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    const result = await measureFailover(kind, redisPort);
    console.log(`  failover           ${kind.name.padEnd(16)} resumed ${result.resumeMs} ms after the kill; most lateness meanwhile ${result.maxLateMs} ms`);
    rounds.push(result);
  }
  const line = {
    bench: 'delayqueue.backend-failover',
    backend: kind.name,
    unit: 'ms',
    resume: median(rounds.map((r) => r.resumeMs)),
    maxLate: median(rounds.map((r) => r.maxLateMs)),
  };
  console.log(JSON.stringify(line));
}
