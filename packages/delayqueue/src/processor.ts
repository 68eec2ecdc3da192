/**
 * One consumer of one topic: takes ready jobs while it has free slots, runs the handler, and acks, retries or
 * dead-letters each delivery. When nothing is ready it waits on the backend's wake-up, never on a poll loop.
 */
import { type Clock, type ClockTimer, type BackoffPolicy, AbortError, assertNumber, describeThrown, fullJitterBackoff, sleep } from '@x/core';
import { type Backend, type Delivery, type TopicWatch, deliveryKey } from './backend.js';
import type { Job, JobHandler } from './job.js';
import type { Metrics } from './metrics.js';
import type { QueueTracing } from './tracing.js';
import { MAX_DELAY_MS, retryDelay } from './new-job.js';
import { isStaleTick, tickOf } from './stale-ticks.js';

/** What a processor needs from its queue. */
export interface ProcessorHost {
  readonly backend: Backend;
  readonly clock: Clock;
  readonly metrics: Metrics;
  readonly tracing: QueueTracing;
  emit(event: string, payload: unknown): void;
  reportError(error: unknown): void;
}

/** Options of `queue.process`. */
export interface ProcessOptions {
  /** Handlers of this topic running at once in this process (>= 1). Default 1. */
  concurrency?: number;
}

/** Reason given to a handler's signal when its delivery's ttr ends. */
export class DeliveryExpiredError extends AbortError {
  constructor(readonly jobId: string) {
    super(`the time to run of job ${jobId} ran out; it may be delivered again`);
  }
}

/**
 * Reason given to a handler's signal when the broker took its delivery back while it ran (a Kafka partition
 * went to another member at a rebalance; a RabbitMQ channel closed): the job will be delivered again, maybe
 * elsewhere, so the handler should stop. `cause` says why.
 */
export class DeliveryLostError extends AbortError {
  constructor(
    readonly jobId: string,
    cause: unknown,
  ) {
    super(`job ${jobId} was taken back by the broker while its handler ran; it will be delivered again`, { cause });
  }
}

const MAX_ERROR_LENGTH = 1000;
// Backend failures (Redis unreachable) are retried from 50 ms up to 5 s apart, jittered, until close.
const FAILURE_BACKOFF: BackoffPolicy = fullJitterBackoff({ initial: 50, max: 5_000 });

interface Running {
  readonly delivery: Delivery;
  readonly controller: AbortController;
  timer: ClockTimer | undefined;
}

/** A running consumer returned by `queue.process`; `close()` stops it. */
export class Processor {
  private readonly running = new Map<string, Running>();
  private readonly stop = new AbortController();
  private readonly watch: TopicWatch;
  private slotFreed: (() => void) | undefined;
  private readonly loopDone: Promise<void>;
  private idle: (() => void) | undefined;
  private abandoned = false;

  /** Made by the queue, one per topic it processes. */
  constructor(
    private readonly host: ProcessorHost,
    readonly topic: string,
    private readonly handler: JobHandler<unknown>,
    private readonly concurrency: number,
  ) {
    this.watch = host.backend.watch(topic);
    this.loopDone = this.loop();
  }

  /** Handlers running now. */
  get active(): number {
    return this.running.size;
  }

  /** Ids of the jobs whose handlers are running. */
  runningIds(): string[] {
    return [...this.running.values()].map((r) => r.delivery.id);
  }

  /** Stops taking jobs; resolves once the loop and the topic watch have stopped (handlers may still run). */
  async stopTaking(): Promise<void> {
    this.stop.abort(new AbortError('the processor is closing'));
    this.slotFreed?.();
    await this.loopDone;
    await this.watch.close();
  }

  /** Resolves when no handler runs. */
  drained(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = resolve;
    });
  }

  /**
   * Gives up the running handlers (close ran out of time): aborts their signals with `reason`, and whatever they
   * do afterwards writes nothing, as close() promised; their jobs are the backend's to deliver again.
   */
  abandonRunning(reason: unknown): void {
    this.abandoned = true;
    for (const run of this.running.values()) run.controller.abort(reason);
  }

  /** Aborts the handler of one delivery the backend lost (DeliveryLostError); nothing when it is not running. */
  abortDelivery(id: string, attempt: number, reason: unknown): void {
    this.running.get(deliveryKey(id, attempt))?.controller.abort(new DeliveryLostError(id, reason));
  }

  private async loop(): Promise<void> {
    const signal = this.stop.signal;
    let failures = 0;
    while (!signal.aborted) {
      const free = this.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        this.slotFreed = undefined;
        continue;
      }
      try {
        const deliveries = await this.host.backend.reserve(this.topic, free);
        for (const delivery of deliveries) this.start(delivery);
        if (deliveries.length > 0) {
          failures = 0;
          continue;
        }
        await this.watch.wait(signal);
        // Only now: a reserve that works while the wait fails every time must still back off.
        failures = 0;
      } catch (error) {
        if (signal.aborted) break;
        this.host.reportError(error);
        failures++;
        await sleep(FAILURE_BACKOFF.delay(failures), { signal }).catch(() => undefined);
      }
    }
  }

  private start(delivery: Delivery): void {
    const key = deliveryKey(delivery.id, delivery.attempt);
    const run: Running = { delivery, controller: new AbortController(), timer: undefined };
    this.running.set(key, run);
    this.armDeadline(run, delivery.ttr);
    this.host.metrics.recordDelivery(delivery.topic, delivery.lateness);
    this.host.emit('delivered', { id: delivery.id, topic: delivery.topic, attempt: delivery.attempt, lateness: delivery.lateness });
    this.execute(run)
      // execute() settles its own backend failures; what is left (a corrupt stored backoff, say) is reported,
      // never an unhandled rejection. The job stays reserved and comes back after its ttr.
      .catch((error: unknown) => this.host.reportError(error))
      .finally(() => {
        run.timer?.cancel();
        this.running.delete(key);
        this.slotFreed?.();
        if (this.running.size === 0) this.idle?.();
      });
  }

  private armDeadline(run: Running, ms: number): void {
    run.timer?.cancel();
    run.timer = this.host.clock.setTimer(() => run.controller.abort(new DeliveryExpiredError(run.delivery.id)), ms);
  }

  private async execute(run: Running): Promise<void> {
    const { delivery } = run;
    const { backend } = this.host;
    if (await this.staleTick(delivery)) {
      if (await this.settle(() => backend.ack(delivery.topic, delivery.id, delivery.attempt))) {
        const { name, tick } = tickOf(delivery.id)!;
        this.host.emit('missed', { topic: delivery.topic, schedule: name, tick, dropped: true, next: undefined });
      }
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(delivery.payload);
    } catch (error) {
      await this.settle(() => backend.bury(delivery.topic, delivery.id, delivery.attempt, `stored payload is not JSON: ${String(error)}`));
      return;
    }
    const job: Job = {
      id: delivery.id,
      topic: delivery.topic,
      payload,
      attempt: delivery.attempt,
      maxAttempts: delivery.maxAttempts,
      dueAt: delivery.dueAt,
      lateness: delivery.lateness,
      signal: run.controller.signal,
      extend: async (ms = delivery.ttr) => {
        // Checked before the backend sees it: a NaN or an Infinity written as the deadline would keep the job
        // reserved for ever, a negative one would expire it while this handler still runs.
        assertNumber('ms', ms, { min: 1, max: MAX_DELAY_MS, integer: true });
        if (run.controller.signal.aborted) return false;
        const ok = await backend.extend(delivery.topic, delivery.id, delivery.attempt, ms);
        if (ok) this.armDeadline(run, ms);
        return ok;
      },
    };
    let failure: unknown;
    let failed = false;
    const started = performance.now();
    const span = this.host.tracing.attempt(delivery);
    try {
      await (span === undefined ? this.handler(job) : span.run(() => this.handler(job)));
    } catch (error) {
      failed = true;
      failure = error;
    }
    span?.end(failed ? failure : undefined);
    this.host.metrics.recordRun(delivery.topic, performance.now() - started);
    if (this.abandoned) return;
    if (!failed) {
      if (await this.settle(() => backend.ack(delivery.topic, delivery.id, delivery.attempt))) this.host.metrics.count('acked', delivery.topic);
      return;
    }
    // A value that cannot be turned into text still fails its attempt: retried with its backoff like any other.
    const message = describeThrown(failure, MAX_ERROR_LENGTH);
    if (delivery.attempt >= delivery.maxAttempts) {
      if (await this.settle(() => backend.bury(delivery.topic, delivery.id, delivery.attempt, message))) {
        this.host.metrics.count('dead', delivery.topic);
        this.host.emit('dead', { id: delivery.id, topic: delivery.topic, attempt: delivery.attempt, error: message });
      }
      return;
    }
    const delay = retryDelay(delivery.backoff, delivery.attempt);
    if (await this.settle(() => backend.retry(delivery.topic, delivery.id, delivery.attempt, delay, message))) {
      this.host.metrics.count('retried', delivery.topic);
      this.host.emit('retried', { id: delivery.id, topic: delivery.topic, attempt: delivery.attempt, delay, error: message });
    }
  }

  /** A tick of a `missed: 'skip'` schedule taken too late to run (stale-ticks.ts); a failed lookup runs it. */
  private async staleTick(delivery: Delivery): Promise<boolean> {
    try {
      return await isStaleTick(this.host.backend, delivery);
    } catch (error) {
      this.host.reportError(error);
      return false;
    }
  }

  /**
   * Runs a state change for a finished delivery. False when the delivery was stale (its ttr ran out and the job
   * went back to the queue: someone else owns it now) or the backend failed; either way the job is not lost.
   */
  private async settle(change: () => Promise<boolean>): Promise<boolean> {
    try {
      return await change();
    } catch (error) {
      this.host.reportError(error);
      return false;
    }
  }
}
