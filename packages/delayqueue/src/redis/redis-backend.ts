/**
 * The Redis backend: a job pool hash, delayed buckets per topic (sorted sets by due time), ready lists, a
 * reserved set scored by ttr deadline, dead sets; every state change one Lua script (scripts.ts).
 *
 * Movers sleep on a local timer until the earliest due time they know of; a script that schedules something
 * earlier publishes the topic on the queue's wake channel, which every process's movers hear.
 * Consumers wait with a blocking pop on a token list, never on the jobs themselves: a token only says "jobs
 * may be ready", and the job is then reserved by a script that records its deadline in the same atomic step.
 * A token lost with a crashed process costs latency (until the next token or rescan), never a job; a job
 * lost with a crashed consumer is found by its deadline and delivered again.
 */
import { type Clock, ClosedError, InvalidArgumentError, assertKnownKeys, assertNumber, assertString, sleep, systemClock } from '@x/core';
import {
  type Backend,
  type BackendListener,
  type BackendPage,
  type Delivery,
  type DueSchedules,
  FULL_SUPPORT,
  type JobCounts,
  type ListPosition,
  type ListState,
  type NewJob,
  type ScheduleStep,
  type StepOutcome,
  type StoredSchedule,
  type TopicLimits,
  type TopicWatch,
} from '../backend.js';
import type { JobInfo, JobState } from '../job.js';
import { QueueKeys } from './keys.js';
import { decodeRecord, topicOf } from './record.js';
import { type RedisClient, runScript } from './script-runner.js';
import { ACK, BURY, CANCEL, COUNT, EXTEND, RESUME_WAKE, INSPECT, LIST, LIST_READY, PURGE_DEAD, REQUEUE, REQUEUE_DEAD, RESCHEDULE, RESERVE, RESUME, RETRY } from './scripts.js';
import { AddWriter } from './add-writer.js';
import { RedisSchedules } from './schedule-store.js';
import { ServerClock } from './server-clock.js';
import { TopicMover } from './topic-mover.js';

/** Options of {@link RedisBackend}. */
export interface RedisBackendOptions {
  /**
   * An ioredis `Redis` or `Cluster`. The backend sends commands on it and opens one duplicate per consuming
   * topic for blocking waits; it closes only those duplicates.
   */
  redis: RedisClient;
  /** The queue's name: every key starts with `{name}` (one Cluster slot per queue). Default `delayqueue`. */
  name?: string;
  /** Delayed buckets per topic (1..64, default 1). See the README: within one Redis, more buckets only split the sorted sets. */
  buckets?: number;
  /** Finished ids remembered, so re-adding them is a no-op. Default 10,000. */
  keepDone?: number;
  /** Most jobs one mover script moves, and most deliveries it takes back (1..2000, default 1000). */
  moveBatch?: number;
  /** Longest a consumer or mover waits without looking, ms (a safety net for lost wake-ups). Default 10 s. */
  rescanMs?: number;
  /** Clock for the movers' timers. Default: `systemClock`. */
  clock?: Clock;
}

const OPTION_KEYS = ['redis', 'name', 'buckets', 'keepDone', 'moveBatch', 'rescanMs', 'clock'];
/** Longest wait for a rate window that a consumer waits out on a local timer rather than in a blocking pop. */
const LOCAL_WAIT_MS = 1_000;
/** First character of a wake-channel message naming a topic whose schedules changed (see schedule-scripts.ts). */
const SCHEDULES_CHANGED = '\u0000';

interface PendingAck {
  id: string;
  attempt: number;
  resolve: (ok: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Jobs in Redis (standalone or Cluster), shared by any number of producer and consumer processes.
 *
 * @example
 * ```ts
 * import Redis from 'ioredis';
 * import { DelayQueue } from '@x/delayqueue';
 * import { RedisBackend } from '@x/delayqueue/redis';
 *
 * const redis = new Redis();
 * const queue = new DelayQueue({ backend: new RedisBackend({ redis, name: 'billing' }) });
 * ```
 */
export class RedisBackend implements Backend {
  readonly name = 'redis';
  readonly supports = FULL_SUPPORT;
  private readonly client: RedisClient;
  private readonly keys: QueueKeys;
  private readonly serverClock: ServerClock;
  private readonly writer: AddWriter;
  private readonly schedules: RedisSchedules;
  private readonly keepDone: number;
  private readonly moveBatch: number;
  private readonly rescanMs: number;
  private readonly clock: Clock;
  private listener: BackendListener | undefined;
  private readonly movers = new Map<string, { mover: TopicMover; users: number }>();
  /** Per topic, the schedule drivers of this process, told when a schedule of the topic is put anywhere. */
  private readonly scheduleWatchers = new Map<string, Set<() => void>>();
  private readonly blocking = new Set<RedisClient>();
  /** Listens for wake-ups of this queue's movers; opened with the first watch. */
  private subscriber: RedisClient | undefined;
  private readonly pendingAcks = new Map<string, PendingAck[]>();
  /** Topics whose last reservation a rate limit cut short: when (this process's clock) the window lets more out. */
  private readonly limitedUntil = new Map<string, number>();
  private ackFlushScheduled = false;
  /** ACK script calls sent and not answered yet: close() waits for them. */
  private readonly acksInFlight = new Set<Promise<void>>();
  private closed = false;

  constructor(options: RedisBackendOptions) {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', options, 'an object');
    assertKnownKeys('options', options, OPTION_KEYS);
    const client = options.redis;
    if (typeof (client as { evalsha?: unknown } | undefined)?.evalsha !== 'function' || typeof client.duplicate !== 'function') {
      throw new InvalidArgumentError('options.redis', client, 'an ioredis Redis or Cluster');
    }
    this.client = client;
    const name = assertString('options.name', options.name ?? 'delayqueue', 128);
    if (/[{}\s]/.test(name)) throw new InvalidArgumentError('options.name', name, 'a name without braces or whitespace');
    const buckets = assertNumber('options.buckets', options.buckets ?? 1, { min: 1, max: 64, integer: true });
    this.keys = new QueueKeys(name, buckets);
    this.keepDone = assertNumber('options.keepDone', options.keepDone ?? 10_000, { min: 0, max: 10_000_000, integer: true });
    this.moveBatch = assertNumber('options.moveBatch', options.moveBatch ?? 1000, { min: 1, max: 2000, integer: true });
    this.rescanMs = assertNumber('options.rescanMs', options.rescanMs ?? 10_000, { min: 10, max: 3_600_000 });
    this.clock = options.clock ?? systemClock;
    this.serverClock = new ServerClock(client);
    // This process's movers hear of new due times directly; other processes' movers through the wake channel.
    this.writer = new AddWriter(client, this.keys, this.serverClock, (topic, due, now) => this.movers.get(topic)?.mover.expect(due, now));
    // Schedules put by other processes are found by reading again at most a second later; ticks are stored ahead
    // by a whole period, so that second delays none of them.
    this.schedules = new RedisSchedules(client, this.keys, 1_000);
  }

  bind(listener: BackendListener): void {
    this.listener = listener;
  }

  async add(jobs: readonly NewJob[]): Promise<boolean[]> {
    this.assertOpen();
    return this.writer.add(jobs);
  }

  async cancel(id: string): Promise<boolean> {
    this.assertOpen();
    return this.byTopic(id, (topic, t) => {
      const k = this.keys;
      return [CANCEL, [k.jobs, k.attempts, k.errors, k.readyAt, t.ready, t.reserved, t.dead, k.bucket(t, id)], [id, topic]];
    });
  }

  async reschedule(id: string, delay: number): Promise<boolean> {
    this.assertOpen();
    return this.byTopic(id, (topic, t) => {
      const k = this.keys;
      return [RESCHEDULE, [k.jobs, k.readyAt, t.ready, k.bucket(t, id), t.next], [id, topic, delay, k.wakeChannel]];
    });
  }

  async requeue(id: string, delay: number): Promise<boolean> {
    this.assertOpen();
    return this.byTopic(id, (topic, t) => {
      const k = this.keys;
      return [REQUEUE, [k.jobs, k.attempts, k.errors, t.dead, k.bucket(t, id), t.next], [id, topic, delay, k.wakeChannel]];
    });
  }

  async get(id: string): Promise<JobInfo<string> | undefined> {
    this.assertOpen();
    const k = this.keys;
    for (let tries = 0; tries < 3; tries++) {
      const record = await this.client.hget(k.jobs, id);
      if (record === null) {
        return (await this.client.zscore(k.done, id)) === null ? undefined : { id, state: 'done', attempts: 0 };
      }
      const topic = topicOf(record);
      const t = k.topic(topic);
      const reply = (await runScript(this.client, INSPECT, [k.jobs, k.attempts, k.errors, k.readyAt, t.reserved, t.dead, k.bucket(t, id)], [id, topic])) as
        | [string, string, string, string, string | null]
        | -1
        | null;
      if (reply === -1) continue;
      if (reply === null) continue;
      const [state, rec, attempts, at, error] = reply;
      // 'unknown' is a moment between scripts that a consistent snapshot cannot show; treat it as ready.
      return info(id, (state === 'unknown' ? 'ready' : state) as JobState, rec, attempts, at, error);
    }
    return undefined;
  }

  async reserve(topic: string, max: number): Promise<Delivery[]> {
    this.assertOpen();
    const k = this.keys;
    const t = k.topic(topic);
    const keys = [k.jobs, k.attempts, k.readyAt, t.ready, t.reserved, t.signal, t.next, k.paused, k.limits, t.rate];
    const reply = (await runScript(this.client, RESERVE, keys, [max, k.wakeChannel, topic])) as (string | number)[];
    const now = Number(reply[0]);
    const out: Delivery[] = [];
    let earliestDeadline = Infinity;
    // A rate limit held jobs back: this process's consumers of the topic look again once the window lets more out.
    const wait = Number(reply[1]);
    if (wait >= 0) this.limitedUntil.set(topic, this.clock.now() + wait);
    for (let i = 2; i < reply.length; i += 4) {
      const dueAt = Number(reply[i + 2]);
      const record = decodeRecord(String(reply[i + 3]));
      out.push({
        id: String(reply[i]),
        topic,
        payload: record.payload,
        backoff: record.backoff,
        maxAttempts: record.maxAttempts,
        ttr: record.ttr,
        attempt: Number(reply[i + 1]),
        dueAt,
        lateness: Math.max(0, now - dueAt),
        ...(record.trace === undefined ? {} : { trace: record.trace }),
      });
      earliestDeadline = Math.min(earliestDeadline, now + record.ttr);
    }
    // This process's mover learns of the deadlines at once, without waiting for the published wake-up.
    if (out.length > 0) this.movers.get(topic)?.mover.expect(earliestDeadline, now);
    return out;
  }

  /** Acks of one event-loop turn travel in one script call per topic: a busy consumer saves a round trip per job. */
  ack(topic: string, id: string, attempt: number): Promise<boolean> {
    return new Promise((resolve, reject) => {
      let list = this.pendingAcks.get(topic);
      if (!list) this.pendingAcks.set(topic, (list = []));
      list.push({ id, attempt, resolve, reject });
      if (!this.ackFlushScheduled) {
        this.ackFlushScheduled = true;
        setImmediate(this.flushAcks);
      }
    });
  }

  async retry(topic: string, id: string, attempt: number, delay: number, error: string): Promise<boolean> {
    const k = this.keys;
    const t = k.topic(topic);
    const keys = [k.attempts, k.errors, t.reserved, k.bucket(t, id), t.next, t.ready, t.signal];
    const retried = (await runScript(this.client, RETRY, keys, [id, attempt, delay, error, k.wakeChannel, topic])) === 1;
    if (retried) {
      // Due times are on the Redis server's clock; the offset to it was measured against this process's wall
      // clock (Date.now), so the same clock converts. The `clock` option drives the movers' timers only.
      const now = await this.serverClock.toServer(Date.now());
      this.movers.get(topic)?.mover.expect(now + delay, now);
    }
    return retried;
  }

  async bury(topic: string, id: string, attempt: number, error: string): Promise<boolean> {
    const k = this.keys;
    const t = k.topic(topic);
    return (await runScript(this.client, BURY, [k.attempts, k.errors, t.reserved, t.dead, t.ready, t.signal], [id, attempt, error])) === 1;
  }

  async extend(topic: string, id: string, attempt: number, ttr: number): Promise<boolean> {
    const t = this.keys.topic(topic);
    return (await runScript(this.client, EXTEND, [this.keys.attempts, t.reserved], [id, attempt, ttr])) === 1;
  }

  /** The oldest first: the list script's page over the dead set, ascending. */
  async dead(topic: string, limit: number): Promise<JobInfo<string>[]> {
    this.assertOpen();
    const k = this.keys;
    const reply = (await runScript(this.client, LIST, [k.jobs, k.attempts, k.errors, k.topic(topic).dead], [limit, 'asc', '', ''])) as string[];
    return pageJobs(reply, 'dead');
  }

  async list(topic: string, state: ListState, after: ListPosition | undefined, limit: number): Promise<BackendPage> {
    this.assertOpen();
    const k = this.keys;
    const t = k.topic(topic);
    const reply = (
      state === 'ready'
        ? await runScript(this.client, LIST_READY, [k.jobs, k.attempts, k.errors, k.readyAt, t.ready], [limit, after?.id ?? ''])
        : await runScript(
            this.client,
            LIST,
            [k.jobs, k.attempts, k.errors, ...(state === 'delayed' ? t.buckets : [state === 'reserved' ? t.reserved : t.dead])],
            [limit, state === 'dead' ? 'desc' : 'asc', after === undefined ? '' : String(after.at), after?.id ?? ''],
          )
    ) as string[];
    return { jobs: pageJobs(reply, state), next: reply[1] === '' ? undefined : { at: Number(reply[0]), id: reply[1]! } };
  }

  async requeueDead(topic: string, ids: readonly string[], delay: number): Promise<number> {
    this.assertOpen();
    if (ids.length === 0) return 0;
    const k = this.keys;
    const t = k.topic(topic);
    const args: (string | number)[] = [k.wakeChannel, topic, delay];
    for (const id of ids) args.push(id, k.bucketIndex(id) + 1);
    return (await runScript(this.client, REQUEUE_DEAD, [k.jobs, k.attempts, k.errors, t.dead, t.next, ...t.buckets], args)) as number;
  }

  async purgeDead(topic: string, ids: readonly string[]): Promise<number> {
    this.assertOpen();
    if (ids.length === 0) return 0;
    const k = this.keys;
    return (await runScript(this.client, PURGE_DEAD, [k.jobs, k.attempts, k.errors, k.topic(topic).dead], [...ids])) as number;
  }

  async pause(topic: string): Promise<void> {
    this.assertOpen();
    await this.client.sadd(this.keys.paused, topic);
  }

  async resume(topic: string): Promise<void> {
    this.assertOpen();
    const t = this.keys.topic(topic);
    await runScript(this.client, RESUME, [this.keys.paused, t.ready, t.signal], [topic]);
  }

  async pausedTopics(): Promise<string[]> {
    this.assertOpen();
    return (await this.client.smembers(this.keys.paused)).sort();
  }

  async setLimits(topic: string, limits: TopicLimits): Promise<void> {
    this.assertOpen();
    const { rate, intervalMs, concurrency } = { rate: 0, intervalMs: 0, concurrency: 0, ...limits };
    const t = this.keys.topic(topic);
    // New limits start a new rate window, as on the memory backend (the deliveries counted so far go).
    const write = this.client.multi().del(t.rate);
    if (rate === 0 && concurrency === 0) write.hdel(this.keys.limits, topic);
    else write.hset(this.keys.limits, topic, `${rate}:${intervalMs}:${concurrency}`);
    await write.exec();
    this.limitedUntil.delete(topic);
    // Consumers held back by the old limits look again.
    await runScript(this.client, RESUME_WAKE, [t.ready, t.signal], []);
  }

  async limitsOf(): Promise<Map<string, TopicLimits>> {
    this.assertOpen();
    const stored = await this.client.hgetall(this.keys.limits);
    return new Map(Object.entries(stored).map(([topic, spec]) => [topic, parseLimits(spec)]));
  }

  watch(topic: string): TopicWatch {
    this.assertOpen();
    const t = this.keys.topic(topic);
    let entry = this.movers.get(topic);
    if (!entry) {
      const mover = new TopicMover(this.client, this.keys, t, topic, this.moveBatch, this.rescanMs, this.clock, this.listener);
      entry = { mover, users: 0 };
      this.movers.set(topic, entry);
      mover.trigger();
    }
    entry.users++;
    this.subscribe();
    const blocking = this.client.duplicate();
    // Errors on the blocking connection surface through the pending command; keep them off 'error' crashes.
    blocking.on('error', () => undefined);
    this.blocking.add(blocking);
    const waitSeconds = this.rescanMs / 1000;
    let closed = false;
    return {
      wait: async (signal) => {
        if (signal.aborted) throw signal.reason;
        const onAbort = (): void => blocking.disconnect();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          // Under a rate limit that held jobs back, no token comes when the window frees: every consumer of the
          // topic in this process waits only that long. Redis ends a blocking wait on its own timer (hz 10: up to
          // 100 ms late), so a window under a second is waited out here instead, on a local timer.
          const limited = (this.limitedUntil.get(topic) ?? 0) - this.clock.now();
          if (limited > 0 && limited <= LOCAL_WAIT_MS) await sleep(limited, { signal, clock: this.clock });
          else await blocking.blpop(t.signal, limited > 0 ? Math.min(waitSeconds, limited / 1000) : waitSeconds);
        } catch (error) {
          if (signal.aborted) throw signal.reason;
          throw error;
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      },
      close: async () => {
        if (closed) return;
        closed = true;
        blocking.disconnect();
        this.blocking.delete(blocking);
        const current = this.movers.get(topic);
        if (current && --current.users === 0) {
          current.mover.close();
          this.movers.delete(topic);
        }
      },
    };
  }

  /**
   * Deletes every key of this queue — all topics, all jobs, dead letters, done ids — and resolves to how many
   * keys went. Stop consumers and producers first. Uses UNLINK: the pool hash can hold millions of jobs, and DEL
   * would free them inside the command, stalling every client of the server for as long
   * (see examples/redis-unlink: 440 ms for a million fields).
   */
  async destroy(): Promise<number> {
    const nodes = 'nodes' in this.client ? this.client.nodes('master') : [this.client];
    const pattern = `${this.keys.prefixPattern}*`;
    let deleted = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        // All keys of a queue share one hash tag, so one UNLINK may take a whole batch, on a Cluster too.
        if (keys.length > 0) deleted += await node.unlink(...keys);
      } while (cursor !== '0');
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { mover } of this.movers.values()) mover.close();
    this.movers.clear();
    for (const client of this.blocking) client.disconnect();
    this.blocking.clear();
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    await this.writer.drain();
    if (this.ackFlushScheduled) await new Promise((resolve) => setImmediate(resolve));
    // An ack on the wire when the caller closes its Redis client would be lost: the job would run again.
    await Promise.all(this.acksInFlight);
  }

  private subscribe(): void {
    if (this.subscriber) return;
    const subscriber = this.client.duplicate();
    this.subscriber = subscriber;
    subscriber.on('error', () => undefined);
    subscriber.on('message', (_channel: string, message: string) => {
      // A topic never starts with U+0000 (no control characters): such a message says a topic's schedules changed.
      if (message.startsWith(SCHEDULES_CHANGED)) this.scheduleWatchers.get(message.slice(1))?.forEach((changed) => changed());
      else this.movers.get(message)?.mover.trigger();
    });
    // Wake-ups published while the connection was down are lost: look at every topic once it is back.
    subscriber.on('ready', this.lookAgain);
    // Nor does a wake-up published before the subscription took effect reach us ('ready' comes before that:
    // on a Cluster, a tick put at once waited for the 10 s rescan). Whatever was written until then is seen by
    // looking once more after it.
    subscriber.subscribe(this.keys.wakeChannel).then(this.lookAgain, (error: unknown) => {
      if (!this.closed) this.listener?.error(error);
    });
  }

  /** Runs every mover and tells every schedule watcher to read again: for when wake-ups may have been missed. */
  private readonly lookAgain = (): void => {
    if (this.closed) return;
    for (const { mover } of this.movers.values()) mover.trigger();
    for (const watchers of this.scheduleWatchers.values()) watchers.forEach((changed) => changed());
  };

  private readonly flushAcks = (): void => {
    this.ackFlushScheduled = false;
    const k = this.keys;
    for (const [topic, acks] of this.pendingAcks) {
      this.pendingAcks.delete(topic);
      const args: (string | number)[] = [this.keepDone];
      for (const a of acks) args.push(a.id, a.attempt);
      const t = k.topic(topic);
      const sent = runScript(this.client, ACK, [k.jobs, k.attempts, k.errors, k.done, t.reserved, t.ready, t.signal], args).then(
        (reply) => acks.forEach((a, i) => a.resolve((reply as number[])[i] === 1)),
        (error: unknown) => acks.forEach((a) => a.reject(error)),
      );
      this.acksInFlight.add(sent);
      void sent.finally(() => this.acksInFlight.delete(sent));
    }
  };

  /** Jobs by state per topic: one script per topic (a topic's keys share a slot), all sent at once. */
  async putSchedule(topic: string, name: string, definition: string, first: NewJob): Promise<void> {
    this.assertOpen();
    await this.schedules.put(topic, name, definition, first);
  }

  async removeSchedule(name: string): Promise<boolean> {
    this.assertOpen();
    return this.schedules.remove(name);
  }

  async listSchedules(): Promise<StoredSchedule[]> {
    this.assertOpen();
    return this.schedules.list();
  }

  async dueSchedules(topic: string, limit: number): Promise<DueSchedules> {
    this.assertOpen();
    return this.schedules.due(topic, limit);
  }

  async stepSchedules(topic: string, steps: readonly ScheduleStep[]): Promise<StepOutcome[]> {
    this.assertOpen();
    return this.schedules.step(topic, steps);
  }

  async scheduleOf(name: string): Promise<StoredSchedule | undefined> {
    this.assertOpen();
    return this.schedules.get(name);
  }

  watchSchedules(topic: string, changed: () => void): () => void {
    this.assertOpen();
    this.subscribe();
    let watchers = this.scheduleWatchers.get(topic);
    if (watchers === undefined) this.scheduleWatchers.set(topic, (watchers = new Set()));
    watchers.add(changed);
    return () => {
      watchers.delete(changed);
      if (watchers.size === 0 && this.scheduleWatchers.get(topic) === watchers) this.scheduleWatchers.delete(topic);
    };
  }

  async countJobs(topics: readonly string[]): Promise<Map<string, JobCounts>> {
    this.assertOpen();
    const counted = await Promise.all(
      topics.map(async (topic) => {
        const t = this.keys.topic(topic);
        const [delayed, ready, reserved, dead] = (await runScript(this.client, COUNT, [t.ready, t.reserved, t.dead, ...t.buckets], [])) as number[];
        return [topic, { delayed: delayed!, ready: ready!, reserved: reserved!, dead: dead! }] as const;
      }),
    );
    return new Map(counted);
  }

  async topicNames(): Promise<string[]> {
    this.assertOpen();
    return (await this.client.smembers(this.keys.topics)).sort();
  }

  /** Reads the job's topic, then runs the script built for it; re-reads once if the id changed topic meanwhile. */
  private async byTopic(
    id: string,
    build: (topic: string, t: ReturnType<QueueKeys['topic']>) => [Parameters<typeof runScript>[1], string[], (string | number)[]],
  ): Promise<boolean> {
    for (let tries = 0; tries < 3; tries++) {
      const record = await this.client.hget(this.keys.jobs, id);
      if (record === null) return false;
      const topic = topicOf(record);
      const [script, keys, args] = build(topic, this.keys.topic(topic));
      const reply = await runScript(this.client, script, keys, args);
      if (reply !== -1) return reply === 1;
    }
    return false;
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the Redis backend');
  }
}

/** The jobs of a list script's reply: after the last position, id, score, record, attempts, error for each. */
function pageJobs(reply: string[], state: JobState): JobInfo<string>[] {
  const jobs: JobInfo<string>[] = [];
  for (let i = 2; i < reply.length; i += 5) jobs.push(info(reply[i]!, state, reply[i + 2]!, reply[i + 3]!, reply[i + 1]!, reply[i + 4] || null));
  return jobs;
}

function info(id: string, state: JobState, record: string, attempts: string, at: string, error: string | null): JobInfo<string> {
  const stored = decodeRecord(record);
  return {
    id,
    topic: stored.topic,
    state,
    payload: stored.payload,
    attempts: Number(attempts),
    maxAttempts: stored.maxAttempts,
    at: Number(at),
    ...(error ? { lastError: error } : {}),
  };
}

/** Limits as the reserve script reads them ("rate:interval:concurrency", 0 for none). */
function parseLimits(spec: string): TopicLimits {
  const [rate, intervalMs, concurrency] = spec.split(':').map(Number) as [number, number, number];
  return { ...(rate > 0 ? { rate, intervalMs } : {}), ...(concurrency > 0 ? { concurrency } : {}) };
}
