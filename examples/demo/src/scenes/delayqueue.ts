import { DelayQueue } from '@x/delayqueue';
import type { Scene } from '../scene.js';

const ORDERS = 2_000;
const SPAN_MS = 600;

interface Order {
  order: number;
  /** Local epoch ms the reminder is meant for. */
  due: number;
}

export const delayqueueScene: Scene = {
  title: '@x/delayqueue — 2,000 "is this order paid yet?" checks, in memory: retries, a dead letter, cancels, pause and requeue, recurring jobs',
  async run(log) {
    const queue = new DelayQueue({ attempts: 3, backoff: { type: 'fixed', delay: 20 } });
    let early = 0;
    let flakyFailures = 0;
    const done = new Set<number>();
    let target = Infinity;
    let finished!: () => void;
    const allDone = new Promise<void>((resolve) => (finished = resolve));
    let providerDown = true;
    let lastAttempt13 = 0;
    // Order 13's payment provider fails while it is down: it ends in the dead-letter list. Every 100th order fails once.
    queue.process<Order>(
      'check-payment',
      async (job) => {
        if (Date.now() < job.payload.due) early++;
        if (job.payload.order === 13) {
          lastAttempt13 = job.attempt;
          if (providerDown) throw new Error('payment provider answered 503');
        }
        if (job.payload.order % 100 === 0 && job.attempt === 1) {
          flakyFailures++;
          throw new Error('timeout talking to the payment provider');
        }
        done.add(job.payload.order);
        if (done.size === target) finished();
      },
      { concurrency: 32 },
    );
    const now = Date.now();
    const ids = await queue.addBulk(
      Array.from({ length: ORDERS }, (_, order) => {
        const due = now + 50 + Math.floor((order * SPAN_MS) / ORDERS);
        return { topic: 'check-payment', payload: { order, due }, options: { runAt: due, id: `order-${order}` } };
      }),
    );
    // Ten customers pay right away: their checks are cancelled before they run. A producer retrying its add
    // changes nothing: ids make adds idempotent.
    let cancelled = 0;
    for (let order = 1; order <= 10; order++) if (await queue.cancel(ids[order * 7]!)) cancelled++;
    await queue.add('check-payment', { order: 1, due: now }, { id: 'order-1' });
    // Everything but the cancelled checks and order 13 must complete.
    target = ORDERS - cancelled - 1;
    if (done.size === target) finished();
    await allDone;
    let dead = await queue.dead<Order>('check-payment');
    while (dead.length === 0) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      dead = await queue.dead<Order>('check-payment');
    }
    // The operator's side: the topic is paused for every worker, the dead letters the outage caused go back (their
    // attempts reset) and wait, ready, until the provider is back and the topic resumes.
    await queue.pause('check-payment');
    const requeued = await queue.requeueDead<Order>('check-payment', { filter: (job) => job.lastError?.includes('503') ?? false });
    let counts = (await queue.counts('check-payment'))['check-payment']!;
    while (counts.ready < requeued) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      counts = (await queue.counts('check-payment'))['check-payment']!;
    }
    const whilePaused = { ...counts, done: done.has(13) };
    providerDown = false;
    await queue.resume('check-payment');
    while (!done.has(13)) await new Promise((resolve) => setTimeout(resolve, 10));
    // Recurring jobs: a nightly reconciliation at 02:00 Berlin time, and a quick one every 50 ms watched for five
    // ticks. Each tick is one job (its id names the tick) however many workers would run.
    const ticks: { id: string; lateness: number }[] = [];
    queue.process('reconcile', (job) => void ticks.push({ id: job.id, lateness: job.lateness }));
    const nightly = await queue.schedule('reconcile', 'nightly', { cron: '0 2 * * *', tz: 'Europe/Berlin' });
    await queue.schedule('reconcile', 'every-50ms', { everyMs: 50 });
    while (ticks.length < 5) await new Promise((resolve) => setTimeout(resolve, 10));
    await queue.unschedule('every-50ms');
    const schedules = (await queue.schedules()).map((s) => s.name);
    await queue.close();
    const m = queue.metrics();
    log(`${m.added} checks added (${ORDERS} ids, the repeated add ignored), ${cancelled} cancelled before running`);
    log(`${m.delivered} deliveries: ${m.acked} done, ${m.retried} retried (${flakyFailures} flaky failures + order 13's first two tries)`);
    log(`dead letters: ${dead.map((d) => `${d.id} after ${d.attempts} attempts ("${d.lastError}")`).join(', ')}`);
    log(`paused, requeued ${requeued} dead letter: ${JSON.stringify(whilePaused)}; resumed once the provider was back: order 13 done on attempt ${lastAttempt13}`);
    log(`schedules: 5 ticks of every-50ms (${ticks[0]!.id} .. ${ticks[4]!.id}, lateness at most ${Math.max(...ticks.slice(0, 5).map((t) => t.lateness)).toFixed(1)} ms); left: ${schedules.join(', ')}, next ${nightly.nextJobId}`);
    // metrics() keeps the last 4,096 deliveries' lateness: here that is every one.
    log(`lateness over ${m.lateness.count === m.delivered ? 'all' : `the last ${m.lateness.count} of the`} ${m.lateness.count === m.delivered ? m.lateness.count : m.delivered} deliveries: p50 ${m.lateness.p50.toFixed(2)} ms, p99 ${m.lateness.p99.toFixed(2)} ms; ran before due: ${early}`);
  },
};
