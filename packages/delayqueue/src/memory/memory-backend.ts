/**
 * The in-process backend: one timer per job on a hierarchical timing wheel (O(1) schedule and cancel), ready
 * lists per topic, and the same state machine as the Redis backend. Nothing survives the process: it is for
 * tests, single-process apps and the demo.
 */
import { type Clock, ClosedError, assertKnownKeys, assertNumber, systemClock } from '@x/core';
import { HierarchicalWheel, type TimerId } from '@x/timewheel';
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
  type TraceCarrier,
} from '../backend.js';
import { DeliveryLimits } from './delivery-limits.js';
import { ScheduleTable } from './schedule-table.js';
import type { JobInfo, JobState } from '../job.js';
import { ReadyList } from './ready-list.js';

/** Options of {@link MemoryBackend}. */
export interface MemoryBackendOptions {
  /** Drives due times and ttr; a `ManualClock` makes tests instant. Default: `systemClock`. */
  clock?: Clock;
  /** How many finished job ids are remembered, so re-adding them is still a no-op. Default 10,000. */
  keepDone?: number;
}

interface MemoryJob {
  readonly id: string;
  readonly topic: string;
  readonly payload: string;
  readonly backoff: string;
  readonly maxAttempts: number;
  readonly ttr: number;
  readonly trace?: TraceCarrier;
  state: Exclude<JobState, 'done'>;
  attempts: number;
  /** Due time (delayed, ready) or end of the current delivery (reserved), on `clock.now()`. */
  at: number;
  /**
   * `at` on the wall clock in whole ms, fixed as the job entered its state (a caller's `runAt` exactly): what get,
   * list and a delivery's dueAt report, and what list sorts by. Converting `at` again at each read would move by
   * a ms between reads on a loaded machine, and pages would not agree.
   */
  wallAt: number;
  timer: TimerId | undefined;
  ticket: number;
  lastError: string | undefined;
  /** The state its topic's counts hold it in (undefined once it left them: done or cancelled). */
  counted: Exclude<JobState, 'done'> | undefined;
}

interface Topic {
  readonly name: string;
  /** Jobs by state, kept as they move: `counts()` reads them without a walk over the jobs. */
  readonly counts: JobCounts;
  readonly ready: ReadyList<MemoryJob>;
  readonly dead: Map<string, MemoryJob>;
  readonly waiters: Set<() => void>;
  /** The topic's limits, when it has some. */
  limits: DeliveryLimits | undefined;
  /** Wakes the topic's consumers when its rate window lets more out. */
  windowTimer: TimerId | undefined;
}

/**
 * Jobs kept in this process's memory.
 *
 * @example
 * ```ts
 * const queue = new DelayQueue({ backend: new MemoryBackend({ clock: new ManualClock() }) });
 * ```
 */
export class MemoryBackend implements Backend {
  readonly name = 'memory';
  readonly supports = FULL_SUPPORT;
  private readonly clock: Clock;
  private readonly wheel: HierarchicalWheel;
  private readonly keepDone: number;
  private readonly jobs = new Map<string, MemoryJob>();
  private readonly topics = new Map<string, Topic>();
  /** Finished ids in finishing order; a Set keeps insertion order, so the oldest is first. */
  private readonly done = new Set<string>();
  /** Topics whose deliveries are paused. */
  private readonly paused = new Set<string>();
  private readonly schedules = new ScheduleTable({
    add: (job) => void this.add([job]),
    dropWaiting: (id) => {
      const job = this.jobs.get(id);
      if (job === undefined || (job.state !== 'delayed' && job.state !== 'ready')) return false;
      this.remove(job);
      return true;
    },
  });
  private listener: BackendListener | undefined;
  private closed = false;

  constructor(options: MemoryBackendOptions = {}) {
    assertKnownKeys('options', options, ['clock', 'keepDone']);
    this.clock = options.clock ?? systemClock;
    this.keepDone = assertNumber('options.keepDone', options.keepDone ?? 10_000, { min: 0, integer: true });
    this.wheel = new HierarchicalWheel({ clock: this.clock });
  }

  bind(listener: BackendListener): void {
    this.listener = listener;
  }

  async add(jobs: readonly NewJob[]): Promise<boolean[]> {
    this.assertOpen();
    // One reading of each clock for the call, as the Redis script's: the jobs of one call with one delay (or one
    // runAt) are due at one instant.
    const now = this.clock.now();
    const wall = this.clock.wallNow();
    return jobs.map((spec) => {
      if (this.jobs.has(spec.id) || this.done.has(spec.id)) return false;
      const job: MemoryJob = { ...spec, state: 'delayed', attempts: 0, at: 0, wallAt: 0, timer: undefined, ticket: 0, lastError: undefined, counted: undefined };
      this.jobs.set(spec.id, job);
      if (spec.runAt === undefined) this.enter(job, 'delayed', now + spec.delay, Math.round(wall + spec.delay));
      else this.enter(job, 'delayed', now + Math.max(0, spec.runAt - wall), spec.runAt);
      return true;
    });
  }

  async cancel(id: string): Promise<boolean> {
    this.assertOpen();
    const job = this.jobs.get(id);
    if (!job || job.state === 'reserved') return false;
    this.remove(job);
    return true;
  }

  async reschedule(id: string, delay: number): Promise<boolean> {
    this.assertOpen();
    const job = this.jobs.get(id);
    if (!job || (job.state !== 'delayed' && job.state !== 'ready')) return false;
    this.leave(job);
    this.delay(job, delay);
    return true;
  }

  async get(id: string): Promise<JobInfo<string> | undefined> {
    this.assertOpen();
    const job = this.jobs.get(id);
    if (job) return this.info(job);
    return this.done.has(id) ? { id, state: 'done', attempts: 0 } : undefined;
  }

  async reserve(topicName: string, max: number): Promise<Delivery[]> {
    this.assertOpen();
    const topic = this.topic(topicName);
    const now = this.clock.now();
    const out: Delivery[] = [];
    if (this.paused.has(topicName)) return out;
    const room = topic.limits?.room(now, topic.counts.reserved, max);
    if (room !== undefined) {
      max = room.allowed;
      if (room.waitMs !== undefined) this.wakeAfter(topic, room.waitMs);
    }
    while (out.length < max) {
      const job = topic.ready.shift();
      if (!job) break;
      const dueAt = job.at;
      const wallDueAt = job.wallAt;
      job.attempts++;
      this.enter(job, 'reserved', now + job.ttr);
      out.push({
        id: job.id,
        topic: job.topic,
        payload: job.payload,
        backoff: job.backoff,
        maxAttempts: job.maxAttempts,
        ttr: job.ttr,
        attempt: job.attempts,
        dueAt: wallDueAt,
        lateness: Math.max(0, now - dueAt),
        ...(job.trace === undefined ? {} : { trace: job.trace }),
      });
    }
    topic.limits?.record(now, out.length);
    return out;
  }

  async ack(_topic: string, id: string, attempt: number): Promise<boolean> {
    const job = this.current(id, attempt);
    if (!job) return false;
    this.leave(job);
    this.moveTo(job, undefined);
    this.jobs.delete(id);
    this.remember(job);
    return true;
  }

  async retry(_topic: string, id: string, attempt: number, delay: number, error: string): Promise<boolean> {
    const job = this.current(id, attempt);
    if (!job) return false;
    job.lastError = error;
    this.leave(job);
    this.delay(job, delay);
    return true;
  }

  async bury(_topic: string, id: string, attempt: number, error: string): Promise<boolean> {
    const job = this.current(id, attempt);
    if (!job) return false;
    job.lastError = error;
    this.kill(job);
    return true;
  }

  async extend(_topic: string, id: string, attempt: number, ttr: number): Promise<boolean> {
    const job = this.current(id, attempt);
    if (!job) return false;
    this.leave(job);
    this.enter(job, 'reserved', this.clock.now() + ttr);
    return true;
  }

  async dead(topicName: string, limit: number): Promise<JobInfo<string>[]> {
    this.assertOpen();
    const out: JobInfo<string>[] = [];
    for (const job of this.topic(topicName).dead.values()) {
      if (out.length >= limit) break;
      out.push(this.info(job));
    }
    return out;
  }

  async requeue(id: string, delay: number): Promise<boolean> {
    this.assertOpen();
    const job = this.jobs.get(id);
    if (!job || job.state !== 'dead') return false;
    this.revive(job, delay);
    return true;
  }

  /**
   * A walk over the topic's jobs in that state, then a sort of those past `after`: fine for the sizes this
   * backend serves (tests, one process), where the Redis backend seeks in its sorted sets.
   */
  async list(topicName: string, state: ListState, after: ListPosition | undefined, limit: number): Promise<BackendPage> {
    this.assertOpen();
    let jobs: MemoryJob[];
    if (state === 'ready') {
      const ready = [...(this.topics.get(topicName)?.ready.current() ?? [])];
      // As on Redis: after the given job, or from the oldest when it is no longer ready.
      const at = after === undefined ? -1 : ready.findIndex((job) => job.id === after.id);
      // One past the page: it says whether more follow.
      jobs = ready.slice(at + 1, at + 2 + limit);
    } else {
      // By the reported (wall) time, then by id; dead ones the other way round.
      const desc = state === 'dead';
      const order = (a: { at: number; id: string }, b: { at: number; id: string }): number => {
        const byKey = a.at !== b.at ? a.at - b.at : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
        return desc ? -byKey : byKey;
      };
      const key = (job: MemoryJob): { at: number; id: string } => ({ at: job.wallAt, id: job.id });
      const source = state === 'dead' ? (this.topics.get(topicName)?.dead.values() ?? []) : this.jobs.values();
      const candidates: MemoryJob[] = [];
      for (const job of source) {
        if (job.topic === topicName && job.state === state && (after === undefined || order(key(job), after) > 0)) candidates.push(job);
      }
      jobs = candidates.sort((a, b) => order(key(a), key(b))).slice(0, limit + 1);
    }
    const last = jobs.length > limit ? jobs[limit - 1] : undefined;
    return { jobs: jobs.slice(0, limit).map((job) => this.info(job)), next: last && { at: last.wallAt, id: last.id } };
  }

  async requeueDead(topicName: string, ids: readonly string[], delay: number): Promise<number> {
    this.assertOpen();
    let moved = 0;
    for (const id of ids) {
      const job = this.topics.get(topicName)?.dead.get(id);
      if (!job) continue;
      this.revive(job, delay);
      moved++;
    }
    return moved;
  }

  async purgeDead(topicName: string, ids: readonly string[]): Promise<number> {
    this.assertOpen();
    let gone = 0;
    for (const id of ids) {
      const job = this.topics.get(topicName)?.dead.get(id);
      if (!job) continue;
      this.leave(job);
      this.moveTo(job, undefined);
      this.jobs.delete(id);
      gone++;
    }
    return gone;
  }

  async pause(topicName: string): Promise<void> {
    this.assertOpen();
    this.paused.add(topicName);
  }

  async resume(topicName: string): Promise<void> {
    this.assertOpen();
    if (!this.paused.delete(topicName)) return;
    const topic = this.topics.get(topicName);
    if (topic) this.wakeSoon(topic);
  }

  async pausedTopics(): Promise<string[]> {
    this.assertOpen();
    return [...this.paused].sort();
  }

  async setLimits(topicName: string, limits: TopicLimits): Promise<void> {
    this.assertOpen();
    const topic = this.topic(topicName);
    topic.limits = limits.rate === undefined && limits.concurrency === undefined ? undefined : new DeliveryLimits(limits);
    this.wakeSoon(topic);
  }

  async limitsOf(): Promise<Map<string, TopicLimits>> {
    this.assertOpen();
    const out = new Map<string, TopicLimits>();
    for (const [name, topic] of this.topics) if (topic.limits) out.set(name, { ...topic.limits.limits });
    return out;
  }

  async putSchedule(topic: string, name: string, definition: string, first: NewJob): Promise<void> {
    this.assertOpen();
    this.schedules.put(topic, name, definition, first);
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
    return this.schedules.due(topic, Math.round(this.clock.wallNow()), limit);
  }

  async stepSchedules(topic: string, steps: readonly ScheduleStep[]): Promise<StepOutcome[]> {
    this.assertOpen();
    return this.schedules.step(topic, steps);
  }

  async scheduleOf(name: string): Promise<StoredSchedule | undefined> {
    this.assertOpen();
    return this.schedules.get(name);
  }

  async countJobs(topics: readonly string[]): Promise<Map<string, JobCounts>> {
    return new Map(topics.map((topic) => [topic, { ...(this.topics.get(topic)?.counts ?? { delayed: 0, ready: 0, reserved: 0, dead: 0 }) }]));
  }

  async topicNames(): Promise<string[]> {
    return [...this.topics.keys()];
  }

  watch(topicName: string): TopicWatch {
    const topic = this.topic(topicName);
    let wake: (() => void) | undefined;
    return {
      wait: (signal) =>
        new Promise<void>((resolve, reject) => {
          if (signal.aborted) return reject(signal.reason);
          if (!topic.ready.isEmpty && this.deliverable(topic)) return resolve();
          const onAbort = (): void => {
            topic.waiters.delete(wake!);
            reject(signal.reason);
          };
          wake = () => {
            topic.waiters.delete(wake!);
            signal.removeEventListener('abort', onAbort);
            resolve();
          };
          topic.waiters.add(wake);
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      close: async () => {
        if (wake) topic.waiters.delete(wake);
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wheel.close();
  }

  /** Whether a consumer of the topic could take a job now: not paused, and its limits leave room. */
  /** Deletes a job that is not reserved (cancel, or a schedule's tick job that still waits). */
  private remove(job: MemoryJob): void {
    this.leave(job);
    this.moveTo(job, undefined);
    this.jobs.delete(job.id);
  }

  private deliverable(topic: Topic): boolean {
    if (this.paused.has(topic.name)) return false;
    const room = topic.limits?.room(this.clock.now(), topic.counts.reserved, 1);
    if (room === undefined) return true;
    if (room.waitMs !== undefined) this.wakeAfter(topic, room.waitMs);
    return room.allowed > 0;
  }

  /** Wakes the topic's waiting consumers if a job is ready and may go out. */
  private wakeSoon(topic: Topic): void {
    if (!topic.ready.isEmpty && this.deliverable(topic)) for (const wake of topic.waiters) wake();
  }

  /** Wakes the topic's consumers in `ms`, when its rate window lets more out (one timer at a time). */
  private wakeAfter(topic: Topic, ms: number): void {
    if (topic.windowTimer !== undefined) return;
    topic.windowTimer = this.wheel.schedule(() => {
      topic.windowTimer = undefined;
      this.wakeSoon(topic);
    }, ms);
  }

  /** A dead job back to delayed, its attempts and last error forgotten. */
  private revive(job: MemoryJob, delay: number): void {
    this.leave(job);
    job.attempts = 0;
    job.lastError = undefined;
    this.delay(job, delay);
  }

  private delay(job: MemoryJob, delay: number): void {
    this.enter(job, 'delayed', this.clock.now() + delay);
  }

  /** Puts a job in `state` with its timer; the job must have left its previous state. */
  private enter(job: MemoryJob, state: 'delayed' | 'reserved', at: number, wallAt = this.toWall(at)): void {
    this.moveTo(job, state);
    job.at = at;
    job.wallAt = wallAt;
    const ms = Math.max(0, at - this.clock.now());
    job.timer = this.wheel.schedule(state === 'delayed' ? () => this.makeReady(job) : () => this.expire(job), ms);
  }

  /** Takes a job out of its current state's structures (timer, ready entry, dead list). */
  private leave(job: MemoryJob): void {
    if (job.timer !== undefined) this.wheel.cancel(job.timer);
    job.timer = undefined;
    job.ticket++;
    if (job.state === 'dead') this.topic(job.topic).dead.delete(job.id);
  }

  private makeReady(job: MemoryJob): void {
    job.timer = undefined;
    this.moveTo(job, 'ready');
    const topic = this.topic(job.topic);
    topic.ready.push(job);
    this.listener?.due(job.topic, 1);
    if (this.deliverable(topic)) for (const wake of topic.waiters) wake();
  }

  private expire(job: MemoryJob): void {
    job.timer = undefined;
    job.ticket++;
    if (job.attempts >= job.maxAttempts) {
      job.lastError = `time to run (${job.ttr} ms) ran out on delivery ${job.attempts}`;
      this.kill(job);
      this.listener?.expired(job.topic, 1, 1);
      return;
    }
    // Due again now, keeping `at` as the moment it became ready again for lateness.
    this.listener?.expired(job.topic, 1, 0);
    this.makeReady(job);
  }

  private kill(job: MemoryJob): void {
    this.leave(job);
    this.moveTo(job, 'dead');
    job.at = this.clock.now();
    job.wallAt = Math.round(this.clock.wallNow());
    this.topic(job.topic).dead.set(job.id, job);
  }

  /**
   * Puts the job in `state`, in its topic's counts too (undefined: out of them, as it leaves the backend). A new
   * job is in no count yet: `counted`, not `state`, says where the counts hold it.
   */
  private moveTo(job: MemoryJob, state: Exclude<JobState, 'done'> | undefined): void {
    const topic = this.topic(job.topic);
    const counts = topic.counts;
    if (job.counted !== undefined) counts[job.counted]--;
    // A slot freed under a concurrency limit: a consumer held back may take the next job.
    if (job.counted === 'reserved' && state !== 'reserved' && topic.limits?.limits.concurrency !== undefined) this.wakeSoon(topic);
    if (state !== undefined) {
      counts[state]++;
      job.state = state;
    }
    job.counted = state;
  }

  private current(id: string, attempt: number): MemoryJob | undefined {
    const job = this.jobs.get(id);
    return job && job.state === 'reserved' && job.attempts === attempt ? job : undefined;
  }

  private remember(job: MemoryJob): void {
    if (this.keepDone === 0) return;
    this.done.add(job.id);
    if (this.done.size > this.keepDone) this.done.delete(this.done.values().next().value!);
  }

  private topic(name: string): Topic {
    let topic = this.topics.get(name);
    if (!topic) {
      topic = {
        name,
        counts: { delayed: 0, ready: 0, reserved: 0, dead: 0 },
        ready: new ReadyList(),
        dead: new Map(),
        waiters: new Set(),
        limits: undefined,
        windowTimer: undefined,
      };
      this.topics.set(name, topic);
    }
    return topic;
  }

  private info(job: MemoryJob): JobInfo<string> {
    return {
      id: job.id,
      topic: job.topic,
      state: job.state,
      payload: job.payload,
      attempts: job.attempts,
      maxAttempts: job.maxAttempts,
      at: job.wallAt,
      ...(job.lastError === undefined ? {} : { lastError: job.lastError }),
    };
  }

  private toWall(monotonic: number): number {
    return Math.round(this.clock.wallNow() + (monotonic - this.clock.now()));
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError('the memory backend');
  }
}
