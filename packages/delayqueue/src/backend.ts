/**
 * What a storage backend provides. The queue (queue.ts) validates input, runs handlers, retries and counts; a
 * backend only stores jobs and moves them between states atomically. Times are the backend's own clock in
 * epoch ms (Redis uses the server's clock, so processes with skewed clocks agree).
 */
import type { JobInfo } from './job.js';

/** A job about to be stored: validated and serialized by the queue. */
/** A job's stored trace context: the propagator's headers (`traceparent`, `tracestate`), as text. */
export type TraceCarrier = Readonly<Record<string, string>>;

export interface NewJob {
  readonly id: string;
  /** True when the queue drew the id (96 random bits): no existing job can have it, so a backend may skip the check. */
  readonly idGenerated: boolean;
  readonly topic: string;
  /** JSON text. */
  readonly payload: string;
  /** ms from now (>= 0). */
  readonly delay: number;
  /**
   * Epoch ms the caller asked for with `runAt` (whole ms, rounded up), when it is still ahead: a backend makes
   * the job due at exactly this instant instead of `delay` after its own later clock reading.
   */
  readonly runAt?: number;
  readonly maxAttempts: number;
  readonly ttr: number;
  /** Serialized retry backoff (new-job.ts encodeBackoff) the queue reads back at delivery. */
  readonly backoff: string;
  /** The trace context active at `add`, when tracing records: stored with the job, handed back with each delivery. */
  readonly trace?: TraceCarrier;
}

/** One delivery of a job, as a backend hands it out from `reserve`. */
export interface Delivery {
  readonly id: string;
  readonly topic: string;
  readonly payload: string;
  readonly backoff: string;
  readonly maxAttempts: number;
  readonly ttr: number;
  /** Delivery number (1-based); also the token that ack/retry/extend present, so a stale delivery cannot ack. */
  readonly attempt: number;
  /** When the job was due (epoch ms, backend clock). */
  readonly dueAt: number;
  /** Backend clock at reservation minus `dueAt`, >= 0. */
  readonly lateness: number;
  /** The trace context stored at `add`, if any. */
  readonly trace?: TraceCarrier;
}

/** @internal Key of one delivery of a job (its id and attempt), for the maps that track deliveries. */
export function deliveryKey(id: string, attempt: number): string {
  return `${id}\u0000${attempt}`;
}

/** Things a backend tells the queue about (moves happen inside the backend). */
export interface BackendListener {
  /** `count` jobs became ready (were due). */
  due(topic: string, count: number): void;
  /** `count` deliveries ran out of ttr; `dead` of them had no attempts left and were dead-lettered. */
  expired(topic: string, count: number, dead: number): void;
  /** A background failure (a mover's script failed, a connection dropped); the backend keeps going. */
  error(error: unknown): void;
  /**
   * A delivery handed out by `reserve` is no longer this consumer's (its Kafka partition went to another member
   * at a rebalance): its handler's signal aborts with `reason`, and its ack would be refused.
   */
  lost(topic: string, id: string, attempt: number, reason: unknown): void;
}

/** A consumer's attachment to one topic: it keeps the topic's jobs moving and wakes the consumer. */
export interface TopicWatch {
  /** Resolves when jobs may be ready (or after a while anyway); rejects only when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void>;
  /** Stops moving and waking for this consumer. */
  close(): Promise<void>;
}

/**
 * What a backend can do beyond delivering jobs. A store (memory, Redis) keeps an index of jobs and can do all
 * of it; a broker (RabbitMQ, Kafka) only passes messages along, so it cannot find a job by id once sent. The
 * queue throws `UnsupportedOperationError` for what its backend cannot do, before anything is written.
 */
export interface BackendSupport {
  /** `add` with your own `id`, deduplicated: adding an id that exists writes nothing. */
  readonly ids: boolean;
  /** `cancel`. */
  readonly cancel: boolean;
  /** `reschedule`. */
  readonly reschedule: boolean;
  /** `get`. */
  readonly get: boolean;
  /** `dead` and `requeue` (dead letters are still kept where this is false: see the backend's docs). */
  readonly deadLetters: boolean;
  /** `counts`: jobs by state per topic, for every worker on the backend. */
  readonly counts: boolean;
  /** `list`: a topic's jobs in one state, page by page. */
  readonly list: boolean;
  /** `pause` and `resume` of a topic for every worker on the backend, and `pausedTopics`. */
  readonly pause: boolean;
  /** `setLimits` and `limits`: a topic's delivery rate and jobs at once, for every worker on the backend. */
  readonly limits: boolean;
  /** `schedule`, `schedules` and `unschedule`: recurring jobs, one job per tick for every worker on the backend. */
  readonly schedules: boolean;
}

/** Limits on a topic's deliveries, for every worker on the backend together. */
export interface TopicLimits {
  /** At most this many deliveries of the topic within any `intervalMs` (a sliding window), retries included. */
  readonly rate?: number;
  /** The window of `rate`, ms (with `rate` only). Default 1,000. */
  readonly intervalMs?: number;
  /** At most this many jobs of the topic reserved (running in handlers) at once. */
  readonly concurrency?: number;
}

/** Support of a backend that keeps an index of its jobs: everything. */
export const FULL_SUPPORT: BackendSupport = Object.freeze({
  ids: true,
  cancel: true,
  reschedule: true,
  get: true,
  deadLetters: true,
  counts: true,
  list: true,
  pause: true,
  limits: true,
  schedules: true,
});

/** A state `list` pages through (done jobs keep no more than their id). */
export type ListState = 'delayed' | 'ready' | 'reserved' | 'dead';

/**
 * Where a page of `list` ended: the last job's sort key (`at` on the backend's own scale, which may differ from
 * the `at` a JobInfo reports) and its id. The next page starts after it, whether or not that job is still there.
 */
export interface ListPosition {
  readonly at: number;
  readonly id: string;
}

/** A page of `Backend.list`: the jobs, and where the page ended (undefined when the state holds no more). */
export interface BackendPage {
  readonly jobs: JobInfo<string>[];
  readonly next: ListPosition | undefined;
}

/**
 * A recurring job as a backend keeps it. The queue works out its ticks; the backend stores it and adds each
 * tick's job once, however many workers step it.
 */
export interface StoredSchedule {
  /** Unique on the backend (across topics). */
  readonly name: string;
  readonly topic: string;
  /** The rule, the job each tick adds and the missed-tick policy, as the queue serialized them. */
  readonly definition: string;
  /** The tick whose job is stored now (epoch ms, the backend's clock); its id is `tickJobId(name, next)`. */
  readonly next: number;
}

/** One step of a schedule whose stored tick `from` is due: the next tick's job goes in, if nobody stepped it first. */
export interface ScheduleStep {
  readonly name: string;
  /** The tick the caller saw due; the step happens only while the schedule still stands there. */
  readonly from: number;
  /** The next tick's job (`runAt` is the tick), or undefined when the rule has no more ticks: the schedule ends. */
  readonly job: NewJob | undefined;
  /** Also delete `from`'s job if it still waits (delayed or ready): it was missed, and the schedule skips missed ticks. */
  readonly dropFrom: boolean;
}

/** What a step did: see `Backend.stepSchedules`. */
export type StepOutcome = 'stepped' | 'dropped' | 'lost';

/** A topic's schedules whose tick is due, as `Backend.dueSchedules` reads them. */
export interface DueSchedules {
  /** The backend's clock at the reading, epoch ms. */
  readonly now: number;
  /** At most `limit`, earliest tick first. */
  readonly due: StoredSchedule[];
  /** The earliest tick of the topic's other schedules (epoch ms), undefined when it has none. */
  readonly nextAt: number | undefined;
  /**
   * Read again within this many ms even if nothing falls due: other processes may put schedules (a shared store).
   * Undefined when only this process can (memory).
   */
  readonly pollMs: number | undefined;
}

/** The id of the job a schedule adds for `tick` (epoch ms): the name and the tick's UTC time, e.g. `nightly@2026-12-08T01:00:00.000Z`. */
export function tickJobId(name: string, tick: number): string {
  return `${name}@${new Date(tick).toISOString()}`;
}

/** The storage a {@link DelayQueue} runs on. */
export interface Backend {
  /** A short name for messages ('memory', 'redis'). */
  readonly name: string;
  /** What it can do beyond delivering jobs. */
  readonly supports: BackendSupport;
  /** Called once by the queue that owns this backend (a second queue on the same backend is refused). */
  bind(listener: BackendListener): void;
  /** Stores jobs; for each, true when it was new, false when its id already existed (nothing written). */
  add(jobs: readonly NewJob[]): Promise<boolean[]>;
  /** Deletes a delayed, ready or dead job; false when it is reserved (in a handler), done or unknown. */
  cancel(id: string): Promise<boolean>;
  /** Moves a delayed or ready job to `delay` ms from now; false in any other state. */
  reschedule(id: string, delay: number): Promise<boolean>;
  get(id: string): Promise<JobInfo<string> | undefined>;
  /** Takes up to `max` ready jobs of `topic` and reserves each for its ttr. */
  reserve(topic: string, max: number): Promise<Delivery[]>;
  /** Finishes a delivery: the job is done. False when the delivery was no longer current. */
  ack(topic: string, id: string, attempt: number): Promise<boolean>;
  /** Puts a failed delivery back as delayed by `delay` ms. False when the delivery was no longer current. */
  retry(topic: string, id: string, attempt: number, delay: number, error: string): Promise<boolean>;
  /** Dead-letters a failed delivery. False when the delivery was no longer current. */
  bury(topic: string, id: string, attempt: number, error: string): Promise<boolean>;
  /** Sets the current delivery's deadline to now + `ttr`. False when the delivery was no longer current. */
  extend(topic: string, id: string, attempt: number, ttr: number): Promise<boolean>;
  /** Dead jobs of `topic`, oldest first. */
  dead(topic: string, limit: number): Promise<JobInfo<string>[]>;
  /** Moves a dead job back to delayed (attempts reset), due in `delay` ms. False when it is not dead. */
  requeue(id: string, delay: number): Promise<boolean>;
  /** Starts keeping `topic` moving for a consumer. */
  watch(topic: string): TopicWatch;
  /**
   * How many jobs of each topic wait in each state, for the metrics (read when they are collected). Stores only:
   * a broker cannot count what its queues and topics hold per job state.
   */
  countJobs?(topics: readonly string[]): Promise<Map<string, JobCounts>>;
  /** Every topic jobs were added to (by any worker), for `counts()` without a topic. Stores only, as countJobs. */
  topicNames?(): Promise<string[]>;
  /**
   * Up to `limit` jobs of `topic` in `state` after `after` (from the first when undefined): delayed in due order,
   * ready in the order consumers take them, reserved by the end of their ttr, dead newest first. Stores only.
   */
  list?(topic: string, state: ListState, after: ListPosition | undefined, limit: number): Promise<BackendPage>;
  /** Moves those of `ids` that are dead jobs of `topic` back to delayed (attempts reset), due in `delay` ms; how many moved. */
  requeueDead?(topic: string, ids: readonly string[], delay: number): Promise<number>;
  /** Deletes those of `ids` that are dead jobs of `topic`; how many went. */
  purgeDead?(topic: string, ids: readonly string[]): Promise<number>;
  /** Stops deliveries of `topic` for every worker on the backend; adds and moves go on. Stores only. */
  pause?(topic: string): Promise<void>;
  /** Lets deliveries of a paused `topic` go on, waking its consumers. */
  resume?(topic: string): Promise<void>;
  /** Topics paused now, sorted. */
  pausedTopics?(): Promise<string[]>;
  /** Sets `topic`'s limits (validated, `intervalMs` filled in when `rate` is set); `{}` removes them. */
  setLimits?(topic: string, limits: TopicLimits): Promise<void>;
  /** Every topic's limits. */
  limitsOf?(): Promise<Map<string, TopicLimits>>;
  /**
   * Stores the schedule `name` (replacing one of that name, on any topic: the replaced one's stored tick job is
   * deleted if it still waits) and adds `first`, its first tick's job (`runAt` is the tick). One atomic step.
   */
  putSchedule?(topic: string, name: string, definition: string, first: NewJob): Promise<void>;
  /** Deletes the schedule and its stored tick job if that still waits; false when there was none. */
  removeSchedule?(name: string): Promise<boolean>;
  /** Every schedule, by name. */
  listSchedules?(): Promise<StoredSchedule[]>;
  /** Up to `limit` schedules of `topic` whose stored tick is due. */
  dueSchedules?(topic: string, limit: number): Promise<DueSchedules>;
  /**
   * Calls `changed` when a schedule of `topic` is put by any process (a shared store); returns the way to stop.
   * Without it, drivers find other processes' schedules only by reading every `pollMs`.
   */
  watchSchedules?(topic: string, changed: () => void): () => void;
  /**
   * Steps schedules of `topic` (see ScheduleStep); for each, 'stepped', 'dropped' (stepped, and `from`'s job was
   * deleted as asked), or 'lost' (another worker stepped it first, or it was replaced or removed).
   */
  stepSchedules?(topic: string, steps: readonly ScheduleStep[]): Promise<StepOutcome[]>;
  /** The schedule of that name, or undefined. */
  scheduleOf?(name: string): Promise<StoredSchedule | undefined>;

  /** Releases what the backend opened (never the caller's own connections). */
  close(): Promise<void>;
}

/** Jobs of one topic by state, as `Backend.countJobs` reports them. */
export type JobCounts = Record<'delayed' | 'ready' | 'reserved' | 'dead', number>;
