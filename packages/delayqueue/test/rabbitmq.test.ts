/**
 * The contract on a real RabbitMQ broker (what a broker can do of it), and what is particular to the
 * RabbitMQ backend: routes through the delay levels, the topology left behind, bad options.
 */
import { type ChannelModel, connect } from 'amqplib';
import { gate, rabbitMqUrl, requireRabbitMq, runTsProcess, significantStderr, startStallProxy, uniqueName } from '@x/testkit';
import { DelayQueue } from '../src/index.js';
import { RabbitMqBackend, Topology, hasDelayedMessagePlugin } from '../src/rabbitmq/index.js';
import { readJobMessage } from '../src/rabbitmq/message.js';
import { ROUTE_HEADER } from '../src/rabbitmq/topology.js';
import { jobHeaders } from '../src/broker/job-message.js';
import { conformance, eventually } from './conformance.js';

let connection: ChannelModel;
const backends: { backend: RabbitMqBackend; topics: string[] }[] = [];
const BROKER_SUPPORT = { ids: false, cancel: false, reschedule: false, get: false, deadLetters: false, counts: false, list: false, pause: false, limits: false, schedules: false };
const CONFORMANCE_TOPICS = ['email', 'bytes', 'order', 'bulk', 'flaky', 'slow', 'hang', 'long', 'many', 'closing', 'stuck', 'refused', 't'];

beforeAll(async () => {
  connection = await requireRabbitMq();
});
afterAll(async () => {
  for (const { backend, topics } of backends) {
    const cleaner = new RabbitMqBackend({ connection, name: backend.topology.name });
    await cleaner.destroy(topics).catch(() => undefined);
    await cleaner.close();
  }
  await connection.close();
});

/** Messages and consumers of `queue`, -1 each when it does not exist (asked on a channel of its own: a 404 closes it). */
async function queueCounts(queue: string): Promise<{ messages: number; consumers: number }> {
  const channel = await connection.createChannel();
  channel.on('error', () => undefined);
  try {
    const { messageCount, consumerCount } = await channel.checkQueue(queue);
    return { messages: messageCount, consumers: consumerCount };
  } catch {
    return { messages: -1, consumers: -1 };
  } finally {
    await channel.close().catch(() => undefined);
  }
}

function backend(options: { queueType?: 'quorum' | 'classic'; levels?: number } = {}, topics = CONFORMANCE_TOPICS): RabbitMqBackend {
  const created = new RabbitMqBackend({ connection, name: uniqueName('dq'), ...options });
  backends.push({ backend: created, topics });
  return created;
}

/** One run of a job's handler on the leaving or the staying consumer, on this process's clock. */
interface HandlerRun {
  who: 'leaving' | 'staying';
  id: string;
  start: number;
  end?: number;
}

/**
 * Two consumers of one queue: the leaving one runs three jobs of `topic` in handlers that ignore their abort and
 * take 1.5 s; the staying one starts consuming once all three run. Every run is logged.
 */
async function threeJobsRunningOnLeaving(first: RabbitMqBackend, second: RabbitMqBackend, topic: string): Promise<{ leaving: DelayQueue; staying: DelayQueue; runs: HandlerRun[] }> {
  const leaving = new DelayQueue({ backend: first });
  const staying = new DelayQueue({ backend: second });
  const runs: HandlerRun[] = [];
  let started!: () => void;
  const allStarted = new Promise<void>((resolve) => (started = resolve));
  leaving.process(
    topic,
    async (job) => {
      const run: HandlerRun = { who: 'leaving', id: job.id, start: Date.now() };
      runs.push(run);
      if (runs.length === 3) started();
      // Ignores its abort, as a handler stuck in a call without a signal would.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      run.end = Date.now();
    },
    { concurrency: 3 },
  );
  await Promise.all([1, 2, 3].map((i) => leaving.add(topic, i)));
  await allStarted;
  staying.process(topic, (job) => void runs.push({ who: 'staying', id: job.id, start: Date.now(), end: Date.now() }), { concurrency: 3 });
  return { leaving, staying, runs };
}

conformance('rabbitmq (quorum queues)', { create: async () => backend(), supports: BROKER_SUPPORT });
conformance('rabbitmq (classic queues)', { create: async () => backend({ queueType: 'classic' }), supports: BROKER_SUPPORT });

describe('rabbitmq backend specifics', () => {
  it('routes a delayed job to reach its ready queue earlyArrivalMs before it is due', () => {
    // 1,000 ms routed 250 ms early: 750 = 0x2EE, entering level 2 at digit 2 (512 ms). Routed 4 ms early (2 per
    // hop, as before), 996 = 0x3E4 entered at digit 3, and a burst of 500 reached its ready queue 37-192 ms late.
    const made = new RabbitMqBackend({ connection });
    expect(made.routedDelay(1_000)).toBe(750);
    expect(made.topology.route(made.routedDelay(1_000))).toEqual({ exchange: made.topology.levelName(2), routingKey: '0.0.0.0.0.2.14.0' });
    expect(new RabbitMqBackend({ connection, earlyArrivalMs: 0 }).routedDelay(1_000)).toBe(1_000);
    // Under earlyArrivalMs to go: straight to the ready queue, held by the consumer.
    expect(made.routedDelay(200)).toBe(0);
  });

  it('holds a burst routed early until its due time: none of 500 is delivered early', async () => {
    const queue = new DelayQueue({ backend: backend({}, ['burst']) });
    const due = Date.now() + 2_000;
    await queue.addBulk(Array.from({ length: 500 }, () => ({ topic: 'burst', payload: 'x', options: { delay: due - Date.now() } })));
    const delivered: number[] = [];
    queue.process('burst', (job) => void delivered.push(Date.now() - job.dueAt), { concurrency: 100 });
    await eventually(() => delivered.length === 500, 'the burst delivered', 10_000);
    await queue.close();
    expect(Math.min(...delivered)).toBeGreaterThanOrEqual(0);
  });

  it('counts a redelivery after a crash as an attempt, but never past maxAttempts', () => {
    const job = { id: 'j', topic: 't', payload: '1', attempt: 1, maxAttempts: 2, ttr: 1_000, backoff: '', dueAt: 0 };
    const received = (headers: Record<string, unknown>, redelivered: boolean) => ({
      content: Buffer.from(job.payload),
      fields: { redelivered },
      properties: { headers: { ...jobHeaders(job), ...headers } },
    });
    expect(readJobMessage(received({}, false))?.attempt).toBe(1);
    expect(readJobMessage(received({}, true))?.attempt).toBe(2);
    // Quorum queues count every redelivery; three crashes in a row still leave the job its last attempt (2), not
    // an attempt 4 of 2 (before) that a consumer would run anyway.
    expect(readJobMessage(received({ 'x-delivery-count': 3 }, true))?.attempt).toBe(2);
    expect(readJobMessage(received({ 'x-delivery-count': 3 }, true))?.maxAttempts).toBe(2);
  });

  it('spells a delay in its radix over the levels, highest first, and enters at its highest non-zero digit', () => {
    const binary = new Topology('q', 'quorum', 2, 4);
    expect(binary.route(0)).toEqual({ exchange: 'x-delayqueue.due', routingKey: '0.0.0.0' });
    // The lowest digit is the consumer's to wait out: never routed.
    expect(binary.route(1)).toEqual({ exchange: 'x-delayqueue.due', routingKey: '0.0.0.0' });
    expect(binary.route(10)).toEqual({ exchange: 'x-delayqueue.quorum.r2x4.3', routingKey: '1.0.1.0' });
    expect(binary.route(15)).toEqual({ exchange: 'x-delayqueue.quorum.r2x4.3', routingKey: '1.1.1.0' });
    expect(binary.maxRoutedDelay).toBe(14);
    const hex = new Topology('q', 'quorum', 16, 8);
    expect(hex.maxRoutedDelay).toBe(2 ** 32 - 16);
    expect(hex.route(1000)).toEqual({ exchange: 'x-delayqueue.quorum.r16x8.2', routingKey: '0.0.0.0.0.3.14.0' });
    expect(hex.waitQueue(2, 3)).toBe('x-delayqueue.quorum.r16x8.2.3');
    expect(hex.route(2 ** 32 - 1).routingKey).toBe([...Array(7).fill('15'), '0'].join('.'));
    // Levels are shared by queues of one type, radix and depth, never across them.
    expect(new Topology('other', 'quorum', 16, 8).levelName(2)).toBe(hex.levelName(2));
    expect(new Topology('q', 'classic', 16, 8).levelName(2)).toBe('x-delayqueue.classic.r16x8.2');
    expect(hex.readyQueue('emails')).toBe('q.ready.emails');
  });

  it('a job its broker cannot route rejects its add (typed), and the next add declares the queue again', async () => {
    const made = backend({}, ['gone']);
    const queue = new DelayQueue({ backend: made });
    await queue.add('gone', 'first');
    const admin = await connection.createChannel();
    await admin.deleteQueue(made.topology.readyQueue('gone'));
    await admin.close();
    // Published straight to the deliver exchange, whose only binding for it went with the queue.
    await expect(queue.add('gone', 'lost?')).rejects.toMatchObject({ code: 'ERR_UNROUTABLE' });
    await queue.add('gone', 'after');
    const seen: unknown[] = [];
    queue.process('gone', (job) => void seen.push(job.payload));
    await eventually(() => seen.includes('after'), 'the job added after the queue was declared again');
    expect(seen).toEqual(['after']);
    await queue.close();
  });

  it('a broker that stops confirming fails the writes after confirmTimeoutMs (typed) and does not hold close() for ever', async () => {
    // A real broker behind a proxy that stops passing bytes: its confirms never arrive, as when RabbitMQ 3.10
    // stopped confirming after a quorum queue was deleted under a burst (an outside check's addBulk hung for ever).
    const { port } = new URL(rabbitMqUrl());
    const proxy = await startStallProxy(Number(port || 5672), new URL(rabbitMqUrl()).hostname);
    const url = new URL(rabbitMqUrl());
    url.port = String(proxy.port);
    const proxied = await connect(url.toString());
    proxied.on('error', () => undefined);
    const made = new RabbitMqBackend({ connection: proxied, name: uniqueName('dq'), confirmTimeoutMs: 500 });
    backends.push({ backend: made, topics: ['stalled'] });
    const queue = new DelayQueue({ backend: made });
    try {
      await queue.add('stalled', 'declared first');
      proxy.stall();
      const started = Date.now();
      const error = await queue.addBulk([1, 2, 3].map((n) => ({ topic: 'stalled', payload: n }))).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_TIMEOUT' });
      expect(String((error as Error).message)).toMatch(/may or may not be stored/);
      expect(Date.now() - started).toBeLessThan(3_000);
      const closing = Date.now();
      await queue.close();
      expect(Date.now() - closing).toBeLessThan(5_000);
    } finally {
      // The link back: the connection closes as usual (amqplib's close waits for the broker's answer).
      proxy.flow();
      await proxied.close().catch(() => undefined);
      await proxy.close();
    }
  });

  it('addBulk that the broker half refuses says exactly which jobs were stored', async () => {
    const made = backend({}, ['kept', 'dropped']);
    const queue = new DelayQueue({ backend: made });
    await queue.addBulk([{ topic: 'kept', payload: 0 }, { topic: 'dropped', payload: 0 }]);
    const admin = await connection.createChannel();
    await admin.deleteQueue(made.topology.readyQueue('dropped'));
    await admin.close();
    const error = (await queue.addBulk([{ topic: 'kept', payload: 1 }, { topic: 'dropped', payload: 1 }, { topic: 'kept', payload: 2 }]).catch((e: unknown) => e)) as {
      code: string;
      written: string[];
      notWritten: string[];
      cause: { code: string };
    };
    expect(error).toMatchObject({ code: 'ERR_PARTIAL_WRITE', cause: { code: 'ERR_UNROUTABLE' } });
    expect([error.written.length, error.notWritten.length]).toEqual([2, 1]);
    const seen: unknown[] = [];
    queue.process('kept', (job) => void seen.push(job.payload));
    await eventually(() => seen.length === 3, 'the kept jobs, the first and the two stored');
    expect(seen.sort()).toEqual([0, 1, 2]);
    await queue.close();
  });

  it("a job whose ready queue was deleted mid-walk is kept aside and holds back no other queue's jobs", async () => {
    // Quorum level queues dead-letter at least once: a message with nowhere to go would stay at the head of its
    // level queue, and every delayed job of every queue on the broker would wait behind it.
    const gone = backend({}, ['walking']);
    const other = backend({}, ['behind']);
    const doomed = new DelayQueue({ backend: gone });
    const healthy = new DelayQueue({ backend: other });
    const seen: number[] = [];
    healthy.process('behind', (job) => void seen.push(Date.now() - job.dueAt));
    // What reaches the unroutable queue, seen through a queue of this test's own on its fanout exchange: the
    // shared queue's count says nothing once an operator bounds it (a max-length policy drops its oldest).
    const admin = await connection.createChannel();
    const { queue: watch } = await admin.assertQueue('', { exclusive: true });
    await admin.bindQueue(watch, gone.topology.unroutable, '');
    const kept: string[] = [];
    await admin.consume(watch, (message) => {
      if (message !== null) kept.push(`${String(message.properties.headers?.[ROUTE_HEADER])}:${message.content.toString()}`);
    }, { noAck: true });
    // Long enough a walk (routed 250 ms early: 1,250 ms) that the ready queue is gone well before it ends.
    await doomed.add('walking', 'orphan', { delay: 1_500 });
    await admin.deleteQueue(gone.topology.readyQueue('walking'));
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await healthy.add('behind', 'later', { delay: 400 });
    await eventually(() => seen.length === 1, "the other queue's job", 5_000);
    expect(seen[0]).toBeLessThan(1_000);
    await eventually(() => kept.includes(`${gone.topology.readyQueue('walking')}:"orphan"`), 'the orphan kept in the unroutable queue');
    await admin.close();
    await doomed.close();
    await healthy.close();
  });

  it('close past its timeout keeps the running jobs until their handlers end: none runs on two consumers at once', async () => {
    const name = uniqueName('dq');
    const first = new RabbitMqBackend({ connection, name });
    const second = new RabbitMqBackend({ connection, name });
    backends.push({ backend: first, topics: ['overlap'] });
    const { leaving, staying, runs } = await threeJobsRunningOnLeaving(first, second, 'overlap');
    await expect(leaving.close({ timeout: 100 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT', running: 3 });
    await eventually(() => runs.filter((r) => r.who === 'staying').length === 3, 'the three jobs on the staying queue', 10_000);
    for (const again of runs.filter((r) => r.who === 'staying')) {
      const before = runs.find((r) => r.who === 'leaving' && r.id === again.id)!;
      expect(before.end).toBeDefined();
      expect(again.start).toBeGreaterThanOrEqual(before.end!);
    }
    await staying.close();
  });

  it('a second close() waits for the handlers a timed-out close left running, so the connection can then be closed without handing their jobs over', async () => {
    const name = uniqueName('dq');
    // The leaving consumer on a connection of its own, which its owner closes after close(), as the README does.
    const own = await connect(rabbitMqUrl());
    const first = new RabbitMqBackend({ connection: own, name });
    const second = new RabbitMqBackend({ connection, name });
    backends.push({ backend: second, topics: ['handover'] });
    const { leaving, staying, runs } = await threeJobsRunningOnLeaving(first, second, 'handover');
    await expect(leaving.close({ timeout: 100 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT', running: 3 });
    // Too short again: it says so, with the jobs still running.
    await expect(leaving.close({ timeout: 100 })).rejects.toMatchObject({ code: 'ERR_CLOSE_TIMEOUT', running: 3 });
    // Long enough: it resolves once they ended (before: it rejected at once, and closing the connection then
    // handed all three jobs to the other consumer while they still ran).
    await leaving.close({ timeout: 5_000 });
    expect(runs.filter((r) => r.who === 'leaving').every((r) => r.end !== undefined)).toBe(true);
    await own.close();
    await eventually(() => runs.filter((r) => r.who === 'staying').length === 3, 'the three jobs on the staying queue', 10_000);
    for (const again of runs.filter((r) => r.who === 'staying')) {
      const before = runs.find((r) => r.who === 'leaving' && r.id === again.id)!;
      expect(again.start).toBeGreaterThanOrEqual(before.end!);
    }
    await staying.close();
  });

  it('a consumer the broker cancels (its queue deleted) says so on error, subscribes again and takes new jobs', async () => {
    const made = backend({}, ['cancelled']);
    const queue = new DelayQueue({ backend: made });
    const errors: unknown[] = [];
    queue.on('error', (error) => errors.push(error));
    const seen: unknown[] = [];
    queue.process('cancelled', (job) => void seen.push(job.payload));
    await queue.add('cancelled', 'before');
    await eventually(() => seen.length === 1, 'the first job');
    const admin = await connection.createChannel();
    await admin.deleteQueue(made.topology.readyQueue('cancelled'));
    await admin.close();
    await eventually(() => errors.some((e) => (e as { code?: string }).code === 'ERR_CONSUMER_CANCELLED'), 'the cancel reported');
    await eventually(async () => (await queueCounts(made.topology.readyQueue('cancelled'))).consumers === 1, 'a consumer again', 10_000);
    await queue.add('cancelled', 'after');
    await eventually(() => seen.includes('after'), 'a job added after the cancel');
    await queue.close();
  });

  it('waits for a full write buffer with one drain listener per channel, however many publishes wait', async () => {
    // Node warns on the real process's stderr, which a test cannot watch in its own process: a child's it can.
    const result = await runTsProcess(`${__dirname}/fixtures/rabbitmq-burst.ts`, { env: { X_RABBITMQ_URL: rabbitMqUrl(), X_QUEUE: uniqueName('dq') }, timeoutMs: 60_000 });
    expect({ code: result.code, stderr: significantStderr(result.stderr) }).toEqual({ code: 0, stderr: [] });
  }, 90_000);

  it('delivers delays longer than one walk down the levels by walking again, never early', async () => {
    // Two hex levels reach 255 ms: 1,400 ms takes several walks, each ending with a republish by the consumer.
    const queue = new DelayQueue({ backend: backend({ levels: 2 }, ['long-walk']) });
    const seen: number[] = [];
    queue.process('long-walk', () => void seen.push(Date.now()));
    const start = Date.now();
    await queue.add('long-walk', 'x', { delay: 1_400 });
    await eventually(() => seen.length === 1, 'the delivery');
    expect(seen[0]! - start).toBeGreaterThanOrEqual(1_400);
    await queue.close();
  });

  it('keeps dead letters in a queue per topic, with the last error in a header', async () => {
    const created = backend({}, ['doomed']);
    const queue = new DelayQueue({ backend: created });
    queue.process('doomed', () => {
      throw new Error('always fails');
    });
    await queue.add('doomed', { n: 1 }, { attempts: 2, backoff: { type: 'fixed', delay: 20 } });
    await eventually(() => queue.metrics().dead === 1, 'the dead letter');
    await queue.close();
    const channel = await connection.createChannel();
    const message = await channel.get(created.topology.deadQueue('doomed'), { noAck: true });
    await channel.close();
    expect(message).not.toBe(false);
    if (message === false) return;
    expect(JSON.parse(message.content.toString())).toEqual({ n: 1 });
    expect(message.properties.headers).toMatchObject({ 'x-dq-topic': 'doomed', 'x-dq-attempt': '2', 'x-dq-error': 'Error: always fails' });
  });

  it('hands buffered messages back unspent when a consumer stops, so the next consumer sees attempt 1', async () => {
    const created = backend({}, ['handover']);
    const first = new DelayQueue({ backend: created });
    const held = gate();
    const attempts: number[] = [];
    first.process('handover', async (job) => {
      attempts.push(job.attempt);
      await held.opened;
    });
    await first.addBulk(Array.from({ length: 20 }, (_, i) => ({ topic: 'handover', payload: i })));
    await eventually(() => attempts.length === 1, 'the first delivery');
    const closing = first.close();
    held.open();
    await closing;
    // Another process of the same queue: same name, same broker queues.
    const again = new DelayQueue({ backend: new RabbitMqBackend({ connection, name: created.topology.name }) });
    const later: number[] = [];
    again.process('handover', (job) => void later.push(job.attempt), { concurrency: 4 });
    await eventually(() => later.length === 19, 'the other 19 jobs');
    expect(later.every((attempt) => attempt === 1)).toBe(true);
    await again.close();
  });

  it('keeps queues apart: jobs of one queue never reach another queue on the same broker', async () => {
    const first = new DelayQueue({ backend: backend({}, ['shared-topic']) });
    const second = new DelayQueue({ backend: backend({}, ['shared-topic', 'other-topic']) });
    const seenFirst: unknown[] = [];
    const seenSecond: unknown[] = [];
    first.process('shared-topic', (job) => void seenFirst.push(job.payload));
    second.process('shared-topic', (job) => void seenSecond.push(job.payload));
    second.process('other-topic', (job) => void seenSecond.push(job.payload));
    await first.addBulk([
      { topic: 'shared-topic', payload: 'first-now' },
      { topic: 'shared-topic', payload: 'first-later', options: { delay: 300 } },
    ]);
    await second.add('other-topic', 'second-now');
    await eventually(() => seenFirst.length === 2 && seenSecond.length === 1, 'each queue its own deliveries');
    await new Promise((r) => setTimeout(r, 200));
    expect(seenFirst.sort()).toEqual(['first-later', 'first-now']);
    expect(seenSecond).toEqual(['second-now']);
    await Promise.all([first.close(), second.close()]);
  });

  it('detects the delayed-message plugin on a connection of its own (the broker closes the one it is asked on)', async () => {
    // This broker is stock: the probe is refused, and the shared test connection must survive that.
    expect(await hasDelayedMessagePlugin(rabbitMqUrl())).toBe(false);
    const channel = await connection.createChannel();
    await channel.checkExchange('amq.direct');
    await channel.close();
  });

  it('rejects bad options and topics too long for AMQP names, before touching the broker', async () => {
    const bad: [string, () => unknown][] = [
      ['no connection', () => new RabbitMqBackend({} as never)],
      ['levels 0', () => new RabbitMqBackend({ connection, levels: 0 })],
      ['levels past 2^53 ms', () => new RabbitMqBackend({ connection, radix: 16, levels: 14 })],
      ['radix 1', () => new RabbitMqBackend({ connection, radix: 1 })],
      ['radix 17', () => new RabbitMqBackend({ connection, radix: 17 })],
      ['queue type', () => new RabbitMqBackend({ connection, queueType: 'stream' as never })],
      ['prefetch', () => new RabbitMqBackend({ connection, prefetch: 0 })],
      ['early arrival below 0', () => new RabbitMqBackend({ connection, earlyArrivalMs: -1 })],
      ['early arrival past half the hold', () => new RabbitMqBackend({ connection, earlyArrivalMs: 501 })],
      ['unknown option', () => new RabbitMqBackend({ connection, exchange: 'x' } as never)],
      ['name with NUL', () => new RabbitMqBackend({ connection, name: 'q\u0000' })],
      ['name with BEL', () => new RabbitMqBackend({ connection, name: 'q\u0007x' })],
    ];
    for (const [what, make] of bad) {
      expect({ what, thrown: catchCode(make) }).toEqual({ what, thrown: 'ERR_INVALID_ARGUMENT' });
    }
    const queue = new DelayQueue({ backend: backend({}, []) });
    await expect(queue.add('t'.repeat(250), 1)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT', argument: 'topic' });
    expect(() => queue.process('t'.repeat(250), () => undefined)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    await queue.close();
  });
});

function catchCode(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code;
  }
}
