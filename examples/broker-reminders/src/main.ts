/**
 * Reminders on a message broker through the same DelayQueue API as the Redis and memory backends: schedules
 * them, starts worker processes, SIGKILLs one mid-way, and shows every reminder was still sent (at least once),
 * never early — and what a broker cannot do (find a job by id), refused with a typed error.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DelayQueue, UnsupportedOperationError } from '@x/delayqueue';
import { BACKEND, LEAD_MS, REMINDERS, SPAN_MS, TOPIC, WORKERS, openBackend } from './backend.js';

interface Sent {
  id: string;
  late: number;
  attempt: number;
}

async function main(): Promise<void> {
  const name = `reminders-${process.pid}`;
  const { backend, release } = await openBackend(name);
  const queue = new DelayQueue({ backend, ttr: 2_000 });
  const sent = new Map<string, Sent[]>();
  const workers: ChildProcess[] = [];
  // Ctrl-C ends the run early; the queue's topics or queues are removed all the same (below, in finally).
  const interrupted = new AbortController();
  process.once('SIGINT', () => {
    console.log("\nstopped early (Ctrl-C): stopping the workers and removing the queue's topics or queues");
    interrupted.abort();
  });
  const pause = (ms: number): Promise<void> => sleep(ms, undefined, { signal: interrupted.signal }).catch(() => undefined);
  try {
    workers.push(...(await Promise.all(Array.from({ length: WORKERS }, () => startWorker(name, sent)))));
    const start = Date.now() + LEAD_MS;
    const reminders = Array.from({ length: REMINDERS }, (_, i) => {
      const due = start + Math.floor((i * SPAN_MS) / REMINDERS);
      return { topic: TOPIC, payload: { to: `user-${i}@example.com`, due }, options: { runAt: due } };
    });
    await queue.addBulk(reminders);
    console.log(`${BACKEND}: ${REMINDERS} reminders due over the ${SPAN_MS} ms starting ${LEAD_MS} ms from now, ${WORKERS} workers`);
    const refused = await queue.cancel('any-id').catch((error: unknown) => error);
    if (refused instanceof UnsupportedOperationError) console.log(`cancel: ${refused.message} (a broker keeps no index of its messages)`);

    await pause(LEAD_MS + SPAN_MS / 3);
    if (interrupted.signal.aborted) return;
    const victim = workers[0]!;
    victim.kill('SIGKILL');
    console.log(`SIGKILLed worker ${victim.pid} mid-way`);
    // Said now, not after a silent wait: on Kafka the killed worker's partitions wait for its group session to end.
    if (BACKEND === 'kafka') console.log("its partitions' reminders wait for the group to notice (6 s session here)...");
    if (BACKEND === 'kafka-platformatic') {
      console.log("its partitions' reminders wait for the group to notice (the broker's session: group.consumer.session.timeout.ms, 45 s by default, 10 s on the broker of npm run services)...");
    }

    const deadline = Date.now() + SPAN_MS + 60_000;
    while (sent.size < REMINDERS && Date.now() < deadline && !interrupted.signal.aborted) await pause(100);
    if (interrupted.signal.aborted) return;
    const all = [...sent.values()].flat();
    const late = all.map((s) => s.late).sort((a, b) => a - b);
    const at = (q: number): number => late[Math.min(late.length - 1, Math.floor(q * late.length))] ?? NaN;
    console.log(`sent ${sent.size} of ${REMINDERS} reminders; ${all.length - sent.size} sends were repeats of one the killed worker had not acknowledged`);
    console.log(`lateness (sent minus due): p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms; early: ${late.filter((l) => l < 0).length}`);
    if (sent.size !== REMINDERS) process.exitCode = 1;
  } finally {
    for (const worker of workers) if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGTERM');
    await Promise.all(workers.map((w) => new Promise((resolve) => (w.exitCode !== null || w.signalCode !== null ? resolve(undefined) : w.once('exit', resolve)))));
    await (backend as { destroy?: (topics: string[]) => Promise<void> }).destroy?.([TOPIC]);
    await queue.close();
    await release();
    if (interrupted.signal.aborted) process.exitCode = 130;
  }
}

function startWorker(name: string, sent: Map<string, Sent[]>): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'worker.js'), [name]);
  child.on('message', (message: Sent | 'ready') => {
    if (message === 'ready') return;
    const list = sent.get(message.id) ?? [];
    list.push(message);
    sent.set(message.id, list);
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('error', reject);
  });
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
