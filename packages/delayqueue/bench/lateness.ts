/** One lateness round on one backend: consumers start, a scenario adds its jobs, the measured ones are timed. */
import { DelayQueue } from '@x/delayqueue';
import { uniqueName } from '@x/testkit';
import type { BackendKind } from './backend-kinds.js';

export const TOPIC = 'email';
const CONSUMERS = 4;
const CONCURRENCY = 50;

/** What a measured job carries: when it is due, by this process's clock. */
interface Timed {
  due: number;
  measured: boolean;
}

export interface LatenessScenario {
  readonly name: string;
  /** Jobs whose lateness is measured. */
  readonly measured: number;
  /** Adds what the measured jobs wait behind (after one job went through the levels). */
  before?(producer: DelayQueue): Promise<void>;
  /** Adds the measured jobs, the first due `leadMs` from now at the earliest. */
  add(producer: DelayQueue, leadMs: number): Promise<void>;
}

export interface RoundResult {
  p50: number;
  p99: number;
  max: number;
  early: number;
  timedOut: boolean;
}

/** Adds `count` jobs (1,000 per addBulk), job i due at `dueOf(i)`. */
export async function addTimed(producer: DelayQueue, count: number, dueOf: (i: number) => number, measured = true): Promise<void> {
  for (let i = 0; i < count; i += 1_000) {
    const now = Date.now();
    await producer.addBulk(
      Array.from({ length: Math.min(1_000, count - i) }, (_, k) => {
        const due = dueOf(i + k);
        return { topic: TOPIC, payload: { due, measured } satisfies Timed, options: { delay: Math.max(0, due - now) } };
      }),
    );
  }
}

/** 4 consumers (own connections) x 50 handlers; lateness = delivery time - due time, ms. */
export async function measureRound(kind: BackendKind, scenario: LatenessScenario): Promise<RoundResult> {
  const queueName = uniqueName('bench');
  // Memory keeps jobs in one process: its producer is its consumer.
  const shared = kind.name === 'memory' ? await kind.open(queueName) : undefined;
  const opened = await Promise.all(Array.from({ length: CONSUMERS + 1 }, async () => shared ?? (await kind.open(queueName))));
  const queues = opened.map(({ backend }, i) => (shared && i > 0 ? undefined : new DelayQueue({ backend })));
  const producer = queues[0]!;
  const late: number[] = [];
  let warm = 0;
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  for (let i = 0; i < CONSUMERS; i++) {
    const queue = queues[i + 1] ?? producer;
    queue.process<Timed>(
      TOPIC,
      (job) => {
        if (!job.payload.measured) return void warm++;
        late.push(Date.now() - job.payload.due);
        if (late.length === scenario.measured) done();
      },
      { concurrency: CONCURRENCY },
    );
    if (shared) break;
  }
  let timedOut: boolean;
  try {
    if (scenario.before !== undefined) {
      // One job through the delay levels first (1.5 s is past Kafka's 1 s base), so every path is warm.
      await addTimed(producer, 1, () => Date.now() + 1_500, false);
      const deadline = Date.now() + 60_000;
      while (warm === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await scenario.before(producer);
    }
    if (kind.settled !== undefined && !shared) await kind.settled(queueName, [TOPIC], CONSUMERS);
    await scenario.add(producer, kind.leadMs);
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), kind.leadMs + 60_000).unref());
    timedOut = (await Promise.race([all.then(() => 'done' as const), timeout])) === 'timeout';
  } finally {
    for (const queue of queues) await queue?.close({ timeout: 5_000 }).catch(() => undefined);
    for (const { close } of new Set(opened)) await close();
    await kind.cleanup(queueName, [TOPIC]);
  }
  late.sort((a, b) => a - b);
  const at = (q: number): number => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN;
  const result = { p50: at(0.5), p99: timedOut ? Infinity : at(0.99), max: late.at(-1) ?? NaN, early: late.filter((l) => l < 0).length, timedOut };
  console.log(
    `  ${scenario.name.padEnd(18)} ${kind.name.padEnd(16)} ${late.length}/${scenario.measured}${timedOut ? ' (timed out)' : ''}  p50 ${result.p50} ms  p99 ${at(0.99)} ms  max ${result.max} ms`,
  );
  return result;
}
