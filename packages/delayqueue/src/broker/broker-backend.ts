/**
 * What the broker backends (RabbitMQ, Kafka) share: a broker only passes messages along, so what a backend
 * stores beyond delivering is out of reach (see BROKER_SUPPORT), and the delivered messages of each consumed
 * topic wait in a delivery desk that the queue's reserve, ack, retry, bury and extend go through. A subclass
 * says how a job is published, how one is dead-lettered and how a topic is consumed.
 */
import { type Clock, ClosedError } from '@x/core';
import type { Backend, BackendListener, BackendSupport, Delivery, NewJob, TopicWatch } from '../backend.js';
import { UnsupportedOperationError } from '../errors.js';
import type { JobInfo } from '../job.js';
import type { DeliveryDesk, DeskHost } from './delivery-desk.js';
import type { JobMessage } from './job-message.js';

/** Support of a backend that keeps no index of its jobs: delivering only. */
export const BROKER_SUPPORT: BackendSupport = Object.freeze({ ids: false, cancel: false, reschedule: false, get: false, deadLetters: false, counts: false, list: false, pause: false, limits: false, schedules: false });

/** This process's consumer of one topic, as a broker backend drives it. */
export interface TopicSource {
  /** Where its messages wait between the broker and the handlers. */
  readonly desk: DeliveryDesk;
  /** Resolves when messages may be ready (subscribing first if need be); rejects only when `signal` aborts. */
  wait(signal: AbortSignal): Promise<void>;
  /** Takes messages again after `stop()`. */
  resume(): void;
  /** Stops taking messages and hands back the unspent ones; outstanding deliveries stay until close. */
  stop(): Promise<void>;
  /** Lets go of the subscription: what was not acknowledged goes to another consumer. */
  close(): Promise<void>;
}

export abstract class BrokerBackend implements Backend {
  abstract readonly name: string;
  readonly supports = BROKER_SUPPORT;
  protected listener: BackendListener | undefined;
  private readonly sources = new Map<string, { source: TopicSource; users: number }>();
  /** Aborted when close() begins: work a backend still has under way (waiting for topics, say) stops on it. */
  private readonly closing = new AbortController();

  protected constructor(protected readonly clock: Clock) {}

  bind(listener: BackendListener): void {
    this.listener = listener;
  }

  abstract add(jobs: readonly NewJob[]): Promise<boolean[]>;

  /** Publishes `job` to reach its topic at its `dueAt` (at once when that has passed); resolves once the broker has it. */
  protected abstract publish(job: JobMessage): Promise<void>;

  /** Publishes `job` as a dead letter of its topic; resolves once the broker has it. */
  protected abstract publishDead(job: JobMessage, error: string): Promise<void>;

  /** Throws InvalidArgumentError when the broker cannot name a topic's queues. */
  protected abstract assertTopic(topic: string): void;

  /** Starts consuming a topic in this process. */
  protected abstract openSource(topic: string, host: DeskHost): TopicSource;

  /** Longest a message that arrived early is held in memory before it is published again for the rest of its delay, ms. */
  protected abstract readonly maxHoldMs: number;

  /** Releases what the backend opened besides its topic sources (they are closed first). */
  protected abstract closeConnections(): Promise<void>;

  reserve(topic: string, max: number): Promise<Delivery[]> {
    this.assertOpen();
    return Promise.resolve(this.desk(topic)?.reserve(max) ?? []);
  }

  async ack(topic: string, id: string, attempt: number): Promise<boolean> {
    return this.desk(topic)?.ack(id, attempt) ?? false;
  }

  async retry(topic: string, id: string, attempt: number, delay: number, error: string): Promise<boolean> {
    const desk = this.desk(topic);
    if (desk === undefined) return false;
    return desk.settle(id, attempt, (job) => this.publish({ ...job, attempt: attempt + 1, dueAt: this.clock.wallNow() + delay, lastError: error }));
  }

  async bury(topic: string, id: string, attempt: number, error: string): Promise<boolean> {
    const desk = this.desk(topic);
    if (desk === undefined) return false;
    return desk.settle(id, attempt, (job) => this.publishDead(job, error));
  }

  async extend(topic: string, id: string, attempt: number, ttr: number): Promise<boolean> {
    return this.desk(topic)?.extend(id, attempt, ttr) ?? false;
  }

  watch(topic: string): TopicWatch {
    this.assertOpen();
    this.assertTopic(topic);
    let watched = this.sources.get(topic);
    if (watched === undefined) {
      const host: DeskHost = {
        clock: this.clock,
        maxHoldMs: this.maxHoldMs,
        republish: (job) => this.publish(job),
        bury: (job, error) => this.publishDead(job, error),
        due: (t, count) => this.listener?.due(t, count),
        expired: (t, count, dead) => this.listener?.expired(t, count, dead),
        error: (error) => this.listener?.error(error),
        lost: (t, id, attempt, reason) => this.listener?.lost(t, id, attempt, reason),
      };
      watched = { source: this.openSource(topic, host), users: 0 };
      this.sources.set(topic, watched);
    }
    const entry = watched;
    entry.users++;
    entry.source.resume();
    let open = true;
    return {
      wait: (signal) => entry.source.wait(signal),
      close: async () => {
        if (!open) return;
        open = false;
        if (--entry.users === 0) await entry.source.stop();
      },
    };
  }

  cancel(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('cancel', this.name));
  }

  reschedule(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('reschedule', this.name));
  }

  get(): Promise<JobInfo<string> | undefined> {
    return Promise.reject(new UnsupportedOperationError('get', this.name));
  }

  dead(): Promise<JobInfo<string>[]> {
    return Promise.reject(new UnsupportedOperationError('dead', this.name));
  }

  requeue(): Promise<boolean> {
    return Promise.reject(new UnsupportedOperationError('requeue', this.name));
  }

  async close(): Promise<void> {
    if (this.closing.signal.aborted) return;
    this.closing.abort();
    await Promise.all([...this.sources.values()].map(({ source }) => source.close()));
    this.sources.clear();
    await this.closeConnections();
  }

  protected assertOpen(): void {
    if (this.closing.signal.aborted) throw new ClosedError(`the ${this.name} backend`);
  }

  /** Aborted once close() has begun. */
  protected get closeSignal(): AbortSignal {
    return this.closing.signal;
  }

  private desk(topic: string): DeliveryDesk | undefined {
    return this.sources.get(topic)?.source.desk;
  }
}
