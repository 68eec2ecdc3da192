/**
 * The queue users hold: validates every argument, hands jobs to its backend and runs consumers. The same class
 * runs on every backend, so behaviour (retries, dead letters, close, events) is identical across them.
 */
import { EventEmitter } from 'node:events';
import {
  type Clock,
  CloseTimeoutError,
  ClosedError,
  InvalidArgumentError,
  assertFunction,
  assertKnownKeys,
  assertNumber,
  settlesWithin,
  systemClock,
} from '@x/core';
import type { Backend, BackendListener, BackendSupport, JobCounts, ListState, TopicLimits } from './backend.js';
import { checkLimits } from './topic-limits.js';
import { decodeCursor, encodeCursor } from './list-cursor.js';
import { UnsupportedOperationError } from './errors.js';
import { QueueTracing } from './tracing.js';
import type { AddOptions, JobHandler, JobInfo, RetryBackoff } from './job.js';
import { MemoryBackend } from './memory/memory-backend.js';
import { Metrics, type QueueMetrics } from './metrics.js';
import { type JobDefaults, assertDelay, assertName, buildJob, checkDefaults } from './new-job.js';
import { type ProcessOptions, Processor, type ProcessorHost } from './processor.js';
import { ScheduleDriver } from './schedule-driver.js';
import type { ScheduleRule } from './schedule-rule.js';
import { type ScheduleInfo, type ScheduleOptions, planSchedule, sameSchedule, scheduleInfo } from './schedules.js';

/** Options of {@link DelayQueue}. */
export interface DelayQueueOptions {
  /** Where jobs live. Default: a new in-memory backend (`MemoryBackend`). */
  backend?: Backend;
  /** Default time to run of a delivery, ms. Default 30 s. */
  ttr?: number;
  /** Default deliveries before a job is dead-lettered. Default 3. */
  attempts?: number;
  /** Default retry backoff. Default: exponential from 1 s to 1 h with full jitter. */
  backoff?: RetryBackoff;
  /** Largest payload as JSON, bytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Clock for handlers' ttr signals and `runAt` conversion. Default: `systemClock`. */
  clock?: Clock;
}

/** Options of {@link DelayQueue.close}. */
export interface CloseOptions {
  /** How long to wait for running handlers, ms. Default 10 s. */
  timeout?: number;
}

/** Events a {@link DelayQueue} emits, with their payloads. */
export interface DelayQueueEvents {
  added: [{ id: string; topic: string }];
  due: [{ topic: string; count: number }];
  delivered: [{ id: string; topic: string; attempt: number; lateness: number }];
  retried: [{ id: string; topic: string; attempt: number; delay: number; error: string }];
  dead: [{ id: string; topic: string; attempt: number; error: string }];
  expired: [{ topic: string; count: number; dead: number }];
  /**
   * A schedule's ticks were missed while no worker of its topic ran: the ticks after `tick` up to `next` were not
   * added, and `tick`'s own job was deleted when `dropped` (`missed: 'skip'`). `next` is undefined when the rule
   * has no more ticks.
   */
  missed: [{ topic: string; schedule: string; tick: number; dropped: boolean; next: number | undefined }];
  /** Background failures (backend unreachable...). The queue keeps going. Without a listener they become process warnings. */
  error: [unknown];
}

/** Options of {@link DelayQueue.list}. */
export interface ListOptions {
  /** Where to go on: the `cursor` of the page before. Default: from the first job. */
  cursor?: string;
  /** Most jobs on the page (1..1000). Default 100. */
  limit?: number;
}

/** A page of {@link DelayQueue.list}. */
export interface JobPage<T = unknown> {
  readonly jobs: JobInfo<T>[];
  /** Pass it back for the next page; undefined when the state held no more jobs. */
  readonly cursor: string | undefined;
}

/** Options of {@link DelayQueue.requeueDead} and {@link DelayQueue.purgeDead}. */
export interface DeadLetterOptions<T = unknown> {
  /** Only the dead jobs it returns true for (it sees each with its payload, attempts and last error). Default: all. */
  filter?: (job: JobInfo<T>) => boolean;
}

/** Backends a queue was made with: each serves one queue (its events go to that queue's listeners). */
const BOUND = new WeakSet<Backend>();

const BULK_JOB_KEYS = ['topic', 'payload', 'options'];
const OPTION_KEYS = ['backend', 'ttr', 'attempts', 'backoff', 'maxPayloadBytes', 'clock'];
const CLOSE_OPTION_KEYS = ['timeout'];
const LIST_STATES: readonly ListState[] = ['delayed', 'ready', 'reserved', 'dead'];
/** Dead jobs read and moved per round trip by requeueDead and purgeDead. */
const DEAD_PAGE = 1000;
const BASE_DEFAULTS: Omit<JobDefaults, 'encodedBackoff'> = {
  ttr: 30_000,
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000, maxDelay: 3_600_000, jitter: true },
};

/**
 * A delay queue: jobs run once they are due, at least once, with retries and a dead-letter list.
 *
 * @example
 * ```ts
 * import { DelayQueue } from '@x/delayqueue';
 *
 * const queue = new DelayQueue();                       // in memory; see @x/delayqueue/redis for Redis
 * queue.process('email', async (job) => send(job.payload), { concurrency: 10 });
 * await queue.add('email', { to: 'ada@example.com' }, { delay: 30 * 60_000, id: 'welcome:ada' });
 * // ...
 * await queue.close();
 * ```
 */
export class DelayQueue extends EventEmitter<DelayQueueEvents> implements AsyncDisposable {
  private readonly backend: Backend;
  private readonly defaults: JobDefaults;
  private readonly maxPayloadBytes: number;
  private readonly clock: Clock;
  private readonly processors = new Set<Processor>();
  /** One per topic this queue consumes, stepping the topic's schedules. */
  private readonly drivers = new Map<string, ScheduleDriver>();
  private readonly tracing = new QueueTracing();
  private readonly metricsState = new Metrics(
    (topic) => this.runningOf(topic),
    (topics) => this.backend.countJobs?.(topics),
  );
  /** What every processor of this queue shares. */
  private readonly host: ProcessorHost;
  private closing: Promise<void> | undefined;
  /** After a close that timed out: settles once the handlers it left running ended and the backend closed. */
  private abandoned: Promise<void> | undefined;

  constructor(options: DelayQueueOptions = {}) {
    super();
    assertKnownKeys('options', options, OPTION_KEYS);
    this.defaults = checkDefaults(options, BASE_DEFAULTS);
    this.maxPayloadBytes = assertNumber('options.maxPayloadBytes', options.maxPayloadBytes ?? 1024 * 1024, {
      min: 1,
      max: 512 * 1024 * 1024,
      integer: true,
    });
    this.clock = options.clock ?? systemClock;
    this.backend = options.backend ?? new MemoryBackend({ clock: this.clock });
    if (typeof (this.backend as Partial<Backend> | null)?.bind !== 'function' || typeof (this.backend as Partial<Backend>).reserve !== 'function') {
      throw new InvalidArgumentError('options.backend', options.backend, 'a delay-queue backend (MemoryBackend, RedisBackend, RabbitMqBackend, KafkaBackend)');
    }
    const metrics = this.metricsState;
    const listener: BackendListener = {
      due: (topic, count) => {
        metrics.count('due', topic, count);
        this.emitSafely('due', { topic, count });
      },
      expired: (topic, count, dead) => {
        metrics.count('expired', topic, count);
        metrics.count('dead', topic, dead);
        this.emitSafely('expired', { topic, count, dead });
      },
      error: (error) => this.reportError(error),
      lost: (topic, id, attempt, reason) => {
        for (const processor of this.processors) if (processor.topic === topic) processor.abortDelivery(id, attempt, reason);
      },
    };
    if (BOUND.has(this.backend)) {
      throw new InvalidArgumentError('options.backend', `the ${this.backend.name} backend of another DelayQueue`, 'a backend no other DelayQueue was made with (one backend per queue)');
    }
    BOUND.add(this.backend);
    this.backend.bind(listener);
    this.host = {
      backend: this.backend,
      clock: this.clock,
      metrics,
      tracing: this.tracing,
      emit: (event, payload) => this.emitSafely(event as 'added', payload as DelayQueueEvents['added'][0]),
      reportError: (error) => this.reportError(error),
    };
  }

  /** What this queue's backend can do beyond delivering jobs; the rest throws UnsupportedOperationError. */
  get supports(): BackendSupport {
    return this.backend.supports;
  }

  /**
   * Adds a job; resolves to its id once the backend has stored it. With an `id` that already exists, nothing is
   * added and the same id is returned.
   *
   * @throws InvalidArgumentError (`ERR_INVALID_ARGUMENT`) for a bad topic or option, PayloadNotSerializableError,
   * PayloadTooLargeError, ClosedError, UnsupportedOperationError (an `id` on a backend that cannot deduplicate,
   * see `backend.supports`); nothing is written in any of these cases.
   */
  async add<T>(topic: string, payload: T, options?: AddOptions): Promise<string> {
    const [id] = await this.addBulk([{ topic, payload, options }]);
    return id!;
  }

  /**
   * Adds many jobs in one round trip where the backend allows it. All are validated first: one bad job throws
   * and none is written.
   */
  async addBulk(jobs: readonly { topic: string; payload: unknown; options?: AddOptions }[]): Promise<string[]> {
    this.assertOpen();
    if (!Array.isArray(jobs)) throw new InvalidArgumentError('jobs', jobs, 'an array');
    const now = this.clock.wallNow();
    const built = jobs.map((job, i) => {
      if (typeof job !== 'object' || job === null) throw new InvalidArgumentError(`jobs[${i}]`, job, 'an object');
      // A misspelt `options` (say `opts`) would silently drop the job's delay.
      assertKnownKeys(`jobs[${i}]`, job, BULK_JOB_KEYS);
      return buildJob(job.topic, job.payload, job.options, this.defaults, this.maxPayloadBytes, now);
    });
    // One context for the call: every job of it was added in the same one.
    const trace = this.tracing.carrier();
    if (trace !== undefined) for (let i = 0; i < built.length; i++) built[i] = { ...built[i]!, trace };
    if (built.length === 0) return [];
    if (!this.backend.supports.ids && built.some((job) => !job.idGenerated)) this.unsupported('add with an id');
    const created = await this.backend.add(built);
    built.forEach((job, i) => {
      if (!created[i]) return;
      this.metricsState.count('added', job.topic);
      this.emitSafely('added', { id: job.id, topic: job.topic });
    });
    return built.map((job) => job.id);
  }

  /** Deletes a job that is delayed, ready or dead. False when it is running in a handler, done, or unknown. */
  async cancel(id: string): Promise<boolean> {
    this.assertOpen();
    if (!this.backend.supports.cancel) this.unsupported('cancel');
    return this.backend.cancel(assertName('id', id));
  }

  /** Makes a delayed or ready job due `delay` ms from now. False in any other state. */
  async reschedule(id: string, delay: number): Promise<boolean> {
    this.assertOpen();
    if (!this.backend.supports.reschedule) this.unsupported('reschedule');
    return this.backend.reschedule(assertName('id', id), assertDelay('delay', delay));
  }

  /** A snapshot of the job, or undefined when it is unknown (or done long enough ago to be forgotten). */
  async get<T = unknown>(id: string): Promise<JobInfo<T> | undefined> {
    this.assertOpen();
    if (!this.backend.supports.get) this.unsupported('get');
    const info = await this.backend.get(assertName('id', id));
    return info && parseInfo<T>(info);
  }

  /** Dead-lettered jobs of `topic`, oldest first (at most `limit`, default 100). */
  async dead<T = unknown>(topic: string, limit = 100): Promise<JobInfo<T>[]> {
    this.assertOpen();
    if (!this.backend.supports.deadLetters) this.unsupported('dead');
    assertName('topic', topic);
    assertNumber('limit', limit, { min: 1, max: 100_000, integer: true });
    return (await this.backend.dead(topic, limit)).map((info) => parseInfo<T>(info));
  }

  /**
   * How many jobs wait in each state, per topic: `topic`'s alone, or every topic jobs were ever added to on this
   * backend (by any worker or process) when none is given. Read from what the store keeps per topic (set and list
   * sizes in Redis, counters in memory): no walk over the jobs. A job being delivered is `reserved`; done jobs are
   * not counted.
   *
   * @example
   * ```ts
   * const { email } = await queue.counts('email'); // { delayed: 12, ready: 0, reserved: 2, dead: 1 }
   * ```
   */
  async counts(topic?: string): Promise<Record<string, JobCounts>> {
    this.assertOpen();
    if (!this.backend.supports.counts || this.backend.countJobs === undefined) this.unsupported('counts');
    const topics = topic === undefined ? ((await this.backend.topicNames?.()) ?? []) : [assertName('topic', topic)];
    const counted = await this.backend.countJobs(topics);
    return Object.fromEntries(topics.map((name) => [name, counted.get(name) ?? { delayed: 0, ready: 0, reserved: 0, dead: 0 }]));
  }

  /**
   * One page of `topic`'s jobs in `state`: delayed ones in due order, ready ones in the order consumers take them,
   * reserved ones by the end of their time to run, dead ones newest first; each with its payload, attempts and
   * last error. Pass the page's `cursor` back for the next one. A page is one consistent snapshot; jobs that move
   * between pages may be missed or seen again (a ready job's cursor that was taken meanwhile starts over from the
   * oldest ready job). Redis seeks to the cursor in O(log n); the memory backend walks its jobs per page.
   *
   * @example
   * ```ts
   * let cursor: string | undefined;
   * do {
   *   const page = await queue.list('email', 'dead', { cursor, limit: 500 });
   *   for (const job of page.jobs) console.log(job.id, job.attempts, job.lastError);
   *   cursor = page.cursor;
   * } while (cursor);
   * ```
   * @throws InvalidArgumentError for a bad topic, state, limit or a cursor of another topic or state;
   * UnsupportedOperationError on a broker backend (`supports.list`).
   */
  async list<T = unknown>(topic: string, state: ListState, options: ListOptions = {}): Promise<JobPage<T>> {
    this.assertOpen();
    if (!this.backend.supports.list || this.backend.list === undefined) this.unsupported('list');
    assertName('topic', topic);
    if (!LIST_STATES.includes(state)) throw new InvalidArgumentError('state', state, `one of ${LIST_STATES.join(', ')}`);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
    assertKnownKeys('options', options, ['cursor', 'limit']);
    const limit = assertNumber('options.limit', options.limit ?? 100, { min: 1, max: 1000, integer: true });
    const after = options.cursor === undefined ? undefined : decodeCursor(options.cursor, topic, state);
    const page = await this.backend.list(topic, state, after, limit);
    return { jobs: page.jobs.map((info) => parseInfo<T>(info)), cursor: page.next && encodeCursor(topic, state, page.next) };
  }

  /**
   * Puts `topic`'s dead jobs back (those `filter` accepts; all by default), due in `delay` ms (default 0), their
   * attempts reset; resolves to how many went back. Reads and moves them a thousand at a time, newest first: a
   * job that dies again meanwhile is not taken twice. A filter that throws stops the walk (those moved so far stay
   * moved).
   *
   * @example
   * ```ts
   * await queue.requeueDead('email', { filter: (job) => job.lastError?.includes('ECONNRESET') ?? false });
   * ```
   */
  async requeueDead<T = unknown>(topic: string, options: DeadLetterOptions<T> & { delay?: number } = {}): Promise<number> {
    const filter = this.deadLetterFilter('requeueDead', topic, options, ['filter', 'delay']);
    const delay = assertDelay('options.delay', options.delay ?? 0);
    return this.walkDead<T>(topic, filter, (ids) => this.backend.requeueDead!(topic, ids, delay));
  }

  /** Deletes `topic`'s dead jobs (those `filter` accepts; all by default); resolves to how many went. As requeueDead. */
  async purgeDead<T = unknown>(topic: string, options: DeadLetterOptions<T> = {}): Promise<number> {
    const filter = this.deadLetterFilter('purgeDead', topic, options, ['filter']);
    return this.walkDead<T>(topic, filter, (ids) => this.backend.purgeDead!(topic, ids));
  }

  /**
   * Stops handing out `topic`'s jobs to every consumer of the backend, in every process, from the next reservation
   * on (handlers running now finish). Adds go on, and jobs still fall due: after `resume` they are delivered in
   * due order, their lateness counted from their due time. Idempotent.
   *
   * @example
   * ```ts
   * await queue.pause('payments');   // the provider is down
   * // ...
   * await queue.resume('payments');
   * ```
   */
  async pause(topic: string): Promise<void> {
    this.assertPausing('pause');
    await this.backend.pause!(assertName('topic', topic));
  }

  /** Lets a paused topic's jobs go out again, waking its consumers. Idempotent. */
  async resume(topic: string): Promise<void> {
    this.assertPausing('resume');
    await this.backend.resume!(assertName('topic', topic));
  }

  /** The topics paused now (by any worker on the backend), sorted. */
  async pausedTopics(): Promise<string[]> {
    this.assertPausing('pausedTopics');
    return this.backend.pausedTopics!();
  }

  /**
   * Limits `topic`'s deliveries for every worker on the backend together, in every process: at most `rate` within
   * any `intervalMs` (default 1 s; a sliding window counted as jobs are reserved, retries included) and at most
   * `concurrency` reserved at once. `{}` removes them. Jobs held back wait, ready and in due order, their lateness
   * counted from their due time; the workers held back wait without polling until the window or a slot frees.
   *
   * @example
   * ```ts
   * await queue.setLimits('sms', { rate: 100, intervalMs: 1_000, concurrency: 20 }); // the provider's quota
   * ```
   * @throws InvalidArgumentError for a bad topic or limit (whole numbers from 1 to 2^31-1); UnsupportedOperationError
   * on a broker backend (`supports.limits`).
   */
  async setLimits(topic: string, limits: TopicLimits): Promise<void> {
    this.assertOpen();
    if (!this.backend.supports.limits || this.backend.setLimits === undefined) this.unsupported('setLimits');
    await this.backend.setLimits(assertName('topic', topic), checkLimits(limits));
  }

  /** Every limited topic's limits on the backend, set by any worker. */
  async limits(): Promise<Record<string, TopicLimits>> {
    this.assertOpen();
    if (!this.backend.supports.limits || this.backend.limitsOf === undefined) this.unsupported('limits');
    return Object.fromEntries(await this.backend.limitsOf());
  }

  /**
   * Adds a job to `topic` at every tick of `rule`: a cron pattern in a time zone (`{ cron: '0 2 * * *', tz:
   * 'Europe/Berlin' }`; 5 fields, or 6 with seconds first; default zone UTC) or a fixed interval (`{ everyMs }`,
   * ticks counted from now). Exactly one job per tick, however many workers and processes consume the topic: the
   * next tick's job is always stored ahead (id `name@<tick as ISO time>`), and stepping to the one after is a
   * compare-and-set in the backend. `name` is unique on the backend: scheduling it again with another rule,
   * payload, options or topic replaces it (its stored tick job goes if it still waits); with the same ones it
   * changes nothing (an app may schedule at every start: its stored tick and its interval's grid stay). Daylight saving: a fixed time in the hour that does not exist
   * runs at the first instant after it, a fixed time that happens twice runs once, and interval patterns
   * (`*\/15 * * * *`) run in both copies of a repeated hour. Ticks are stepped by the queues that `process` the
   * topic; see `options.missed` for ticks that fall while none runs.
   *
   * @example
   * ```ts
   * await queue.schedule('reports', 'nightly', { cron: '0 2 * * *', tz: 'Europe/Berlin' }, { kind: 'daily' });
   * await queue.schedule('heartbeat', 'ping', { everyMs: 30_000 });
   * ```
   * @throws InvalidArgumentError for a bad topic, name (at most 200 characters), rule, time zone or option, or a
   * rule with no tick within 100 years; PayloadNotSerializableError, PayloadTooLargeError; UnsupportedOperationError
   * on a broker backend (`supports.schedules`). Nothing is written in any of these cases.
   */
  async schedule<T>(topic: string, name: string, rule: ScheduleRule, payload?: T, options: ScheduleOptions = {}): Promise<ScheduleInfo<T>> {
    this.assertScheduling('schedule');
    assertName('topic', topic);
    // The first tick is worked out on this process's clock (later ones are stepped on the backend's).
    const now = this.clock.wallNow();
    const planned = planSchedule(topic, name, rule, payload ?? null, options, this.defaults, this.maxPayloadBytes, now);
    const existing = await this.backend.scheduleOf?.(name);
    if (existing !== undefined && sameSchedule(existing, topic, planned)) return scheduleInfo<T>(existing);
    await this.backend.putSchedule!(topic, name, planned.definition, planned.first);
    this.drivers.get(topic)?.nudge();
    return scheduleInfo<T>({ name, topic, definition: planned.definition, next: planned.first.runAt! });
  }

  /** Every schedule on the backend (put by any worker), or `topic`'s, by name, each with its next tick. */
  async schedules<T = unknown>(topic?: string): Promise<ScheduleInfo<T>[]> {
    this.assertScheduling('schedules');
    if (topic !== undefined) assertName('topic', topic);
    const stored = await this.backend.listSchedules!();
    return stored.filter((schedule) => topic === undefined || schedule.topic === topic).map((schedule) => scheduleInfo<T>(schedule));
  }

  /** Removes a schedule, and its stored tick job if that still waits. False when there was none of that name. */
  async unschedule(name: string): Promise<boolean> {
    this.assertScheduling('unschedule');
    const removed = await this.backend.removeSchedule!(assertName('name', name));
    for (const driver of this.drivers.values()) driver.nudge();
    return removed;
  }

  /** Puts a dead job back, due in `delay` ms (default 0), with its attempts reset. False when it is not dead. */
  async requeue(id: string, delay = 0): Promise<boolean> {
    this.assertOpen();
    if (!this.backend.supports.deadLetters) this.unsupported('requeue');
    return this.backend.requeue(assertName('id', id), assertDelay('delay', delay));
  }

  /**
   * Runs `handler` for each job of `topic` once it is due, with up to `concurrency` at once in this process.
   * Resolving acknowledges the job; throwing retries it with its backoff, then dead-letters it after its last
   * attempt. A delivery whose handler neither finishes nor calls `job.extend()` within the job's ttr is delivered
   * again (its `job.signal` aborts at that moment).
   */
  process<T = unknown>(topic: string, handler: JobHandler<T>, options: ProcessOptions = {}): Processor {
    this.assertOpen();
    assertName('topic', topic);
    assertFunction('handler', handler);
    assertKnownKeys('options', options, ['concurrency']);
    const concurrency = assertNumber('options.concurrency', options.concurrency ?? 1, { min: 1, max: 100_000, integer: true });
    if (!this.drivers.has(topic) && this.schedulesSupported()) this.drivers.set(topic, new ScheduleDriver(this.host, topic));
    // A tick stored while no worker ran, too late for `missed: 'skip'`, is dropped by the driver's first step or,
    // if a consumer takes it first, at its delivery (stale-ticks.ts).
    const processor = new Processor(this.host, topic, handler as JobHandler<unknown>, concurrency);
    this.processors.add(processor);
    return processor;
  }

  /** Counters and recent lateness percentiles. */
  metrics(): QueueMetrics {
    let running = 0;
    for (const processor of this.processors) running += processor.active;
    return this.metricsState.snapshot(running);
  }

  /** Handlers of `topic` running now. */
  private runningOf(topic: string): number {
    let running = 0;
    for (const processor of this.processors) if (processor.topic === topic) running += processor.active;
    return running;
  }

  /**
   * Stops taking jobs, waits up to `timeout` ms for running handlers, then releases the backend. If handlers are
   * still running then, their signals abort and this rejects with CloseTimeoutError at once; nothing those
   * handlers do is written, and the backend is released only once they have ended, so no job runs on two
   * consumers at the same time: then their jobs are delivered again (Redis, memory: after their ttr; RabbitMQ,
   * Kafka: when released). Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.closing !== undefined && this.abandoned === undefined) return this.closing;
    // Bad options reject, as every other method's do.
    let timeoutMs: number;
    try {
      if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
      assertKnownKeys('options', options, CLOSE_OPTION_KEYS);
      timeoutMs = assertNumber('options.timeout', options.timeout ?? 10_000, { min: 0 });
    } catch (error) {
      return Promise.reject(error);
    }
    // A close that timed out left handlers running: this one waits for them (and the backend's close) once more.
    if (this.abandoned !== undefined) return this.awaitAbandoned(this.abandoned, timeoutMs);
    this.closing = this.shutdown(timeoutMs);
    return this.closing;
  }

  /** Waits up to `timeoutMs` for handlers a timed-out close left running; rejects again if some still run. */
  private async awaitAbandoned(abandoned: Promise<void>, timeoutMs: number): Promise<void> {
    if (await settlesWithin(abandoned, timeoutMs, { clock: this.clock })) return;
    const running = [...this.processors].flatMap((p) => p.runningIds());
    throw new CloseTimeoutError(timeoutMs, running.length, { consequence: 'they still run; their jobs stay with this consumer until they end', ids: running });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.metricsState.close();
    const processors = [...this.processors];
    await Promise.all([...processors.map((p) => p.stopTaking()), ...[...this.drivers.values()].map((d) => d.close())]);
    const drained = Promise.all(processors.map((p) => p.drained()));
    if (await settlesWithin(drained, timeoutMs, { clock: this.clock })) return this.backend.close();
    const running = processors.flatMap((p) => p.runningIds());
    const failure = new CloseTimeoutError(timeoutMs, running.length, {
      consequence:
        'their signals were aborted and nothing they do is written; the backend keeps their jobs until they end, then ' +
        'they are delivered again (Redis, memory: after their ttr; RabbitMQ, Kafka: once released)',
      ids: running,
    });
    for (const p of processors) p.abandonRunning(failure);
    // Closing the backend now would hand the jobs to another consumer (an unacked message, a partition) while
    // these handlers still run: the same job twice at once. It closes once they have ended; a later close()
    // waits for that (before the caller closes its own connection, which would hand them over just the same).
    this.abandoned = drained.then(() => this.backend.close());
    this.abandoned.catch((error: unknown) => this.reportError(error));
    throw failure;
  }

  private deadLetterFilter<T>(operation: string, topic: string, options: DeadLetterOptions<T>, keys: string[]): ((job: JobInfo<T>) => boolean) | undefined {
    this.assertOpen();
    const backend = this.backend;
    if (!backend.supports.deadLetters || backend.requeueDead === undefined || backend.purgeDead === undefined || backend.list === undefined) {
      this.unsupported(operation);
    }
    assertName('topic', topic);
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
    assertKnownKeys('options', options, keys);
    if (options.filter !== undefined) assertFunction('options.filter', options.filter);
    return options.filter;
  }

  /** Reads `topic`'s dead jobs page by page and hands the ids `filter` accepts to `act`; sums what it reports. */
  private async walkDead<T>(topic: string, filter: ((job: JobInfo<T>) => boolean) | undefined, act: (ids: string[]) => Promise<number>): Promise<number> {
    let total = 0;
    let cursor: string | undefined;
    do {
      const page = await this.list<T>(topic, 'dead', { cursor, limit: DEAD_PAGE });
      total += await act((filter === undefined ? page.jobs : page.jobs.filter((job) => picked(filter, job))).map((job) => job.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    return total;
  }

  private assertPausing(operation: string): void {
    this.assertOpen();
    const backend = this.backend;
    if (!backend.supports.pause || backend.pause === undefined || backend.resume === undefined || backend.pausedTopics === undefined) this.unsupported(operation);
  }

  private schedulesSupported(): boolean {
    const backend = this.backend;
    return (
      backend.supports.schedules &&
      backend.putSchedule !== undefined &&
      backend.removeSchedule !== undefined &&
      backend.listSchedules !== undefined &&
      backend.dueSchedules !== undefined &&
      backend.stepSchedules !== undefined
    );
  }

  private assertScheduling(operation: string): void {
    this.assertOpen();
    if (!this.schedulesSupported()) this.unsupported(operation);
  }

  private assertOpen(): void {
    if (this.closing) throw new ClosedError('the delay queue');
  }

  private unsupported(operation: string): never {
    throw new UnsupportedOperationError(operation, this.backend.name);
  }

  /**
   * Emits an event from the queue's own work (a delivery, a retry, a mover): a listener that throws must not
   * break that work or become an unhandled rejection, so its error goes to `error` instead.
   */
  private emitSafely<E extends keyof DelayQueueEvents>(event: E, ...payload: DelayQueueEvents[E]): void {
    try {
      this.emit(event, ...(payload as never));
    } catch (error) {
      this.reportError(error);
    }
  }

  private reportError(error: unknown): void {
    if (this.listenerCount('error') > 0) {
      try {
        this.emit('error', error);
        return;
      } catch (listenerError) {
        error = listenerError;
      }
    }
    // A string, never the error itself: emitWarning refuses an Error from another realm (a vm context, jest).
    process.emitWarning((error as { stack?: unknown } | undefined)?.stack?.toString() ?? String(error), { code: 'X_DELAYQUEUE_BACKGROUND' });
  }
}

/**
 * The filter's verdict on one dead job. Only a boolean is one: a Promise (an async filter) or any other value is
 * truthy, and taking it for a yes would requeue or delete every dead letter.
 */
function picked<T>(filter: (job: JobInfo<T>) => boolean, job: JobInfo<T>): boolean {
  const verdict: unknown = filter(job);
  if (typeof verdict !== 'boolean') {
    // The verdict is the bad value: the function itself says little (an arrow function has no name).
    throw new InvalidArgumentError('options.filter', verdict, 'a function that returns true or false for each job (an async filter returns a Promise)');
  }
  return verdict;
}

function parseInfo<T>(info: JobInfo<string>): JobInfo<T> {
  return info.payload === undefined ? (info as JobInfo<never>) : { ...info, payload: JSON.parse(info.payload) as T };
}
