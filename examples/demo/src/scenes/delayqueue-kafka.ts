import { DelayQueue } from '@x/delayqueue';
import { KafkaBackend } from '@x/delayqueue/kafka';
import { platformaticClient } from '@x/delayqueue/platformatic';
import type { Scene } from '../scene.js';
import { reachable } from '../reachable.js';

const BROKER = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const JOBS = 300;
/** Consumer groups take seconds to form: the jobs fall due after that, over one second. */
const LEAD_MS = 8_000;

export const delayqueueKafkaScene: Scene = {
  title: `@x/delayqueue — ${JOBS} jobs through Kafka's delay-level topics, on @platformatic/kafka (needs a Kafka broker)`,
  async run(log, stop) {
    if (!(await reachable(BROKER))) {
      log(`skipped: no Kafka broker at ${BROKER} (npm run services -- up kafka starts one)`);
      return;
    }
    const kafka = platformaticClient({ clientId: 'x-demo', bootstrapBrokers: BROKER.split(',') });
    const backend = new KafkaBackend({ kafka, name: `x-demo-${process.pid}-${Date.now()}` });
    const queue = new DelayQueue({ backend });
    const lateness: number[] = [];
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    queue.process(
      'reminder',
      (job) => {
        lateness.push(Date.now() - job.dueAt);
        if (lateness.length === JOBS) allDone();
      },
      { concurrency: 50 },
    );
    try {
      const start = Date.now() + LEAD_MS;
      await queue.addBulk(Array.from({ length: JOBS }, (_, i) => ({ topic: 'reminder', payload: i, options: { runAt: start + Math.floor((i * 1_000) / JOBS) } })));
      log(`added ${JOBS} jobs due between ${LEAD_MS / 1000} and ${LEAD_MS / 1000 + 1} s from now; they walk the level topics (1 s, 2 s, 4 s) to the ready topic`);
      await Promise.race([done, new Promise((resolve) => stop.addEventListener('abort', resolve, { once: true }))]);
      if (stop.aborted) return;
      lateness.sort((a, b) => a - b);
      const at = (q: number): number => lateness[Math.min(lateness.length - 1, Math.floor(q * lateness.length))]!;
      log(`delivered ${lateness.length} of ${JOBS}; lateness p50 ${at(0.5)} ms, p99 ${at(0.99)} ms; early: ${lateness.filter((ms) => ms < 0).length}`);
    } finally {
      // The queue's topics and groups go however the scene ends (Ctrl-C included).
      await queue.close();
      const cleaner = new KafkaBackend({ kafka, name: backend.topics.name });
      await cleaner.destroy(['reminder']);
      await cleaner.close();
    }
  },
};
