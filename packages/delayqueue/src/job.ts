/** The shapes users see: what `add` accepts, what a handler receives and what `get` reports. */

/** Where a job is in its life. */
export type JobState = 'delayed' | 'ready' | 'reserved' | 'done' | 'dead';

/** How long to wait before a failed job runs again. */
export interface RetryBackoff {
  /** `fixed`: always `delay`; `exponential`: `delay * 2^(retry-1)`, capped at `maxDelay`. */
  type: 'fixed' | 'exponential';
  /** Delay before the first retry, ms (>= 0; > 0 for exponential). */
  delay: number;
  /** Upper bound of any retry delay, ms. Default: 1 hour. */
  maxDelay?: number;
  /** Spread retries uniformly over [0, computed delay] ("full jitter") so failed jobs do not retry in waves. Default: false. */
  jitter?: boolean;
}

/** Options of `queue.add`. */
export interface AddOptions {
  /** Run after this many ms (>= 0). Default 0. Exclusive with `runAt`. */
  delay?: number;
  /** Run at this wall-clock time (a Date or epoch ms); a past time means now. Exclusive with `delay`. */
  runAt?: Date | number;
  /**
   * The job's id. Adding a job whose id already exists (or finished recently, see `keepDone`) adds nothing and
   * returns the same id, so a retried `add` cannot create a duplicate. Default: a random 96-bit id.
   */
  id?: string;
  /** Time to run, ms: a delivery not acknowledged (or extended) within it is delivered again. Default: the queue's. */
  ttr?: number;
  /** Deliveries before the job is dead-lettered (>= 1). Default: the queue's. */
  attempts?: number;
  /** Delay between a failed delivery and the next. Default: the queue's. */
  backoff?: RetryBackoff;
}

/** A job as its handler receives it. */
export interface Job<T = unknown> {
  readonly id: string;
  readonly topic: string;
  /** A fresh copy of the payload (it travelled as JSON). */
  readonly payload: T;
  /** 1 for the first delivery, 2 for the second, ... */
  readonly attempt: number;
  /** Deliveries allowed in all. */
  readonly maxAttempts: number;
  /** Epoch ms at which the job was due. */
  readonly dueAt: number;
  /** How late the delivery was, ms, measured by the backend's clock (0 when on time). */
  readonly lateness: number;
  /**
   * Aborted when this delivery's time to run ends (the job may now be delivered to someone else) or when the
   * queue closes past its deadline. Pass it to the work the handler does.
   */
  readonly signal: AbortSignal;
  /**
   * Pushes this delivery's deadline to now + `ms` (default: the job's ttr). Resolves false when the delivery was
   * already lost (its ttr ran out and the job went back to the queue).
   */
  extend(ms?: number): Promise<boolean>;
}

/** A snapshot of a job, from `queue.get` or `queue.dead`. */
export interface JobInfo<T = unknown> {
  readonly id: string;
  /** Absent for `done` jobs: only the id of a finished job is kept. */
  readonly topic?: string;
  readonly state: JobState;
  /** Absent for `done` jobs (their payload is deleted; only the fact remains, see `keepDone`). */
  readonly payload?: T;
  /** Deliveries so far. */
  readonly attempts: number;
  readonly maxAttempts?: number;
  /** Epoch ms when the job is (or was) due; for reserved jobs, when the current delivery's ttr ends. */
  readonly at?: number;
  /** For dead jobs: why the last delivery failed. */
  readonly lastError?: string;
}

/** A handler: resolve to acknowledge (the job is done), throw to retry or, after the last attempt, dead-letter. */
export type JobHandler<T = unknown> = (job: Job<T>) => Promise<void> | void;
