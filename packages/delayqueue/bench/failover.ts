/**
 * Failover: the only consumer process is SIGKILLed while jobs come due (20 a second, each due 1 s after its
 * add); a replacement starts at once. Measured: from the kill to the replacement's first delivery, and the
 * lateness of the jobs that came due meanwhile.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { DelayQueue } from '@x/delayqueue';
import { uniqueName } from '@x/testkit';
import type { BackendKind } from './backend-kinds.js';
import { TOPIC, addTimed } from './lateness.js';

const RATE_PER_S = 20;
const DELAY_MS = 1_000;
const GIVE_UP_MS = 180_000;

export interface FailoverResult {
  /** Kill to the replacement's first delivery, ms. */
  resumeMs: number;
  /** Most lateness of a job due after the kill, ms. */
  maxLateMs: number;
}

function startConsumer(kind: BackendKind, queueName: string, redisPort: number, onDelivered: (due: number) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, [join(__dirname, 'failover-consumer.js')], {
    env: { ...process.env, X_KIND: kind.name, X_QUEUE: queueName, X_REDIS_PORT: String(redisPort) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') resolve(child);
      else if (line.startsWith('delivered ')) onDelivered(Number(line.slice('delivered '.length)));
    });
  });
}

export async function measureFailover(kind: BackendKind, redisPort: number): Promise<FailoverResult> {
  const queueName = uniqueName('bench');
  const { backend, close } = await kind.open(queueName);
  const producer = new DelayQueue({ backend });
  let killedAt = Infinity;
  let firstAfter = Infinity;
  let maxLate = 0;
  let before = 0;
  const first = await startConsumer(kind, queueName, redisPort, () => before++);
  const stream = setInterval(() => void addTimed(producer, 1, () => Date.now() + DELAY_MS, false).catch(() => undefined), 1_000 / RATE_PER_S);
  try {
    const started = Date.now();
    while (before < RATE_PER_S && Date.now() - started < GIVE_UP_MS) await new Promise((r) => setTimeout(r, 20));
    if (before === 0) throw new Error(`${kind.name}: the first consumer delivered nothing`);
    first.kill('SIGKILL');
    killedAt = Date.now();
    const replacement = await startConsumer(kind, queueName, redisPort, (due) => {
      const now = Date.now();
      firstAfter = Math.min(firstAfter, now);
      if (due > killedAt) maxLate = Math.max(maxLate, now - due);
    });
    // Until the replacement has run for as long again as it took to start delivering (its backlog drained).
    while (firstAfter === Infinity && Date.now() - killedAt < GIVE_UP_MS) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.min(30_000, Date.now() - killedAt) + 2_000));
    replacement.kill('SIGTERM');
  } finally {
    clearInterval(stream);
    first.kill('SIGKILL');
    await producer.close({ timeout: 5_000 }).catch(() => undefined);
    await close();
    await kind.cleanup(queueName, [TOPIC]);
  }
  return { resumeMs: firstAfter - killedAt, maxLateMs: maxLate };
}
